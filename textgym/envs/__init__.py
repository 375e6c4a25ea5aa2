"""Environments: the single-episode :class:`TextGenEnv` and the id registry."""

from __future__ import annotations

from textgym.envs.registration import ENV_IDS, register_envs

__all__ = ["ENV_IDS", "TextGenEnv", "register_envs"]


def __getattr__(name: str) -> object:
    # Lazy: importing the env pulls in transformers; `import textgym` only registers ids.
    if name == "TextGenEnv":
        from textgym.envs.text_gen_env import TextGenEnv

        return TextGenEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
