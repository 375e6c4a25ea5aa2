"""``--executor ray`` (issue 18): leaderboard cells as Ray tasks on a local Ray with 2 CPUs give the in-process
executor's records; the driver writes them through the one resumable path; a failing cell is retried once, then
recorded and run again by the next invocation."""

from __future__ import annotations

import json
import textwrap

import pytest

from benchmarks.leaderboard import get_suite, read_results, run_leaderboard
from benchmarks.leaderboard.runner import FAILURES_FILE, RESULTS_FILE, CellsFailedError
from textgym.error import InvalidArgumentError

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a local Ray takes ~10 s to start, and the cells run twice
SMOKE = get_suite("textgym-v0-smoke")
KEEP = ("agent", "task", "seed", "scores", "curve", "mean_reward", "budget")


def _by_cell(records):
    return {(r["agent"], r["task"], r["seed"]): {k: r[k] for k in KEEP} for r in records}


def test_ray_cells_equal_the_in_process_ones_and_resume_through_the_same_file(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray gives a 1-CPU task; the local side matches it
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run_leaderboard(SMOKE, ["random", "sft"], [0], tmp_path / "local", progress=False)
    finally:
        torch.set_num_threads(threads)
    # a run that did one cell already: Ray runs only the five missing ones, the driver appends them
    (tmp_path / "ray").mkdir()
    first = next(r for r in local if (r["agent"], r["task"]) == ("random", "translate"))
    (tmp_path / "ray" / RESULTS_FILE).write_text(json.dumps(first, sort_keys=True) + "\n")
    remote = run_leaderboard(SMOKE, ["random", "sft"], [0], tmp_path / "ray", progress=False, executor="ray",
                             num_cpus=2)
    assert len(remote) == 6 and len(read_results(tmp_path / "ray" / RESULTS_FILE)) == 6
    assert _by_cell(remote) == _by_cell(local)
    assert (tmp_path / "ray" / "leaderboard.html").is_file()


def test_a_failing_cell_is_retried_once_recorded_and_run_again_next_time(tmp_path):
    attempts = tmp_path / "attempts.txt"
    module = tmp_path / "flaky_agents.py"
    module.write_text(textwrap.dedent(f"""
        from pathlib import Path
        from agents import RandomAgent

        def flaky(context):
            log = Path({str(attempts)!r})
            log.write_text(log.read_text() + "x" if log.exists() else "x")
            if not Path({str(tmp_path / "fixed")!r}).exists():
                raise RuntimeError("this agent is broken today")
            return RandomAgent(context.make_env().action_space, seed=context.seed)
    """))
    spec = f"{module}:flaky"
    out = tmp_path / "out"
    with pytest.raises(CellsFailedError, match=r"1 of 2 cells failed after a retry; their errors are in .*failures"):
        run_leaderboard(SMOKE.select(["translate"]), ["random", spec], [0], out, progress=False, executor="ray",
                        num_cpus=2)
    assert attempts.read_text() == "xx"  # the first try and one retry
    failures = [json.loads(line) for line in (out / FAILURES_FILE).read_text().splitlines()]
    assert [(f["agent"], f["task"], f["seed"]) for f in failures] == [(spec, "translate", 0)]
    assert "RuntimeError: this agent is broken today" in failures[0]["error"]
    assert [r["agent"] for r in read_results(out / RESULTS_FILE)] == ["random"]  # the rest is kept
    (tmp_path / "fixed").touch()
    records = run_leaderboard(SMOKE.select(["translate"]), ["random", spec], [0], out, progress=False,
                              executor="ray", num_cpus=2)
    assert sorted(r["agent"] for r in records) == sorted(["random", spec]) and attempts.read_text() == "xxx"


def test_bad_executor_options():
    with pytest.raises(InvalidArgumentError, match=r"Unknown executor 'dask'. Accepted: 'local', 'ray'"):
        run_leaderboard(SMOKE, ["random"], [0], "unused", executor="dask")
    with pytest.raises(InvalidArgumentError, match=r"--address 'auto' is for --executor ray"):
        run_leaderboard(SMOKE, ["random"], [0], "unused", address="auto")
    with pytest.raises(InvalidArgumentError, match=r"Expected cpus_per_cell to be a number >= 0, got -1"):
        run_leaderboard(SMOKE, ["random"], [0], "unused", executor="ray", cpus_per_cell=-1)
