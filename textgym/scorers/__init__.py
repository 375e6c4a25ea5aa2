"""Scorers: turn responses into rewards in [0, 1] and corpus-level metrics."""

from __future__ import annotations

from textgym.error import UnknownScorerError, suggest
from textgym.scorers.base import CorpusScore, Scorer
from textgym.scorers.sacrebleu import SACREBLEU_METRICS, SacreBLEUScorer

__all__ = ["SCORERS", "CorpusScore", "SacreBLEUScorer", "Scorer", "make_scorer"]

SCORERS = SACREBLEU_METRICS


def make_scorer(name: str | Scorer) -> Scorer:
    """Return the scorer called ``name`` (``bleu``, ``chrf``, ``chrf++``, ``ter``), or ``name`` if it is one.

    Example:
        >>> make_scorer("bleu").name
        'bleu'
    """
    if isinstance(name, str):
        if name not in SCORERS:
            raise UnknownScorerError(f"Unknown scorer {name!r}. {suggest(name, SCORERS)}")
        return SacreBLEUScorer(name)
    if isinstance(name, Scorer):
        return name
    raise UnknownScorerError(
        f"Expected a scorer name or a Scorer object, got {name!r} ({type(name).__name__}). {suggest('', SCORERS)}"
    )
