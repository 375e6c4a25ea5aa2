"""PPO tokens/s at 1 and more data-parallel ranks, each launched with ``torchrun`` in the same run (issue 18).

    python -m benchmarks.throughput.distributed [--ranks 1 2] [--device cpu|cuda] [--num-envs 16] [--updates 3]

Every rank rolls out ``--num-envs`` episodes and the gradients are averaged over all of them
(:mod:`agents.distributed`), so N ranks train on N times the episodes per update: the figure is generated tokens/s
of all ranks together, timed on rank 0 over ``--updates`` updates after one untimed warm-up. On a 2-core CPU
expect little from 2 ranks (they share the cores; each runs one torch thread); on N GPUs, one rank per GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]
ENV_KWARGS = {"difficulty": 2, "max_new_tokens": 32}


def _worker(out: str, device: str, num_envs: int, updates: int, model: str) -> None:
    import torch

    from agents.ppo import PPO

    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    ppo = PPO(model, "TextGen-Translate-v0", num_envs=num_envs, batch_size=num_envs, n_epochs=4, seed=0,
              device=device, env_kwargs=ENV_KWARGS)
    ppo.learn(1)  # warm-up update, untimed
    before = ppo.num_timesteps
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(updates):
        ppo.learn(1, reset_num_timesteps=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if ppo.parallel.is_main:
        tokens = ppo.num_timesteps - before
        Path(out).write_text(json.dumps({"ranks": ppo.parallel.world_size, "tokens": tokens, "seconds": seconds}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(ranks: int, device: str, num_envs: int, updates: int, model: str) -> dict[str, float]:
    """One ``torchrun --nproc_per_node ranks`` run; returns its tokens, seconds and tokens/s."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks), "--master_port",
                   str(_free_port()), "-m", "benchmarks.throughput.distributed", "--worker", str(out), "--device",
                   device, "--num-envs", str(num_envs), "--updates", str(updates), "--model", model]
        threads = max(1, (os.cpu_count() or 1) // ranks) if device == "cpu" else 1
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)  # keep what is there
        env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(threads)}
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
        if result.returncode != 0 or not out.is_file():
            raise SystemExit(f"torchrun with {ranks} ranks failed:\n{result.stderr[-3000:]}")
        figures = json.loads(out.read_text())
    figures["tokens_per_s"] = figures["tokens"] / figures["seconds"]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Measure each rank count in turn and print one line each, and the ratio to the first."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput.distributed", description=__doc__)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="world sizes to measure")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (one GPU per rank)")
    parser.add_argument("--num-envs", type=int, default=16, help="episodes per rank per update")
    parser.add_argument("--updates", type=int, default=3, help="timed updates (after one untimed)")
    parser.add_argument("--model", default="tiny", help="a named config or a Hugging Face folder")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        _worker(args.worker, args.device, args.num_envs, args.updates, args.model)
        return 0
    rows = [measure(r, args.device, args.num_envs, args.updates, args.model) for r in args.ranks]
    print(f"PPO data-parallel, {args.model}, {args.num_envs} episodes per rank per update, device {args.device}")
    for row in rows:
        ratio = row["tokens_per_s"] / rows[0]["tokens_per_s"]
        print(f"ranks {row['ranks']}: {row['tokens_per_s']:>9.0f} generated tokens/s "
              f"({row['tokens']} tokens in {row['seconds']:.2f} s), {ratio:.2f}x")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
