"""The contract every task family meets: :class:`Example`, :class:`Task` and split handling."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from textgym.error import InvalidArgumentError, check_int, suggest

if TYPE_CHECKING:
    from textgym.scorers.base import Scorer

__all__ = ["SPLITS", "Example", "GeneratedSplit", "Task", "check_split", "split_of", "split_sizes", "texts_fingerprint"]

DEFAULT_SPLIT_SIZES = {"train": 20000, "validation": 500, "test": 1000}

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


def split_sizes(num_examples: Mapping[str, int] | None) -> dict[str, int]:
    """The sizes of generated splits: the defaults, overridden per split by ``num_examples``."""
    sizes = dict(DEFAULT_SPLIT_SIZES)
    for key, value in (num_examples or {}).items():
        check_split(key)
        sizes[key] = check_int(f"num_examples[{key!r}]", value)
    return sizes


def texts_fingerprint(texts: Iterable[str]) -> str:
    """A SHA-256 over ``texts``, for the tokenizer cache key of a task built from data."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return f"data-{digest.hexdigest()}"


class GeneratedSplit(Sequence[Example]):
    """A lazily generated split: example ``i`` is ``generate(split, i)``, made on first access and kept."""

    def __init__(self, generate: Callable[[str, int], Example], split: str, size: int) -> None:
        self._generate, self._split, self._size = generate, split, size
        self._cache: dict[int, Example] = {}

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Example]: ...
    def __getitem__(self, index: int | slice) -> Example | Sequence[Example]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if not -self._size <= index < self._size:
            raise IndexError(f"{self._split} split has {self._size} examples, got index {index}")
        index %= self._size
        example = self._cache.get(index)
        if example is None:
            example = self._cache[index] = self._generate(self._split, index)
        return example


class Task(ABC):
    """A task family instance: a source of examples per split plus a scorer.

    Subclasses set :attr:`name`, :attr:`scorer` and :attr:`metric_scorers`, implement
    :meth:`tokenizer_texts` and :meth:`tokenizer_fingerprint`, and either fill ``_data`` (examples loaded
    from a dataset, by split) or implement ``_generate(split, index)`` for a procedural corpus whose split
    sizes are ``_sizes``.
    """

    name: str = "task"
    splits: tuple[str, ...] = SPLITS
    prompt_template: str = "{source}\n"
    dataset: Any = "builtin"
    scorer: Scorer
    metric_scorers: Mapping[str, Scorer]
    _data: dict[str, list[Example]] | None = None
    _sizes: Mapping[str, int] = DEFAULT_SPLIT_SIZES

    def _generate(self, split: str, index: int) -> Example:
        """Example ``index`` of ``split`` of the procedural corpus (tasks without one never get here)."""
        raise NotImplementedError(f"{type(self).__name__} has no procedural corpus")

    def examples(self, split: str) -> Sequence[Example]:
        """The examples of ``split``: loaded ones, or a lazily generated split of the procedural corpus."""
        check_split(split, self.splits)
        if self._data is None:
            generated: dict[str, GeneratedSplit] = self.__dict__.setdefault("_generated_splits", {})
            if split not in generated:
                generated[split] = GeneratedSplit(self._generate, split, self._sizes[split])
            return generated[split]
        if split not in self._data:
            raise InvalidArgumentError(
                f"Dataset {self.dataset!r} has no {split!r} split. Available: {sorted(self._data)}."
            )
        return self._data[split]

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
