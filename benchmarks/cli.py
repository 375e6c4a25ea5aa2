"""The ``textgym-bench`` command: the leaderboard runner, its page, the suites, and the throughput benchmarks.

textgym-bench leaderboard --suite textgym-v0-default --agents random reference greedy sft ppo --seeds 0 --out DIR
textgym-bench render DIR
textgym-bench suites
textgym-bench throughput env|train|sandbox|distributed [ARGS...]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["DEFAULT_AGENTS", "main"]

DEFAULT_AGENTS = ("random", "reference", "greedy", "sft", "ppo")


def _parser() -> argparse.ArgumentParser:
    from agents.cli import HelpFormatter, add_command
    from benchmarks.leaderboard.agents import BUILTIN_AGENTS
    from benchmarks.leaderboard.suites import SUITES

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return add_command(sub, name, help)

    parser = argparse.ArgumentParser(prog="textgym-bench", description=__doc__.splitlines()[0].replace("``", ""),
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    lb = command("leaderboard", "run agents x tasks x seeds of a suite (resumable) and write the page")
    lb.add_argument("--suite", default="textgym-v0-default", help=f"one of {', '.join(SUITES)}")
    lb.add_argument("--agents", nargs="+", default=None,
                    help=f"built-in names ({', '.join(BUILTIN_AGENTS)}) or package.module:factory "
                         f"(default: {' '.join(DEFAULT_AGENTS)})")
    lb.add_argument("--agent", action="append", default=None, metavar="AGENT",
                    help="one more agent (repeatable), e.g. --agent my_package.agents:factory")
    lb.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of every agent x task cell")
    lb.add_argument("--out", required=True, help="results folder (results.jsonl, leaderboard.md/.html)")
    lb.add_argument("--tasks", nargs="+", default=None, help="a subset of the suite's tasks")
    lb.add_argument("--data-dir", default=None,
                    help="real data folder (default: $TEXTGYM_SHARED_DATA, else ../shared/data when it exists)")
    lb.add_argument("--device", default="cpu", help="torch device of the envs and models")
    lb.add_argument("--model", default=None, help="override the suite's model (tiny, small, a HF name/path)")
    lb.add_argument("--eval-episodes", type=int, default=None, help="cap the evaluation episodes (a derived suite)")
    lb.add_argument("--budget-scale", type=float, default=None, help="scale the training budgets (a derived suite)")
    lb.add_argument("--no-progress", action="store_true", help="no progress bar")
    lb.add_argument("--executor", default="local", choices=["local", "ray"],
                    help="where cells run: this process, or one Ray task per cell")
    lb.add_argument("--address", default=None,
                    help="with --executor ray: the cluster (auto, ray://host:10001); default: a local Ray for the run")
    lb.add_argument("--cpus-per-cell", type=float, default=1, help="with --executor ray: CPUs each cell declares")
    lb.add_argument("--gpus-per-cell", type=float, default=None,
                    help="with --executor ray: GPUs each cell declares (default: 1 with --device cuda, else 0)")
    render = command("render", "re-render leaderboard.md/.html from a results folder")
    render.add_argument("out", help="the results folder of a leaderboard run")
    command("suites", "list the suites and their tasks")
    throughput = command("throughput", "run a throughput benchmark (ratios against peers, one run)")
    throughput.add_argument("benchmark", choices=["env", "train", "sandbox", "distributed"], help="which benchmark")
    throughput.add_argument("args", nargs=argparse.REMAINDER, help="its own options (see ... BENCHMARK --help)")
    return parser


def _leaderboard(args: argparse.Namespace) -> int:
    from benchmarks.data import default_data_dir
    from benchmarks.leaderboard.runner import run_leaderboard
    from benchmarks.leaderboard.suites import get_suite

    suite = get_suite(args.suite).select(args.tasks)
    suite = suite.with_overrides(args.eval_episodes, args.budget_scale, args.model)
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    agents = [*(args.agents or []), *(args.agent or [])] or list(DEFAULT_AGENTS)
    options: dict[str, Any] = {}
    if args.executor == "ray":
        gpus = args.gpus_per_cell if args.gpus_per_cell is not None else 1 if args.device.startswith("cuda") else 0
        options = {"address": args.address, "cpus_per_cell": args.cpus_per_cell, "gpus_per_cell": gpus}
    elif args.address is not None:
        options = {"address": args.address}  # the local executor refuses it, by name
    records = run_leaderboard(suite, agents, args.seeds, args.out, data_dir=data_dir, device=args.device,
                              progress=not args.no_progress, executor=args.executor, **options)
    print(f"{len(records)} results in {args.out}/results.jsonl; page: {args.out}/leaderboard.html "
          f"(and leaderboard.md)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``textgym-bench``; a :class:`TextGymError` ends with its message and exit status 2."""
    from agents.cli import run_command

    args = _parser().parse_args(argv)

    def interrupted() -> str:
        if args.command != "leaderboard":
            return ""
        return f": finished cells are in {args.out}/results.jsonl; the same command resumes with the missing ones"

    return run_command("textgym-bench", lambda: _run(args), interrupted)


def _run(args: argparse.Namespace) -> int:
    if args.command == "leaderboard":
        return _leaderboard(args)
    if args.command == "render":
        from benchmarks.leaderboard.runner import render_folder

        md, page = render_folder(args.out)
        print(f"wrote {md} and {page}")
        return 0
    if args.command == "suites":
        from benchmarks.leaderboard.suites import SUITES

        for suite in SUITES.values():
            print(f"{suite.name} (version {suite.version}, fingerprint {suite.fingerprint()}): {suite.description}")
            for task in suite.tasks:
                print(f"    {task.name:<16} {task.env_id:<22} metrics {', '.join(task.metrics):<18} budget "
                      f"sft {task.budget.sft_tokens:,} + rl {task.budget.rl_tokens:,} tokens "
                      f"{json.dumps(dict(task.env_kwargs)) if task.env_kwargs else ''}")
        return 0
    import importlib

    module = importlib.import_module(f"benchmarks.throughput.{args.benchmark}")
    return int(module.main(args.args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
