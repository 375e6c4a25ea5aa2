"""Where each code dataset's verdicts are decided: on the host, by the judge, or not at all.

    python -m benchmarks.verdicts [--datasets builtin humaneval mbpp mbpp-sanitized] [--data-dir DIR]

For every test of every problem: value tests (``assert EXPR == LITERAL``) are compared on the host; the rest run
in the sandbox's judge. Running each reference solution then shows how many tests could not be decided from plain
data (``undecidable``: the test needs a non-plain argument; ``not_plain``: the reference returned one), which is
the per-dataset statistic of issue 17 (docs/design.md quotes it). A reference that fails for any other reason is
listed too: the datasets' references all pass.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.data import default_data_dir
from textgym.tasks import make_task

__all__ = ["coverage", "main"]

DATASETS = ("builtin", "humaneval", "mbpp", "mbpp-sanitized")
UNDECIDED = ("undecidable", "not_plain")


def coverage(dataset: str, data_dir: str | Path | None = None, num_workers: int | None = None) -> dict[str, Any]:
    """Counts of tests by where they are decided, and of references' failures by reason."""
    kwargs: dict[str, Any] = {"num_workers": num_workers, "timeout_s": 10.0}
    if dataset != "builtin":
        root = Path(data_dir) if data_dir is not None else default_data_dir()
        if root is None:
            raise SystemExit(f"dataset {dataset!r} needs --data-dir (../shared/data was not found)")
        kwargs["data_dir"] = root / ("humaneval" if dataset == "humaneval" else "mbpp")
    if dataset.startswith("mbpp"):
        kwargs["include_challenge_tests"] = True
    task = make_task("code", dataset=dataset, **kwargs)
    if dataset == "builtin":
        examples = list(task.examples("test")[:300])  # a procedural corpus: a sample of it
    else:
        examples = [e for split in ("train", "validation", "test") for e in (task._data or {}).get(split, [])]
    results = task.scorer.results([e.references[0] for e in examples], examples)
    kinds: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    failing = []
    for example, result in zip(examples, results, strict=True):
        for test, passed, reason in zip(example.meta["tests"], result.passed, result.reasons, strict=True):
            kinds["host" if test.kind == "value" else "judge"] += 1
            if not passed:
                failures[reason] += 1
                failing.append(example.id)
    return {"dataset": dataset, "problems": len(examples), "tests": sum(kinds.values()), "host": kinds["host"],
            "judge": kinds["judge"], "undecided": sum(failures[r] for r in UNDECIDED), "failures": dict(failures),
            "failing": sorted(set(failing))}


def main(argv: list[str] | None = None) -> int:
    """Print one line per dataset."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--data-dir", default=None, help="default: ../shared/data beside the checkout")
    args = parser.parse_args(argv)
    print("dataset          problems  tests  on host  judged  undecided  other failures")
    for dataset in args.datasets:
        r = coverage(dataset, args.data_dir)
        other = {k: v for k, v in r["failures"].items() if k not in UNDECIDED}
        print(f"{dataset:16} {r['problems']:8} {r['tests']:6} {r['host']:8} {r['judge']:7} {r['undecided']:10}  "
              f"{other or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
