"""A weighted sum of scorers, e.g. ``{"chrf": 0.5, "slot": 0.5}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from textgym.error import InvalidArgumentError
from textgym.scorers.base import CorpusScore, Scorer

if TYPE_CHECKING:
    from textgym.tasks.base import Example

__all__ = ["WeightedScorer"]


class WeightedScorer:
    """``sum(w_i * scorer_i)`` with non-negative weights that sum to 1, so the score stays in [0, 1].

    Args:
        parts: ``{scorer: weight}`` with scorers already built.
    """

    def __init__(self, parts: Mapping[Scorer, float]) -> None:
        weights = list(parts.values())
        if not parts or any(not isinstance(w, (int, float)) or w < 0 for w in weights):
            raise InvalidArgumentError(f"Expected non-negative scorer weights, got {dict(parts)!r}.")
        if abs(sum(weights) - 1.0) > 1e-9:
            raise InvalidArgumentError(f"Scorer weights must sum to 1 so scores stay in [0, 1]; got {sum(weights)}.")
        self.parts = dict(parts)
        self.name = "+".join(f"{w:g}*{s.name}" for s, w in self.parts.items())

    def score(self, responses: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
        """The weighted sum of the parts' scores."""
        total = np.zeros(len(responses), dtype=np.float64)
        for scorer, weight in self.parts.items():
            total += weight * scorer.score(responses, examples)
        return total

    def corpus_score(self, responses: Sequence[str], examples: Sequence[Example]) -> CorpusScore:
        """The weighted sum of the parts' corpus values, with their signatures joined."""
        scores = [(s.corpus_score(responses, examples), w) for s, w in self.parts.items()]
        value = sum(c.value * w for c, w in scores)
        return CorpusScore(self.name, value, 100.0 * value, " + ".join(f"{w:g}*[{c.signature}]" for c, w in scores))
