"""textgym: text generation as Gymnasium reinforcement-learning environments.

``import textgym`` registers the environment ids (``TextGen-Translate-v0``, ``TextGen-Dialogue-v0``,
``TextGen-Code-v0``, each with ``gym.make`` and ``gym.make_vec``) with Gymnasium and stays light: torch and
transformers load only when an environment is built.

Example:
    >>> import gymnasium as gym
    >>> import textgym
    >>> "TextGen-Translate-v0" in gym.registry
    True
"""

from __future__ import annotations

from typing import Any

from textgym.envs.registration import ENV_IDS, register_envs
from textgym.error import TextGymError

__all__ = [
    "ENV_IDS",
    "Example",
    "Scorer",
    "Task",
    "TextGenEnv",
    "TextGenVectorEnv",
    "TextGymError",
    "make_scorer",
    "make_task",
    "register_envs",
]
__version__ = "0.1.0"

_LAZY = {
    "TextGenEnv": "textgym.envs.text_gen_env",
    "TextGenVectorEnv": "textgym.vector.torch_env",
    "Task": "textgym.tasks.base",
    "Example": "textgym.tasks.base",
    "make_task": "textgym.tasks",
    "Scorer": "textgym.scorers.base",
    "make_scorer": "textgym.scorers",
}

register_envs()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
