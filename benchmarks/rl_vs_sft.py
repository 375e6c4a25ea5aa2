"""Does RL add to SFT? ``textgym train`` with its SFT-only control, over several seeds, one JSON record a seed.

Each seed runs :func:`agents.cli.train`, whose defaults include the control (6 checks): SFT on the references of the
train split's first ``--labelled`` examples (400 by default), then from that one state (1) the RL stage on every
train prompt for ``--ppo-updates`` updates (GRPO unless ``--agent`` says otherwise), and (2) more SFT on the same
labelled examples for the same wall-clock time, early-stopped on the validation score (scored at
``--control-checks`` points; the best counts, which favours the control). Every ``textgym train`` option is accepted::

    python -m benchmarks.rl_vs_sft --seeds 0 1 2                          # textgym train's defaults
    python -m benchmarks.rl_vs_sft --seeds 0 1 2 --labelled all           # every reference

The per-stage lines of ``textgym train`` go to stderr; the records to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from typing import Any

from agents.cli import build_parser, train, train_kwargs


def run_seed(seed: int, argv: list[str]) -> dict[str, Any]:
    """One seed of ``textgym train ARGV --seed SEED`` with the control; its record (the checkpoint is discarded)."""
    with tempfile.TemporaryDirectory() as out:
        args = build_parser().parse_args(["train", *argv, "--seed", str(seed), "--out", out])
        with contextlib.redirect_stdout(sys.stderr):
            record = train(args.env, **{**train_kwargs(args), "progress_bar": False})
    record.pop("checkpoint")
    return {**record, "argv": argv}


def main(argv: list[str] | None = None) -> None:
    """The command line: ``--seeds`` and ``textgym train``'s options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args, rest = parser.parse_known_args(argv)
    for seed in args.seeds:
        print(json.dumps(run_seed(seed, rest)), flush=True)


if __name__ == "__main__":
    main()
