"""Scorers: turn responses into rewards in [0, 1] and corpus-level metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textgym.error import UnknownScorerError, suggest
from textgym.scorers.base import CorpusScore, Scorer
from textgym.scorers.sacrebleu import SACREBLEU_METRICS, SacreBLEUScorer

__all__ = ["SCORERS", "CorpusScore", "SacreBLEUScorer", "Scorer", "make_scorer"]

SCORERS = SACREBLEU_METRICS
EXTRA_SCORERS = ("slot", "semantic")


def make_scorer(name: Any, accepted: tuple[str, ...] = SCORERS, **options: Any) -> Scorer:
    """Build a scorer from a name, a ``{name: weight}`` mapping (a weighted sum), or return a Scorer as is.

    Args:
        name: ``bleu``, ``chrf``, ``chrf++``, ``ter``, and where ``accepted`` lists them ``slot`` or
            ``semantic``; or a mapping such as ``{"chrf": 0.5, "slot": 0.5}``; or a Scorer instance.
        accepted: The names the calling task supports.
        options: ``semantic_model`` for the semantic scorer.

    Example:
        >>> make_scorer("bleu").name
        'bleu'
    """
    if isinstance(name, Mapping):
        from textgym.scorers.combined import WeightedScorer

        return WeightedScorer({make_scorer(n, accepted, **options): w for n, w in name.items()})
    if isinstance(name, str):
        if name not in accepted:
            raise UnknownScorerError(f"Unknown scorer {name!r}. {suggest(name, accepted)}")
        if name == "slot":
            from textgym.scorers.slot import SlotScorer

            return SlotScorer()
        if name == "semantic":
            from textgym.scorers.semantic import SemanticScorer

            return SemanticScorer(options.get("semantic_model"))
        return SacreBLEUScorer(name)
    if isinstance(name, Scorer):
        return name
    raise UnknownScorerError(
        f"Expected a scorer name or a Scorer object, got {name!r} ({type(name).__name__}). {suggest('', accepted)}"
    )
