"""The contract every task family meets: :class:`Example`, :class:`Task` and split handling."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textgym.error import InvalidArgumentError, suggest

if TYPE_CHECKING:
    from textgym.scorers.base import Scorer

__all__ = ["SPLITS", "Example", "Task", "check_split", "split_of"]

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Example:
    """One episode's data.

    Attributes:
        id: Stable identifier, unique within the task (e.g. ``"train/17"``).
        prompt: The formatted prompt the policy conditions on.
        references: One or more acceptable responses; the first is canonical (what a ReferenceAgent emits).
        source: The raw input before the prompt template (the sentence to translate).
        meta: Free-form metadata (difficulty, language pair, origin file, ...).
    """

    id: str
    prompt: str
    references: tuple[str, ...]
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


def check_split(split: object, splits: Sequence[str] = SPLITS) -> str:
    """Return ``split`` if it names one of ``splits``, else raise :class:`InvalidArgumentError`."""
    if not isinstance(split, str) or split not in splits:
        raise InvalidArgumentError(f"Unknown split {split!r} ({type(split).__name__}). {suggest(str(split), splits)}")
    return split


def split_of(text: str, fractions: tuple[float, float] = (0.9, 0.95)) -> str:
    """Deterministic split assignment by a hash of ``text``: equal texts always land in the same split.

    The first ``fractions[0]`` of the hash range is train, up to ``fractions[1]`` validation, the rest
    test; so no sentence ever appears in two splits.

    Example:
        >>> split_of("The man reads a book.") in SPLITS
        True
    """
    bucket = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2**64
    if bucket < fractions[0]:
        return "train"
    return "validation" if bucket < fractions[1] else "test"


class Task(ABC):
    """A task family instance: a source of examples per split plus a scorer.

    Subclasses set :attr:`name`, :attr:`scorer` and :attr:`metric_scorers`, and implement
    :meth:`examples`, :meth:`tokenizer_texts` and :meth:`tokenizer_fingerprint`.
    """

    name: str = "task"
    splits: tuple[str, ...] = SPLITS
    prompt_template: str = "{source}\n"
    scorer: Scorer
    metric_scorers: Mapping[str, Scorer]

    @abstractmethod
    def examples(self, split: str) -> Sequence[Example]:
        """The examples of ``split`` (a sequence; may be generated lazily)."""

    @abstractmethod
    def tokenizer_texts(self) -> Iterator[str]:
        """Texts the default tokenizer is trained on (the training split's prompts and references)."""

    @abstractmethod
    def tokenizer_fingerprint(self) -> str:
        """A string that changes whenever :meth:`tokenizer_texts` would (the tokenizer cache key)."""

    def score(self, responses: Sequence[str], examples: Sequence[Example]) -> Any:
        """Score a batch of responses with the task's reward scorer (values in [0, 1])."""
        return self.scorer.score(responses, examples)

    def metrics(self, responses: Sequence[str], examples: Sequence[Example]) -> dict[str, Any]:
        """Sentence-level value of every metric of the task for each response: ``{name: array}``."""
        return {name: scorer.score(responses, examples) for name, scorer in self.metric_scorers.items()}

    def episode_info(self, response: str, example: Example) -> dict[str, Any]:
        """Task-specific entries for the ``info`` of a finished episode (none by default)."""
        return {}
