"""Slot accuracy for task-oriented dialogue: does the reply mention every required detail, and no stale one?"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from textgym.error import InvalidArgumentError
from textgym.scorers.base import CorpusScore

if TYPE_CHECKING:
    from textgym.tasks.base import Example

__all__ = ["SlotScorer", "mentions"]


@lru_cache(maxsize=4096)
def _pattern(alias: str) -> re.Pattern[str]:
    # word boundaries that also refuse ':' so that "2" does not match inside "2:30 pm"
    return re.compile(rf"(?<![\w:]){re.escape(alias.lower())}(?![\w:])")


def mentions(text: str, aliases: Sequence[str]) -> bool:
    """Whether ``text`` mentions any alias as a whole word, case-insensitively.

    Example:
        >>> mentions("A table for 4 at 2:30 pm", ["four", "4"]), mentions("at 2:30 pm", ["2"])
        (True, False)
    """
    lowered = text.lower()
    return any(_pattern(a).search(lowered) for a in aliases)


class SlotScorer:
    """Share of the example's required slots the reply mentions, minus stale (superseded) values it repeats.

    Reads ``example.meta["slots"]`` (pairs of slot name and accepted strings) and ``example.meta["stale"]``;
    the score is ``(hits - stale_mentions) / len(slots)`` clipped to [0, 1].
    """

    name = "slot"

    def _one(self, response: str, example: Example) -> float:
        slots = example.meta.get("slots")
        if not slots:
            raise InvalidArgumentError(
                f"The slot scorer needs examples with meta['slots'] (the built-in dialogue corpus); example "
                f"{example.id!r} has none. Use scorer='chrf' or 'semantic' for this dataset."
            )
        hits = sum(mentions(response, aliases) for _, aliases in slots)
        # A stale value counts only where it is not part of a current one: an old "7" people must not match
        # inside "7 pm", while an old "8 pm" still counts next to a current "8" tickets.
        lowered = response.lower()
        current = [m.span() for _, aliases in slots for a in aliases for m in _pattern(a).finditer(lowered)]
        stale = 0
        for value in example.meta.get("stale", ()):
            spans = (m.span() for m in _pattern(value).finditer(lowered))
            stale += any(not any(s <= start and end <= e for s, e in current) for start, end in spans)
        return min(max((hits - stale) / len(slots), 0.0), 1.0)

    def score(self, responses: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
        """Slot accuracy per response."""
        return np.array([self._one(r, ex) for r, ex in zip(responses, examples, strict=True)], dtype=np.float64)

    def corpus_score(self, responses: Sequence[str], examples: Sequence[Example]) -> CorpusScore:
        """Mean slot accuracy over the corpus."""
        value = float(self.score(responses, examples).mean()) if responses else 0.0
        return CorpusScore("slot", value, 100.0 * value, "slot-accuracy|word-boundary|case:lc|stale:penalised")
