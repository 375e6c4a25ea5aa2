"""Exceptions raised by textgym.

Every exception derives from :class:`TextGymError` and from the builtin a caller would naturally catch
(``ValueError``, ``LookupError``, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from gymnasium.error import ResetNeeded

__all__ = [
    "DataFileError",
    "DataFileNotFoundError",
    "DatasetUnavailableError",
    "InvalidActionError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "ResetNeededError",
    "TextGymError",
    "TokenizerError",
    "UnknownDatasetError",
    "UnknownNameError",
    "UnknownScorerError",
    "UnknownTaskError",
    "suggest",
]


class TextGymError(Exception):
    """Root of every error textgym raises on purpose."""


class InvalidArgumentError(TextGymError, ValueError):
    """A constructor or function argument has a value outside the accepted ones."""


class InvalidActionError(TextGymError, ValueError):
    """An action is not a token id of the action space (wrong type, shape or range)."""


class ResetNeededError(TextGymError, ResetNeeded):
    """``step`` was called before ``reset`` or after the episode ended."""


class UnknownNameError(TextGymError, LookupError):
    """A name (task, scorer, dataset) is not one of the registered ones."""


class UnknownTaskError(UnknownNameError):
    """Unknown task family name."""


class UnknownScorerError(UnknownNameError):
    """Unknown scorer / metric name."""


class UnknownDatasetError(UnknownNameError):
    """Unknown dataset name or layout."""


class DataFileError(TextGymError, ValueError):
    """A data file is empty, misaligned, malformed or not valid UTF-8."""


class DataFileNotFoundError(DataFileError, FileNotFoundError):
    """A data file or folder does not exist."""


class DatasetUnavailableError(TextGymError, OSError):
    """A dataset could not be loaded (for example it is not cached and the machine is offline)."""


class MissingDependencyError(TextGymError, ImportError):
    """An optional library needed for the requested feature is not installed."""


class TokenizerError(TextGymError, ValueError):
    """A tokenizer cannot serve the environment (no EOS token, unloadable, ...)."""


def suggest(name: object, choices: Iterable[str]) -> str:
    """Return ' Did you mean ...?' plus the accepted names, for error messages about an unknown ``name``.

    Example:
        >>> suggest("chrff", ["bleu", "chrf", "ter"])
        "Did you mean 'chrf'? Accepted: 'bleu', 'chrf', 'ter'."
    """
    choices = sorted(choices)
    close = difflib.get_close_matches(str(name), choices, n=1)
    accepted = "Accepted: " + ", ".join(repr(c) for c in choices) + "."
    return (f"Did you mean {close[0]!r}? " if close else "") + accepted
