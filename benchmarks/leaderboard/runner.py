r"""The leaderboard runner: every (agent, task, seed) cell of a suite, resumable, one JSON record per cell.

    textgym-bench leaderboard --suite textgym-v0-default --agents random reference greedy sft ppo \\
        --seeds 0 --out runs/default

A cell: seed everything with the cell's seed, build the agent from its factory, train it on the task's
budget in ``suite.curve_points`` chunks (scoring the validation split after each: the learning curve), then
evaluate it on the first ``eval_episodes`` test examples with greedy decoding and corpus metrics. Its record
(scores, sacreBLEU signatures, seed, budget, curve, wall time, tokens/s, package versions, hardware, git commit)
is appended to ``OUT/results.jsonl`` as soon as the cell ends, so a killed run loses at most the cell it was in;
the same command again skips the finished cells. A results file that is not valid JSON lines, or that was
written for another suite (or another version of it), stops the run before anything is written.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.leaderboard.agents import AgentContext, load_factory, make_agent
from benchmarks.leaderboard.evaluate import evaluate_agent
from benchmarks.leaderboard.executors import make_executor
from benchmarks.leaderboard.suites import Suite, TaskSpec
from textgym.error import DataFileError, InvalidArgumentError, TextGymError

__all__ = ["FAILURES_FILE", "RESULTS_FILE", "SCHEMA", "SUITE_FILE", "CellsFailedError", "ResultsFileError",
           "environment_info", "read_results", "render_folder", "run_cell", "run_leaderboard"]

SCHEMA = "textgym-leaderboard/1"
RESULTS_FILE = "results.jsonl"
SUITE_FILE = "suite.json"
FAILURES_FILE = "failures.jsonl"  # cells that failed after the executor's retry (run again by the next invocation)
_REQUIRED = ("schema", "suite", "suite_fingerprint", "agent", "task", "seed", "scores")
_PACKAGES = ("textgym", "torch", "transformers", "tokenizers", "gymnasium", "stable-baselines3", "sacrebleu", "numpy")


class ResultsFileError(DataFileError):
    """``results.jsonl`` is corrupt or belongs to another suite; it is left untouched."""


def environment_info(device: str = "cpu") -> dict[str, Any]:
    """Package versions, hardware and git commit of this run."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            versions[package] = None
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    try:
        memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemTotal"))
        memory_gib: float | None = round(memory_kb / 2**20, 1)
    except (OSError, StopIteration):
        memory_gib = None
    hardware: dict[str, Any] = {"platform": platform.platform(), "cpu": cpu,
                "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                "torch_threads": torch.get_num_threads(), "memory_gib": memory_gib, "device": device,
                "accelerator": torch.cuda.get_device_name(0) if device.startswith("cuda") else None}
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, check=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"versions": versions, "hardware": hardware, "git_commit": commit, "git_dirty": dirty}


def read_results(path: str | os.PathLike[str], suite: Suite | None = None) -> list[dict[str, Any]]:
    """The records of ``path`` (empty when it does not exist), checked line by line.

    Raises:
        ResultsFileError: A line is not a JSON object with the leaderboard's fields, or (``suite`` given) it was
            written for another suite or another version of it. The file is not modified.
    """
    path = Path(path)
    if not path.exists():
        return []
    records = []
    leave = "The file was left as it is; move it away or pass another --out."
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ResultsFileError(f"{path}:{number} is not valid JSON ({exc.msg}): {line[:80]!r}. {leave}") from None
        if not isinstance(record, dict) or record.get("schema") != SCHEMA or any(k not in record for k in _REQUIRED):
            raise ResultsFileError(
                f"{path}:{number} is not a textgym leaderboard record (expected schema {SCHEMA!r} and the fields "
                f"{list(_REQUIRED)}). {leave}"
            )
        if suite is not None and (record["suite"], record["suite_fingerprint"]) != (suite.name, suite.fingerprint()):
            raise ResultsFileError(
                f"{path}:{number} was written for suite {record['suite']!r} (fingerprint "
                f"{record['suite_fingerprint']}), but this run is suite {suite.name!r} (fingerprint "
                f"{suite.fingerprint()}); results of different suites or suite versions are not mixed. {leave}"
            )
        records.append(record)
    return records


def _append(path: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _train(agent: Any, context: AgentContext, curve_metric: str) -> tuple[list[list[float]], int, float, str]:
    """Train ``agent`` on its budget in chunks; returns the curve, tokens trained, seconds and budget kind."""
    kind = getattr(agent, "budget_kind", "rl")
    total = context.budget.sft_tokens if kind == "sft" else context.budget.rl_tokens
    if not callable(getattr(agent, "learn", None)) or total == 0:
        return [], 0, 0.0, kind
    task, points = context.task, context.suite.curve_points

    def score() -> float:
        return evaluate_agent(agent, context.curve_env, min(task.curve_episodes, len(context.curve_env.examples)),
                              [curve_metric]).scores[curve_metric]

    offset = int(getattr(agent, "warm_start_tokens", 0))  # the curve's token axis counts the warm start too
    curve = [[offset, score()]]
    done, seconds = 0, 0.0
    for k in range(1, points + 1):
        target = round(total * k / points)  # absolute targets: the chunks add up to one learn(total)
        done = int(getattr(agent, "num_timesteps", done))
        if target > done:
            start = time.perf_counter()
            agent.learn(total_timesteps=target - done, reset_num_timesteps=False)
            seconds += time.perf_counter() - start
            done = int(getattr(agent, "num_timesteps", target))
        curve.append([offset + done, score()])
    return curve, done, seconds, kind


def run_cell(suite: Suite, task: TaskSpec, agent_spec: str, seed: int, device: str = "cpu",
             cache_dir: Path | None = None, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one cell and return its record (without writing it); ``environment``: :func:`environment_info`'s."""
    started = time.perf_counter()
    _seed_everything(seed)
    context = AgentContext(suite, task, seed, device, cache_dir)
    try:
        agent = make_agent(agent_spec, context)
        setup_s = time.perf_counter() - started
        curve, trained, train_s, kind = _train(agent, context, task.primary)
        evaluation = evaluate_agent(agent, context.eval_env, task.eval_episodes, task.metrics)
    finally:
        context.close()
    wall = time.perf_counter() - started
    return {
        "schema": SCHEMA, "suite": suite.name, "suite_version": suite.version, "suite_fingerprint": suite.fingerprint(),
        "agent": agent_spec, "task": task.name, "seed": seed, "env_id": task.env_id,
        "scores": evaluation.scores, "signatures": evaluation.signatures, "primary_metric": task.primary,
        "mean_reward": evaluation.mean_reward, "eval_split": task.eval_split, "eval_episodes": evaluation.episodes,
        "decoding": suite.decoding, "model": suite.model, "device": device,
        "budget": {"sft_tokens": task.budget.sft_tokens, "rl_tokens": task.budget.rl_tokens, "kind": kind,
                   "trained_tokens": trained, "warm_start_tokens": int(getattr(agent, "warm_start_tokens", 0))},
        "curve": curve, "curve_metric": task.primary, "curve_split": "validation",
        "timing": {"wall_s": wall, "setup_s": setup_s, "train_s": train_s, "eval_s": evaluation.seconds},
        "tokens_per_s": {"train": trained / train_s if train_s else None,
                         "eval": evaluation.tokens / evaluation.seconds if evaluation.seconds else None},
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(environment if environment is not None else environment_info(device)),
    }


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise InvalidArgumentError(f"Expected one or more seeds, ints >= 0, got {list(seeds)!r}.")
    if len(set(seeds)) != len(seeds):
        raise InvalidArgumentError(f"Seeds repeat: {list(seeds)!r}; give each seed once.")
    return list(seeds)


def run_leaderboard(suite: Suite, agents: Sequence[str], seeds: Sequence[int], out: str | os.PathLike[str],
                    data_dir: str | os.PathLike[str] | None = None, device: str = "cpu", progress: bool = True,
                    render: bool = True, executor: str = "local", **executor_options: Any) -> list[dict[str, Any]]:
    """Run the missing cells of ``agents`` x ``suite.tasks`` x ``seeds``; returns every record in ``out``.

    Everything is checked before the first cell runs: the agents exist, the data folder has the suite's files,
    ``OUT/results.jsonl`` (if any) is this suite's. Then ``leaderboard.md`` and ``leaderboard.html`` are written
    from all the records (``render=False``: not).

    ``executor``: ``"local"`` (this process, in order; an error stops the run) or ``"ray"`` (a Ray task per
    cell; ``executor_options``: ``address``, ``cpus_per_cell``, ``gpus_per_cell``, ``num_cpus``, see
    :mod:`benchmarks.leaderboard.executors`). Cells that failed after Ray's retry are in ``OUT/failures.jsonl``
    (and ``failures`` of the :class:`CellsFailedError` raised at the end); a later run retries them.
    """
    if not agents:
        raise InvalidArgumentError("Expected one or more agents, got none.")
    if len(set(agents)) != len(agents):
        raise InvalidArgumentError(f"Agents repeat: {list(agents)!r}; give each agent once.")
    seeds = _check_seeds(seeds)
    for spec in agents:
        load_factory(spec)
    execute = make_executor(executor, **executor_options)
    tasks = [task.resolve(data_dir) for task in suite.tasks]
    folder = Path(out)
    results = folder / RESULTS_FILE
    records = read_results(results, suite)
    done = {(r["agent"], r["task"], r["seed"]) for r in records}
    cells = [(agent, task, seed) for task in tasks for agent in agents for seed in seeds
             if (agent, task.name, seed) not in done]
    folder.mkdir(parents=True, exist_ok=True)
    if not records:  # the definition the page shows (kept with the results they belong to)
        (folder / SUITE_FILE).write_text(json.dumps(suite.to_dict(), indent=2) + "\n", encoding="utf-8")
    bar = None
    if progress and cells:
        from tqdm import tqdm

        bar = tqdm(total=len(cells), desc=f"{suite.name} ({len(done)} cells already done)", unit="cell",
                   file=sys.stderr)
    environment = environment_info(device)  # versions, hardware, commit: the same for every cell of the run
    run = functools.partial(_run_one, suite, device, folder / "cache", environment)
    failures = []
    for (agent, task, seed), record, error in execute(cells, run):
        label = f"{agent} / {task.name} / seed {seed}"
        if record is None:  # the driver records it: never a silent gap
            failure = {"agent": agent, "task": task.name, "seed": seed, "error": error,
                       "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            _append(folder / FAILURES_FILE, failure)
            failures.append(failure)
            print(f"cell {label} failed twice: {error}", file=sys.stderr)
            continue
        _append(results, record)
        records.append(record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{label}: {task.primary} {record['scores'][task.primary]:.1f}")
    if bar is not None:
        bar.close()
    if render and records:
        from benchmarks.leaderboard.report import write_reports

        write_reports(folder, records, suite)
    if failures:
        raise CellsFailedError(
            f"{len(failures)} of {len(cells)} cells failed after a retry; their errors are in "
            f"{folder / FAILURES_FILE}. The other results are saved; the same command runs the failed cells again.",
            failures)
    return records


def _run_one(suite: Suite, device: str, cache_dir: Path, environment: dict[str, Any],
             cell: tuple[str, TaskSpec, int]) -> dict[str, Any]:
    agent, task, seed = cell
    return run_cell(suite, task, agent, seed, device, cache_dir=cache_dir, environment=environment)


class CellsFailedError(TextGymError, RuntimeError):
    """Some leaderboard cells failed (after the executor's retry); ``failures`` lists them with their errors."""

    def __init__(self, message: str, failures: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.failures = failures


def render_folder(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Re-render ``leaderboard.md``/``.html`` from ``OUT/results.jsonl`` (and ``OUT/suite.json``)."""
    from benchmarks.leaderboard.report import write_reports

    folder = Path(out)
    records = read_results(folder / RESULTS_FILE)
    if not records:
        raise ResultsFileError(f"No results to render: {folder / RESULTS_FILE} is missing or empty.")
    suites = {(r["suite"], r["suite_fingerprint"]) for r in records}
    if len(suites) > 1:
        raise ResultsFileError(f"{folder / RESULTS_FILE} mixes suites {sorted(suites)}; cannot render one page.")
    definition = None
    if (folder / SUITE_FILE).is_file():
        definition = json.loads((folder / SUITE_FILE).read_text(encoding="utf-8"))
    return write_reports(folder, records, definition)
