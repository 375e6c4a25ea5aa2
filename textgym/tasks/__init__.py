"""Task families and their registry: ``make_task("translate", target_lang="fr")``."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from textgym.error import UnknownArgumentError, UnknownTaskError, suggest
from textgym.tasks.base import SPLITS, Example, Task

__all__ = ["SPLITS", "TASKS", "Example", "Task", "make_task"]

# Task families by name, as string entry points so that importing textgym stays light.
TASKS = {
    "translate": "textgym.tasks.translate:TranslateTask",
    "code": "textgym.tasks.code:CodeTask",
    "dialogue": "textgym.tasks.dialogue:DialogueTask",
}


def make_task(name: str, **kwargs: Any) -> Task:
    """Build the task family ``name`` with its keyword arguments.

    Raises:
        UnknownTaskError: ``name`` is not a registered family (with a suggestion).
        UnknownArgumentError: a keyword is not an argument of that family (a ``TypeError``, with a suggestion).
    """
    if not isinstance(name, str) or name not in TASKS:
        raise UnknownTaskError(f"Unknown task {name!r}. {suggest(str(name), TASKS)}")
    module, _, attr = TASKS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    accepted = [p for p in inspect.signature(cls).parameters if p != "self"]
    for key in kwargs:
        if key not in accepted:
            # Python's own wording: TorchRL's GymEnv matches it to retry without the argument
            raise UnknownArgumentError(
                f"Task {name!r} got an unexpected keyword argument {key!r}. {suggest(key, accepted)}")
    return cls(**kwargs)
