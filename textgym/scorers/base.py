"""The scorer contract: batched, returns scores in [0, 1] plus corpus-level metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from textgym.tasks.base import Example

__all__ = ["CorpusScore", "Scorer"]


@dataclass(frozen=True)
class CorpusScore:
    """A corpus-level figure: the value in [0, 1], the metric's own scale and its signature."""

    name: str
    value: float
    raw: float
    signature: str


@runtime_checkable
class Scorer(Protocol):
    """Scores a batch of responses against their examples' references.

    ``score`` returns one float64 per response in [0, 1] (float64 so that rewards equal the metric's own
    value exactly); ``corpus_score`` returns the corpus-level figure used for evaluation.
    """

    name: str

    def score(self, responses: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
        """Sentence-level scores in [0, 1], shape ``(len(responses),)``."""
        ...

    def corpus_score(self, responses: Sequence[str], examples: Sequence[Example]) -> CorpusScore:
        """Corpus-level score of all responses together."""
        ...
