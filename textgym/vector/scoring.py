"""Spread the host scoring of a large batch of finished rows over the CPU cores.

sacreBLEU is pure Python: one process scores one sentence at a time (~50-150 us). When a vector env
finishes hundreds of rows in one step, :class:`ParallelScorer` scores one share in this process and the
others in worker processes (started once, with ``spawn``, holding a copy of the scorer). Small batches, and
scorers that are parallel already (the code sandbox), are scored in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from textgym.scorers.base import Scorer
from textgym.scorers.sacrebleu import SacreBLEUScorer
from textgym.tasks.base import Example

__all__ = ["ParallelScorer"]

_WORKER_SCORER: Any = None


def _init_worker(scorer: Scorer) -> None:
    global _WORKER_SCORER
    _WORKER_SCORER = scorer


def _score_chunk(texts: list[str], references: list[tuple[str, ...]]) -> np.ndarray:
    examples = [Example("", "", refs) for refs in references]
    return np.asarray(_WORKER_SCORER.score(texts, examples), dtype=np.float64)


class ParallelScorer:
    """Score with ``scorer``, splitting batches of at least ``min_batch`` rows over ``num_workers`` processes.

    Args:
        scorer: The task's scorer. Only sacreBLEU scorers are sent to workers (they need nothing but the
            references); anything else always runs in this process.
        num_workers: Extra processes (default: cores - 1; 0 disables).
        min_batch: Smallest batch worth splitting.
    """

    def __init__(self, scorer: Scorer, num_workers: int | None = None, min_batch: int = 128) -> None:
        self.scorer = scorer
        self.num_workers = max(0, (os.cpu_count() or 1) - 1) if num_workers is None else int(num_workers)
        self.min_batch = min_batch
        self._pool: ProcessPoolExecutor | None = None

    @property
    def parallel(self) -> bool:
        """Whether large batches are split over worker processes."""
        return self.num_workers > 0 and isinstance(self.scorer, SacreBLEUScorer)

    def score(self, texts: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
        """Scores in [0, 1], the same as ``scorer.score(texts, examples)``."""
        if not self.parallel or len(texts) < self.min_batch:
            return np.asarray(self.scorer.score(texts, examples), dtype=np.float64)
        pool = self.start()
        parts = np.array_split(np.arange(len(texts)), self.num_workers + 1)
        futures = [pool.submit(_score_chunk, [texts[i] for i in part], [examples[i].references for i in part])
                   for part in parts[1:]]
        local = np.asarray(self.scorer.score([texts[i] for i in parts[0]], [examples[i] for i in parts[0]]))
        return np.concatenate([local, *(f.result() for f in futures)])

    def start(self) -> ProcessPoolExecutor:
        """Start the worker processes now (they start on the first large batch otherwise)."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.num_workers, mp_context=context, initializer=_init_worker,
                                             initargs=(self.scorer,))
            for future in [self._pool.submit(_score_chunk, [], []) for _ in range(self.num_workers)]:
                future.result()  # wait until every worker has imported and unpickled the scorer
        return self._pool

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pool": None}
