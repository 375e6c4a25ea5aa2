"""Training tokens per second: our PPO against stock Stable-Baselines3 PPO, or against an older commit of itself.

    python -m benchmarks.throughput.train [--num-envs 16] [--updates 6] [--device cpu] [--model tiny]
        [--no-peer] [--peak-tflops 989]
    python -m benchmarks.throughput.train --preset multi30k-ppo [--compare 977ef86] [--threads 1 2] [--repeats 3]
        [--precision fp32 bf16] [--ranks 1 2]

**Presets** (issue 14's settings, any RLHF trainer can run them): GPT-2 with 2 layers of 128 (4 heads, dropout 0,
random init), a 4,096-id byte-level BPE trained on the first 2,000 Multi30k en-de pairs, those pairs as a
``.tsv`` dataset, 64-token prompts, 32-token responses, 64 episodes per update, chrF reward. ``multi30k-ppo``: PPO
with the value baseline (``n_epochs=4, kl_coef=0.05, vf_coef=0.1``); ``multi30k-group``: the leave-one-out
baseline (``group_size=8, n_epochs=1, kl_coef=0, vf_coef=0``). Each side runs in a fresh interpreter
(``_train_worker.py``) whose ``PYTHONPATH`` is this checkout or, with ``--compare REV``, a ``git worktree`` of
``REV``, interleaved and repeated; printed: generated tokens/s (median and spread), the time split, the FLOP rate
of the whole update and of the optimisation phase, and its utilisation of the matmul peak measured in the same run
(a 2048x2048 matmul in fp32 and bf16). ``--ranks 2`` also times this checkout as two ``torchrun`` data-parallel
ranks sharing the threads (each with half the envs, half the minibatch and half the threads: the same update on
the same cores). Needs ``../shared/data`` (or ``--data-dir``).

Both train the same GPT-2 (``"tiny"`` by default) on TextGen-Translate-v0 (built-in corpus, 32-token cap, chrF
reward, 4 epochs, one minibatch of all the episodes of a rollout). Ours: device rollouts with a KV cache, one-pass
re-scoring and the reference model's KL. Stock SB3:
``PPO(agents.sb3_policy.TransformerActorCriticPolicy, SB3VecEnv(...))``,
which re-encodes the whole prefix at every token. A token is one env step. Printed: tokens/s, the ratio, and our
breakdown (rollout incl. scoring, reference re-scoring, optimisation).

On a GPU (``--device cuda --model gpt2-small-random --num-envs 1024 --no-peer``) it also reports rollout tokens/s
and the model FLOPs our PPO ran per second: every position the transformer processed (prefill, cached decodes,
re-scoring, training passes; padding included, as the hardware computes it) times ``2 * params`` for a forward
pass and ``6 * params`` for a forward with its backward, the LM head counted only at the positions it ran
(:class:`~benchmarks.throughput._train_worker.FlopCounter`, shared with the presets). With
``--peak-tflops`` (the device's dense bf16 peak, e.g. 989 for an H200 SXM) it prints the model-FLOPs
utilisation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import PPO as SB3PPO

import textgym  # noqa: F401
from agents.ppo import PPO
from agents.sb3_policy import TransformerActorCriticPolicy
from benchmarks.data import default_data_dir
from benchmarks.throughput._train_worker import FlopCounter
from textgym.vector import SB3VecEnv

__all__ = ["main", "measure"]

ENV_ID = "TextGen-Translate-v0"
ENV_KWARGS = {"max_new_tokens": 32}


def measure(num_envs: int = 16, updates: int = 6, device: str = "cpu", model: str = "tiny", peer: bool = True,
            peak_tflops: float | None = None) -> dict[str, float]:
    """Tokens/s of both trainers (the peer only with ``peer``), our time breakdown and model FLOP rate."""
    torch.manual_seed(0)
    ours = PPO(model, ENV_ID, num_envs=num_envs, device=device, seed=0, n_epochs=4, batch_size=num_envs,
               env_kwargs=ENV_KWARGS)
    ours.learn(num_envs)  # warm-up update, untimed
    ours.history.clear()
    counters = [FlopCounter(m.lm) for m in (ours.policy, ours.reference) if m is not None]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start, before = time.perf_counter(), ours.num_timesteps
    for _ in range(updates):
        ours.history.append(ours._update())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    tokens = ours.num_timesteps - before
    breakdown = {k: sum(h[f"time/{k}_s"] for h in ours.history) for k in ("rollout", "rescore", "optimise")}
    total = sum(breakdown.values())
    flops = sum(c.flops() for c in counters)
    result = {"ours_tokens_per_s": tokens / elapsed, "rollout_tokens_per_s": tokens / breakdown["rollout"],
              "model_tflops_per_s": flops / elapsed / 1e12, "params": float(counters[0].params),
              **{f"share_{k}": v / total for k, v in breakdown.items()}}
    if peak_tflops:
        result["mfu"] = result["model_tflops_per_s"] / peak_tflops
    if peer:
        venv = SB3VecEnv(gym.make_vec(ENV_ID, num_envs=num_envs, device=device, **ENV_KWARGS))
        n_steps = 32  # tokens per env per rollout: about one episode, like one of our updates
        sb3 = SB3PPO(TransformerActorCriticPolicy, venv, n_steps=n_steps, batch_size=n_steps * num_envs // 2,
                     n_epochs=4, seed=0, device=device, policy_kwargs={"model": model})
        sb3.learn(n_steps * num_envs)  # warm-up, untimed
        start = time.perf_counter()
        sb3.learn(n_steps * num_envs * updates, reset_num_timesteps=False)
        result["sb3_tokens_per_s"] = n_steps * num_envs * updates / (time.perf_counter() - start)
        result["ratio"] = result["ours_tokens_per_s"] / result["sb3_tokens_per_s"]
    return result


_SETTING = {"pairs": 2000, "vocab_size": 4096, "n_layer": 2, "n_head": 4, "n_embd": 128, "num_envs": 64,
            "max_prompt_tokens": 64, "max_new_tokens": 32}
PRESETS = {
    "multi30k-ppo": {**_SETTING, "ppo": {"n_steps": 1, "batch_size": 64, "n_epochs": 4, "kl_coef": 0.05,
                                         "vf_coef": 0.1}},
    "multi30k-group": {**_SETTING, "ppo": {"baseline": "group", "group_size": 8, "n_steps": 1, "batch_size": 64,
                                           "n_epochs": 1, "kl_coef": 0.0, "vf_coef": 0.0}},
}


def matmul_peak(threads: int, size: int = 2048, repeats: int = 20, precisions: Sequence[str] = ("fp32", "bf16")
                ) -> dict[str, float]:
    """GFLOP/s of a ``size``-square matmul in each of ``precisions`` (fp32, bf16) on the CPU with ``threads`` threads.

    Time only the precisions a side ran in: on a CPU without native bf16 the bf16 product is emulated (1.3 GFLOP/s
    on an AVX2 AMD Zen 3), and 20 of them take minutes.
    """
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = {}
        for name in precisions:
            dtype = dtypes[name]
            a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
            a @ b
            start = time.perf_counter()
            for _ in range(repeats):
                a @ b
            out[name] = 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9
        return out
    finally:
        torch.set_num_threads(previous)


def _worktree(commit: str) -> Path:
    """A detached ``git worktree`` of ``commit`` under the system temp folder (made once, reused)."""
    root = Path(__file__).resolve().parents[2]
    sha = subprocess.run(["git", "rev-parse", "--short=12", commit], cwd=root, check=True, capture_output=True,
                         text=True).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"textgym-{sha}"
    if not (tree / "textgym").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(tree), sha], cwd=root, check=True,
                       capture_output=True)
    return tree


def run_side(tree: Path, preset: dict[str, Any]) -> dict[str, Any]:
    """One timed run of ``preset`` with the code of ``tree``.

    A fresh interpreter, or ``preset["ranks"]`` of them launched by ``torchrun``, each with its share of the threads.
    """
    worker = Path(__file__).with_name("_train_worker.py")
    ranks = preset.get("ranks", 1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": str(max(1, preset["threads"] // ranks))}
    launcher = [sys.executable]
    if ranks > 1:
        from benchmarks.throughput.distributed import _free_port

        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(ranks), "--master_port", str(_free_port())]
    result = subprocess.run([*launcher, str(worker), json.dumps(preset)], env=env, capture_output=True,
                            text=True, check=False, timeout=1800)
    if result.returncode:
        raise RuntimeError(f"the timed run of {tree} failed:\n{result.stderr[-3000:]}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    if Path(out["textgym"]) != tree.resolve():
        raise RuntimeError(f"the run meant for {tree} imported textgym from {out['textgym']}")
    return out


def compare(preset_name: str, commit: str | None, threads: list[int], repeats: int, updates: int,
            data_dir: Path, precisions: list[str] | None = None, ranks: list[int] | None = None) -> None:
    """Time ``preset_name`` with this checkout (and ``commit``), interleaved, ``repeats`` times per thread count.

    ``precisions``: this checkout's PPO ``precision`` settings to time (each a side of its own; an older commit
    runs its only one). ``ranks``: this checkout's data-parallel rank counts to time at each thread count that
    they divide (each a side; ``torchrun``, the threads shared out; the older commit runs one process).
    """
    here = Path(__file__).resolve().parents[2]
    ranks = ranks or [1]
    names: list[str | None] = list(precisions) if precisions else [None]
    trees: dict[str, tuple[Path, str | None, int]] = {}
    for precision in names:
        for count in ranks:
            label = ", ".join(filter(None, [precision, f"{count} ranks" if count > 1 else None]))
            trees[f"this ({label})" if label else "this checkout"] = (here, precision, count)
    sides = list(trees)
    if commit:
        trees[commit] = (_worktree(commit), None, 1)
    work = Path(tempfile.mkdtemp(prefix="textgym-train-bench-"))
    for count in threads:
        preset = {**PRESETS[preset_name], "threads": count, "updates": updates, "data_dir": str(data_dir),
                  "work_dir": str(work)}
        timed = {name: side for name, side in trees.items() if count % side[2] == 0}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in timed}
        for _ in range(repeats):
            for name, (tree, precision, world) in timed.items():
                ppo = {**preset["ppo"], **({"precision": precision} if precision else {})}
                runs[name].append(run_side(tree, {**preset, "ppo": ppo, **({"ranks": world} if world > 1 else {})}))
        # the peaks of the precisions the sides resolved to ("auto" is fp32 on a CPU)
        peak = matmul_peak(count, precisions=sorted({r["precision"] for done in runs.values() for r in done}))
        print(f"{preset_name}, {count} thread(s); matmul peak "
              f"{', '.join(f'{name} {rate:.0f}' for name, rate in peak.items())} GFLOP/s")
        medians = {}
        for name, results in runs.items():
            speeds = sorted(r["tokens_per_s"] for r in results)
            medians[name] = statistics.median(speeds)
            best = max(results, key=lambda r: r["tokens_per_s"])
            split = best["split"]
            total = sum(split.values())
            train_rate = statistics.median(r["optimise_flops_per_s"] for r in results) / 1e9
            used = best["precision"]  # as resolved: "auto" is fp32 on a CPU
            peak_used = peak[used]
            print(f"  {name:>14}: {medians[name]:8.0f} tokens/s (runs {', '.join(f'{v:.0f}' for v in speeds)}); "
                  f"rollout {split['rollout'] / total:.0%}, re-scoring {split['rescore'] / total:.0%}, optimise "
                  f"{split['optimise'] / total:.0%}; optimisation {train_rate:.1f} GFLOP/s = "
                  f"{train_rate / peak_used:.0%} of the {used} peak")
        if commit:
            for name in (side for side in sides if side in runs):
                print(f"  {name} speed-up over {commit}: {medians[name] / medians[commit]:.2f}x")


def rollout_vs_generate(preset_name: str, threads: int, repeats: int, data_dir: Path) -> dict[str, float]:
    """Generated tokens/s of our sampled rollout and of ``model.generate`` on the same model, prompts and batch.

    Ours includes the env steps and the scoring; ``generate`` samples with its KV cache (no top-k). Both in this
    process, interleaved ``repeats`` times; medians.
    """
    import gzip

    from transformers import GPT2Config, GPT2LMHeadModel

    from agents.policy import TransformerPolicy
    from agents.rollout import collect_rollout
    from textgym.tokenization import train_bpe_tokenizer

    preset = PRESETS[preset_name]
    torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix="textgym-generate-bench-"))
    with gzip.open(data_dir / "multi30k" / "train.en.gz", "rt", encoding="utf-8") as en, \
            gzip.open(data_dir / "multi30k" / "train.de.gz", "rt", encoding="utf-8") as de:
        pairs = [(s.strip(), t.strip()) for s, t, _ in zip(en, de, range(preset["pairs"]), strict=False)]
    (work / "pairs.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    tokenizer = train_bpe_tokenizer([x for pair in pairs for x in pair], work / "bpe.json",
                                    vocab_size=preset["vocab_size"])
    P, T, N = preset["max_prompt_tokens"], preset["max_new_tokens"], preset["num_envs"]
    envs = gym.make_vec(ENV_ID, num_envs=N, autoreset_mode="Disabled", dataset=str(work / "pairs.tsv"),
                        tokenizer=tokenizer, max_prompt_tokens=P, max_new_tokens=T, scoring_workers=0)
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=P + T, n_layer=preset["n_layer"],
                                    n_head=preset["n_head"], n_embd=preset["n_embd"], resid_pdrop=0.0,
                                    embd_pdrop=0.0, attn_pdrop=0.0, eos_token_id=tokenizer.eos_token_id,
                                    pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id))
    policy = TransformerPolicy(lm, len(tokenizer)).eval()
    generator = torch.Generator().manual_seed(0)
    envs.reset(seed=0)
    rates: dict[str, list[float]] = {"ours": [], "generate": []}
    for _ in range(repeats):
        start = time.perf_counter()
        rollout = collect_rollout(policy, envs, generator)
        rates["ours"].append(float(rollout.mask.sum()) / (time.perf_counter() - start))
        prompts, mask = rollout.prompt_ids, rollout.prompt_mask
        with torch.no_grad():
            start = time.perf_counter()
            out = lm.generate(input_ids=prompts, attention_mask=mask, max_new_tokens=T, do_sample=True, top_k=0,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            seconds = time.perf_counter() - start
        new = out[:, P:]
        ended = (new == tokenizer.eos_token_id).int().cumsum(1)  # tokens up to and including each row's EOS
        generated = int(((ended == 0) | ((ended == 1) & (new == tokenizer.eos_token_id))).sum())
        rates["generate"].append(generated / seconds)
    return {side: statistics.median(values) for side, values in rates.items()}


def main(argv: list[str] | None = None) -> int:
    """Print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="time an issue-14 setting (see the docstring)")
    parser.add_argument("--compare", metavar="REV", help="with --preset: also time this commit, in the same run")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="with --preset: torch threads")
    parser.add_argument("--repeats", type=int, default=3, help="with --preset: runs per side and thread count")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(), help="the shared data folder")
    parser.add_argument("--generate", action="store_true",
                        help="with --preset: our rollout against model.generate on the same model and batch")
    parser.add_argument("--precision", nargs="+", choices=["auto", "fp32", "bf16"],
                        help="with --preset: this checkout's PPO precision(s), each timed as a side")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1],
                        help="with --preset: this checkout's data-parallel rank counts (torchrun), each a side, "
                             "sharing the threads")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--updates", type=int, default=6)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="tiny", help="a named config (tiny, small, gpt2-small-random) or a path")
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True,
                        help="also time stock SB3 PPO (--no-peer: ours only)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense peak, for the MFU")
    args = parser.parse_args(argv)
    if args.preset:
        if args.data_dir is None:
            parser.error("--preset needs the Multi30k files: pass --data-dir (the shared data folder)")
        unusable = [r for r in args.ranks if r < 1 or not any(t % r == 0 for t in args.threads)]
        if unusable:
            parser.error(f"--ranks {unusable}: each rank count must be >= 1 and divide one of --threads "
                         f"{args.threads} (the ranks share the threads)")
        if args.generate:
            for count in args.threads:
                rates = rollout_vs_generate(args.preset, count, args.repeats, args.data_dir)
                print(f"{args.preset}, {count} thread(s): our rollout {rates['ours']:,.0f} generated tokens/s (env "
                      f"steps and scoring included), model.generate {rates['generate']:,.0f}: "
                      f"{rates['ours'] / rates['generate']:.2f}x")
            return 0
        compare(args.preset, args.compare, args.threads, args.repeats, args.updates, args.data_dir, args.precision,
                args.ranks)
        return 0
    r = measure(args.num_envs, args.updates, args.device, args.model, args.peer, args.peak_tflops)
    print(f"{args.num_envs} envs, {args.model} GPT-2 ({r['params'] / 1e6:.1f}M params), {ENV_ID} (32-token cap), "
          f"device {args.device}")
    print(f"our PPO (KV cache, one-pass re-scoring):   {r['ours_tokens_per_s']:10.1f} tokens/s end to end, "
          f"{r['rollout_tokens_per_s']:.1f} in rollouts")
    print(f"our model FLOPs: {r['model_tflops_per_s']:.3f} TFLOP/s" +
          (f", MFU {r['mfu']:.1%} of {args.peak_tflops:g} TFLOP/s" if "mfu" in r else ""))
    if args.peer:
        print(f"stock SB3 PPO + TransformerActorCriticPolicy:{r['sb3_tokens_per_s']:10.1f} tokens/s")
        print(f"ratio:                                      {r['ratio']:10.1f}x")
    print(f"our time: rollout (with scoring) {r['share_rollout']:.0%}, re-scoring {r['share_rescore']:.0%}, "
          f"optimisation {r['share_optimise']:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
