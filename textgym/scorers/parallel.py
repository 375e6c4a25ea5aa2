"""Spread the host scoring of the rows that finished in one step over the CPU cores.

sacreBLEU is pure Python: one process scores one sentence at a time (~50-300 us). When a vector env
finishes enough rows in one step, :class:`ParallelScorer` sends a share of them to each worker process,
scores its own share meanwhile, then collects the workers' scores. A worker is a fresh interpreter running
:mod:`textgym.scorers._scoring_worker` with a copy of the scorer, talking over its stdin/stdout pipes (a round
trip costs ~0.1-0.2 ms). Not ``multiprocessing``: its ``spawn`` re-imports the user's ``__main__`` (a script
without an ``if __name__ == "__main__"`` guard ran again in the worker), and a ``fork`` of a process holding a
model makes every page that process writes afterwards a copy-on-write fault (measured: +24 % on a PPO run).
Scorers that are parallel already (the code sandbox), and tasks that override :meth:`Task.score
<textgym.tasks.base.Task.score>`, are always scored in this process, through ``Task.score``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.error import TextGymError
from textgym.scorers.base import Scorer
from textgym.scorers.sacrebleu import SacreBLEUScorer
from textgym.tasks.base import Example, Task

__all__ = ["ParallelScorer"]

_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the textgym package


def _start_worker(scorer: Scorer) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "textgym.scorers._scoring_worker"]
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    except OSError as exc:  # no such interpreter, no processes left, ...
        raise TextGymError(f"A scoring worker ({' '.join(command)}) could not be started: {type(exc).__name__}: "
                           f"{exc}. Pass scoring_workers=0 to score in this process.") from exc
    assert process.stdin is not None and process.stdout is not None
    try:
        pickle.dump(scorer, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        process.stdin.flush()
        status, _ = pickle.load(process.stdout)
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        process.kill()
        raise TextGymError(f"A scoring worker ({sys.executable} -m textgym.scorers._scoring_worker) did not start: "
                           f"{type(exc).__name__}: {exc}. Pass scoring_workers=0 to score in this process.") from exc
    if status != "ready":
        process.kill()
        raise TextGymError(f"A scoring worker answered {status!r} instead of 'ready'.")
    return process


class ParallelScorer:
    """Score like ``task.score``, splitting batches of at least ``min_batch`` texts over ``num_workers`` processes.

    Args:
        task: The task (or a scorer: then its own ``score`` is the reward). Only sacreBLEU scorers of tasks that
            keep ``Task.score`` as it is are sent to workers (they need nothing but the references); anything else
            always runs in this process, through ``task.score``.
        num_workers: Extra processes (default: cores - 1; 0 disables).
        min_batch: Smallest batch worth splitting, in texts...
        min_chars: ...and in characters (sacreBLEU's cost grows with them). Defaults: the break-even measured on 2
            cores, 8 texts and 400 characters for sacreBLEU's per-sentence scoring (about 8 sentences of 40
            characters, or 2 of 300), 32 texts and 4,000 characters for chrF, whose batches are scored at once
            (:mod:`textgym.scorers.batched_chrf`, ~30-40 us a 300-character response).

    The scores are the scorer's own, in order (a test compares them with serial scoring). A worker that fails
    or dies is reported with a warning and its share is scored in this process; workers that cannot be started
    at all (when a batch first needs them) are reported once, and every batch is then scored in this process.
    :meth:`start`, called on purpose, raises instead.
    """

    def __init__(self, task: Task | Scorer, num_workers: int | None = None, min_batch: int | None = None,
                 min_chars: int | None = None) -> None:
        if isinstance(task, Task):
            self._score = task.score
            scorer = task.scorer if type(task).score is Task.score else None
        else:
            self._score, scorer = task.score, task
        self.scorer = scorer
        self.num_workers = max(0, (os.cpu_count() or 1) - 1) if num_workers is None else int(num_workers)
        batched = isinstance(scorer, SacreBLEUScorer) and scorer.batched
        self.min_batch = (32 if batched else 8) if min_batch is None else min_batch
        self.min_chars = (4000 if batched else 400) if min_chars is None else min_chars
        self._workers: list[subprocess.Popen] = []

    @property
    def parallel(self) -> bool:
        """Whether large batches are split over worker processes."""
        return self.num_workers > 0 and isinstance(self.scorer, SacreBLEUScorer)

    def score(self, texts: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
        """Scores in [0, 1], the same as ``scorer.score(texts, examples)``."""
        if not self.parallel or len(texts) < self.min_batch or sum(map(len, texts)) < self.min_chars:
            return np.asarray(self._score(texts, examples), dtype=np.float64)
        try:
            workers = self.start()
        except TextGymError as exc:  # as for a worker that dies later: say so once, then score here
            warnings.warn(f"{exc} Scoring in this process from now on.", RuntimeWarning, stacklevel=2)
            self.num_workers = 0
            return np.asarray(self._score(texts, examples), dtype=np.float64)
        # contiguous shares of about equal text length (a sentence's cost grows with its length)
        lengths = np.cumsum([len(t) for t in texts])
        bounds = np.searchsorted(lengths, lengths[-1] * np.arange(1, len(workers) + 1) / (len(workers) + 1))
        edges = [0, *np.minimum(bounds + 1, len(texts)).tolist(), len(texts)]
        sent: list[tuple[subprocess.Popen | None, int, int]] = []
        for process, start, stop in zip(workers, edges[1:-1], edges[2:], strict=True):
            try:
                assert process.stdin is not None
                request = (list(texts[start:stop]), [ex.references for ex in examples[start:stop]])
                pickle.dump(request, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                process.stdin.flush()
                sent.append((process, start, stop))
            except (OSError, ValueError):
                sent.append((None, start, stop))
        parts = [np.asarray(self._score(texts[: edges[1]], examples[: edges[1]]), dtype=np.float64)]
        for receiver, start, stop in sent:
            parts.append(self._collect(receiver, texts[start:stop], examples[start:stop]))
        return np.concatenate(parts)

    def _collect(self, process: subprocess.Popen | None, texts: Sequence[str], examples: Sequence[Example]
                 ) -> np.ndarray:
        try:
            if process is None or process.stdout is None:
                raise EOFError("the request could not be sent")
            status, value = pickle.load(process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            status, value = "error", f"the worker process is gone ({type(exc).__name__}: {exc})"
            self.close()
        if status == "ok":
            return value
        warnings.warn(f"A scoring worker failed ({value}); scoring its share in this process.", RuntimeWarning,
                      stacklevel=3)
        return np.asarray(self._score(texts, examples), dtype=np.float64)

    def start(self) -> list[subprocess.Popen]:
        """Start the worker processes now and wait until they are ready (else on the first batch to split)."""
        if not self._workers and self.scorer is not None:  # parallel: a sacreBLEU scorer
            started: list[subprocess.Popen] = []
            try:
                for _ in range(self.num_workers):
                    started.append(_start_worker(self.scorer))
            finally:
                self._workers = started
                if len(started) < self.num_workers:  # one failed: stop the others too
                    self.close()
        return self._workers

    def close(self) -> None:
        """Stop the worker processes."""
        workers, self._workers = self._workers, []
        for process in workers:
            with contextlib.suppress(OSError, ValueError):
                assert process.stdin is not None
                pickle.dump(None, process.stdin)
                process.stdin.close()
            try:
                process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()

    def __del__(self) -> None:
        try:  # noqa: SIM105 - at interpreter exit contextlib may be gone; the workers then end on end of input
            self.close()
        except Exception:
            pass

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_workers": []}
