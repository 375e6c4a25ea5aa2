"""Spread the host scoring of the rows that finished in one step over the CPU cores.

sacreBLEU is pure Python: one process scores one sentence at a time (~50-300 us). When a vector env
finishes several rows in one step, :class:`ParallelScorer` sends a share of them to each worker process,
scores its own share meanwhile, then collects the workers' scores. A worker is a process with a copy of the
scorer, talking over a pipe (a round trip costs ~0.1 ms, against ~0.1-0.3 ms per sentence, so splitting
pays from a handful of sentences on). Workers are forked where the platform can (Linux: they start at once,
with the scorer already in memory, and never re-import the user's ``__main__``); elsewhere they are spawned.
They never touch torch or the tokenizer. Scorers that are parallel already (the code sandbox) are always
scored in this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import warnings
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from textgym.scorers.base import Scorer
from textgym.scorers.sacrebleu import SacreBLEUScorer
from textgym.tasks.base import Example

__all__ = ["ParallelScorer"]


def _worker(connection: Connection, scorer: Scorer) -> None:
    """Score ``(texts, references)`` requests until ``None`` arrives or the parent goes away."""
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        texts, references = request
        try:
            examples = [Example("", "", refs) for refs in references]
            connection.send(("ok", np.asarray(scorer.score(texts, examples), dtype=np.float64)))
        except Exception as exc:  # reported to the parent, which scores the share itself
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


class ParallelScorer:
    """Score with ``scorer``, splitting batches of at least ``min_batch`` texts over ``num_workers`` processes.

    Args:
        scorer: The task's scorer. Only sacreBLEU scorers are sent to workers (they need nothing but the
            references); anything else always runs in this process.
        num_workers: Extra processes (default: cores - 1; 0 disables).
        min_batch: Smallest batch worth splitting.

    The scores are the scorer's own, in order (a test compares them with serial scoring). A worker that fails
    or dies is reported with a warning and its share is scored in this process.
    """

    def __init__(self, scorer: Scorer, num_workers: int | None = None, min_batch: int = 4) -> None:
        self.scorer = scorer
        self.num_workers = max(0, (os.cpu_count() or 1) - 1) if num_workers is None else int(num_workers)
        self.min_batch = min_batch
        self._workers: list[tuple[Any, Connection]] = []

    @property
    def parallel(self) -> bool:
        """Whether large batches are split over worker processes."""
        return self.num_workers > 0 and isinstance(self.scorer, SacreBLEUScorer)

    def score(self, texts: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
        """Scores in [0, 1], the same as ``scorer.score(texts, examples)``."""
        if not self.parallel or len(texts) < self.min_batch:
            return np.asarray(self.scorer.score(texts, examples), dtype=np.float64)
        workers = self.start()
        # contiguous shares of about equal text length (a sentence's cost grows with its length)
        lengths = np.cumsum([len(t) for t in texts])
        bounds = np.searchsorted(lengths, lengths[-1] * np.arange(1, len(workers) + 1) / (len(workers) + 1))
        edges = [0, *np.minimum(bounds + 1, len(texts)).tolist(), len(texts)]
        sent: list[tuple[Connection | None, int, int]] = []
        for (_, connection), start, stop in zip(workers, edges[1:-1], edges[2:], strict=True):
            try:
                connection.send((list(texts[start:stop]), [ex.references for ex in examples[start:stop]]))
                sent.append((connection, start, stop))
            except (OSError, ValueError):
                sent.append((None, start, stop))
        parts = [np.asarray(self.scorer.score(texts[: edges[1]], examples[: edges[1]]), dtype=np.float64)]
        for receiver, start, stop in sent:
            parts.append(self._collect(receiver, texts[start:stop], examples[start:stop]))
        return np.concatenate(parts)

    def _collect(self, connection: Connection | None, texts: Sequence[str], examples: Sequence[Example]
                 ) -> np.ndarray:
        try:
            if connection is None:
                raise EOFError("the request could not be sent")
            status, value = connection.recv()
        except (EOFError, OSError) as exc:
            status, value = "error", f"the worker process is gone ({type(exc).__name__}: {exc})"
            self.close()
        if status == "ok":
            return value
        warnings.warn(f"A scoring worker failed ({value}); scoring its share in this process.", RuntimeWarning,
                      stacklevel=3)
        return np.asarray(self.scorer.score(texts, examples), dtype=np.float64)

    def start(self) -> list[tuple[Any, Connection]]:
        """Start the worker processes now (they start on the first batch to split otherwise)."""
        if not self._workers:
            methods = multiprocessing.get_all_start_methods()
            context: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            for _ in range(self.num_workers):
                parent, child = context.Pipe()
                process = context.Process(target=_worker, args=(child, self.scorer), daemon=True,
                                          name="textgym-scorer")
                process.start()
                child.close()
                self._workers.append((process, parent))
        return self._workers

    def close(self) -> None:
        """Stop the worker processes."""
        workers, self._workers = self._workers, []
        for process, connection in workers:
            with contextlib.suppress(OSError, ValueError):
                connection.send(None)
            connection.close()
            process.join(timeout=1)
            if process.is_alive():
                process.terminate()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_workers": []}
