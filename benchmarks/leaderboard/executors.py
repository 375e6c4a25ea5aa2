"""Where leaderboard cells run: in this process (``local``, the default) or as Ray tasks (``ray``).

The driver (:func:`benchmarks.leaderboard.runner.run_leaderboard`) decides which cells are missing and writes every
record itself, through the one resumable ``results.jsonl`` path, in the order cells finish; executors only run
:func:`~benchmarks.leaderboard.runner.run_cell`. So a killed run resumes with the missing cells whichever executor
ran the others.

``ray``: one Ray task per cell, declaring its CPUs and GPUs, on a local Ray started for the run (``address=None``)
or on an existing cluster (``address="auto"`` or ``"ray://host:10001"``). A cell whose task raises is retried once
(Ray's ``max_retries=1, retry_exceptions=True``); if it fails again it is recorded in ``failures.jsonl`` with its
error, reported, and run again by the next invocation; it never goes missing silently. On a cluster, every node
needs this package installed and the data where the suite's paths point (or Ray's ``runtime_env``).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from textgym.error import InvalidArgumentError, MissingDependencyError, check_int

__all__ = ["EXECUTORS", "Cell", "Outcome", "make_executor", "run_local", "run_ray"]

EXECUTORS = ("local", "ray")

Cell = tuple[str, Any, int]  # (agent spec, resolved TaskSpec, seed)
Outcome = tuple[Cell, dict[str, Any] | None, str | None]  # the cell, its record or None, the error or None
RunCell = Callable[[Cell], dict[str, Any]]


def run_local(cells: Sequence[Cell], run: RunCell) -> Iterator[Outcome]:
    """Each cell in this process, in order; an error propagates (stop at the first, with its traceback)."""
    for cell in cells:
        yield cell, run(cell), None


def run_ray(cells: Sequence[Cell], run: RunCell, address: str | None = None, cpus_per_cell: float = 1,
            gpus_per_cell: float = 0, num_cpus: int | None = None) -> Iterator[Outcome]:
    """Each cell as a Ray task, yielded as it finishes (a failed one with its error after one retry).

    Args:
        cells: The cells to run.
        run: Runs one cell and returns its record (pickled to the workers with cloudpickle).
        address: None starts a local Ray for the run (stopped afterwards); else the cluster to join.
        cpus_per_cell: The CPUs each task declares (Ray runs torch with that many threads).
        gpus_per_cell: The GPUs each task declares.
        num_cpus: CPUs of a local Ray (None: the machine's).
    """
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("--executor ray needs Ray: pip install 'textgym[ray]' (or ray)") from exc
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=cpus_per_cell, num_gpus=gpus_per_cell, max_retries=1,
                            retry_exceptions=True)(_run_in_worker)
        pending = {remote.remote(run, cell): cell for cell in cells}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            cell = pending.pop(done[0])
            try:
                yield cell, ray.get(done[0]), None
            except Exception as exc:  # the task's error, after its retry (RayTaskError wraps it)
                yield cell, None, _error_text(exc)
    finally:
        if started:
            ray.shutdown()


def _run_in_worker(run: RunCell, cell: Cell) -> dict[str, Any]:
    # Ray sets OMP_NUM_THREADS to the task's CPUs; torch reads it on import, as it would under taskset
    return run(cell)


def _error_text(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc  # RayTaskError keeps the task's own exception as .cause
    return "".join(traceback.format_exception_only(type(cause), cause)).strip()


def make_executor(name: str, address: str | None = None, cpus_per_cell: float = 1, gpus_per_cell: float = 0,
                  num_cpus: int | None = None) -> Callable[[Sequence[Cell], RunCell], Iterator[Outcome]]:
    """The executor called ``name`` with its options bound; bad names and resources raise, naming the choices."""
    if name not in EXECUTORS:
        raise InvalidArgumentError(f"Unknown executor {name!r}. Accepted: {', '.join(map(repr, EXECUTORS))}.")
    if name == "local":
        if address is not None:
            raise InvalidArgumentError(f"--address {address!r} is for --executor ray; the local executor runs here.")
        return run_local
    for label, value in (("cpus_per_cell", cpus_per_cell), ("gpus_per_cell", gpus_per_cell)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidArgumentError(f"Expected {label} to be a number >= 0, got {value!r}.")
    if num_cpus is not None:
        check_int("num_cpus", num_cpus)
    cluster = address or os.environ.get("RAY_ADDRESS") or None
    return lambda cells, run: run_ray(cells, run, cluster, cpus_per_cell, gpus_per_cell, num_cpus)
