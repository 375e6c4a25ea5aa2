"""Exceptions raised by textgym.

Every exception derives from :class:`TextGymError` and from the builtin a caller would naturally catch
(``ValueError``, ``LookupError``, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import difflib
import math
import numbers
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
    "UnknownArgumentError",
    "UnknownDatasetError",
    "UnknownNameError",
    "UnknownScorerError",
    "UnknownTaskError",
    "UnsupportedRenderModeError",
    "check_int",
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


class UnknownArgumentError(TextGymError, TypeError):
    """A keyword argument the callee does not take: a ``TypeError``, as Python raises for one.

    SB3's ``make_vec_env`` and TorchRL's ``GymEnv`` catch ``TypeError`` to retry without an optional argument.
    """


class UnsupportedRenderModeError(TextGymError, ValueError, TypeError):
    """A ``render_mode`` the env does not have.

    Also a ``TypeError``: SB3's ``make_vec_env`` asks for ``render_mode="rgb_array"`` and retries without it on
    a ``TypeError``.
    """


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


def check_int(name: str, value: object, minimum: int = 1, maximum: int | None = None, unit: str = "") -> int:
    """Return ``value`` as an int if it is one (not a bool) in ``[minimum, maximum]``, else raise.

    The one argument check behind every count and size textgym takes. The message names the argument, the
    accepted range, the value and its type; ``unit`` is said after the range (e.g. ``" (updates)"``).

    Example:
        >>> check_int("num_envs", 4)
        4
        >>> check_int("num_envs", 0)
        Traceback (most recent call last):
        ...
        textgym.error.InvalidArgumentError: Expected num_envs to be a positive int, got 0 (int).
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
        if minimum <= number and (maximum is None or number <= maximum):
            return number
    if maximum is not None:
        wanted = f"an int in {minimum}..{maximum}"
    else:
        wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    raise InvalidArgumentError(f"Expected {name} to be {wanted}{unit}, got {value!r} ({type(value).__name__}).")


def check_positive(name: str, value: object, unit: str = "") -> float:
    """Return ``value`` as a float if it is a finite real number > 0 (not a bool), else raise.

    Example:
        >>> check_positive("timeout_s", 2, " seconds")
        2.0
        >>> check_positive("timeout_s", -1, " seconds")
        Traceback (most recent call last):
        ...
        textgym.error.InvalidArgumentError: Expected timeout_s to be a positive number of seconds, got -1 (int).
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and float(value) > 0:
        return float(value)
    raise InvalidArgumentError(f"Expected {name} to be a positive number{' of' + unit if unit else ''}, "
                               f"got {value!r} ({type(value).__name__}).")


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool, else raise (a string such as ``"no"`` is truthy: never read it as one).

    Example:
        >>> check_bool("partial_credit", "no")
        Traceback (most recent call last):
        ...
        textgym.error.InvalidArgumentError: Expected partial_credit to be True or False, got 'no' (str).
    """
    if isinstance(value, bool):
        return value
    raise InvalidArgumentError(f"Expected {name} to be True or False, got {value!r} ({type(value).__name__}).")
