"""Sandboxed programs per second: textgym's sandbox pool against one plain subprocess per program.

    python -m benchmarks.throughput.sandbox [--programs 256] [--workers N] [--dataset builtin|humaneval]

Both sides run the same 256 small programs (built-in code problems, reference solutions and their five
value tests; or HumanEval's 164 canonical solutions, whose float, loop and helper tests run in the judge).
The peer runs each as ``python -c PROGRAM`` in a fresh subprocess, one after another, with no
isolation at all; textgym runs them through :class:`~textgym.scorers.code_exec.Sandbox` (isolated children
forked from warm workers, in parallel). The figure that matters is the ratio, measured in one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from textgym.scorers.code_exec import CodeJob, Sandbox, SandboxConfig
from textgym.tasks import make_task

__all__ = ["main", "run"]


def _programs(count: int, dataset: str = "builtin") -> list[tuple[str, CodeJob]]:
    if dataset == "humaneval":
        from benchmarks.data import default_data_dir

        data = default_data_dir()
        if data is None:
            raise SystemExit("--dataset humaneval needs the shared data (HumanEval): $TEXTGYM_SHARED_DATA or "
                             "../shared/data beside the checkout")
        task = make_task("code", dataset="humaneval", data_dir=data / "humaneval")
        out = []
        for example in task.examples("test")[:count]:
            meta = example.meta
            script = f"{meta['prefix']}{example.references[0]}\n{meta['setup']}\n"
            script += "".join(f"assert {t.code} == {t.expected}\n" if t.kind == "value" else t.code + "\n"
                              for t in meta["tests"]).replace("candidate", meta["entry_point"])
            out.append((script, task.scorer.job(example.references[0], example)))
        return out
    task = make_task("code", difficulty=3)
    out = []
    for example in task.examples("test")[:count]:
        program = example.meta["prefix"] + example.references[0]
        asserts = "".join(f"assert {t.code} == {t.expected}\n" for t in example.meta["tests"])
        out.append((program + asserts, CodeJob(program, tuple(example.meta["tests"]))))
    return out


def run(count: int = 256, workers: int | None = None, dataset: str = "builtin") -> dict[str, float]:
    """Measure both sides; returns programs per second for each and their ratio."""
    programs = _programs(count, dataset)
    count = len(programs)
    start = time.perf_counter()
    for script, _ in programs:
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    plain = count / (time.perf_counter() - start)

    sandbox = Sandbox(SandboxConfig(timeout_s=10), num_workers=workers)
    sandbox.run([job for _, job in programs[:4]])  # start the workers outside the timed part
    start = time.perf_counter()
    results = sandbox.run([job for _, job in programs])
    ours = count / (time.perf_counter() - start)
    assert all(r.pass_rate == 1.0 for r in results), "every reference must pass in the sandbox"
    isolation = sandbox.isolation
    sandbox.close()
    return {"programs": count, "workers": sandbox.num_workers, "plain_subprocess_per_s": plain,
            "sandbox_per_s": ours, "ratio": ours / plain, "isolation": isolation}


def main(argv: list[str] | None = None) -> int:
    """Print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=256)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--dataset", choices=("builtin", "humaneval"), default="builtin")
    args = parser.parse_args(argv)
    r = run(args.programs, args.workers, args.dataset)
    print(f"{r['programs']} programs, {r['workers']} workers, sandbox isolation: {r['isolation']}")
    print(f"plain subprocess, one after another: {r['plain_subprocess_per_s']:8.1f} programs/s")
    print(f"textgym sandbox pool:                {r['sandbox_per_s']:8.1f} programs/s")
    print(f"ratio (sandbox / plain):             {r['ratio']:8.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
