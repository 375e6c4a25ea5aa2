"""The environment ids and their keyword arguments, registered with Gymnasium's own registry."""

from __future__ import annotations

import gymnasium

__all__ = ["ENV_IDS", "register_envs"]

# id -> kwargs of TextGenEnv. Once an id is released its behaviour never changes: a change is a new version.
ENV_IDS: dict[str, dict[str, object]] = {
    "TextGen-Translate-v0": {"task": "translate"},
    "TextGen-Dialogue-v0": {"task": "dialogue", "max_prompt_tokens": 192, "max_new_tokens": 48},
    "TextGen-Code-v0": {"task": "code", "max_prompt_tokens": 96, "max_new_tokens": 64},
}


def register_envs() -> None:
    """Register every textgym id with ``gymnasium`` (idempotent).

    ``order_enforce=False``: the env raises its own :class:`~textgym.error.ResetNeededError` (a
    subclass of gymnasium's ``ResetNeeded``) for a step before reset, with a message naming the fix.
    """
    for env_id, kwargs in ENV_IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point="textgym.envs.text_gen_env:TextGenEnv",
            vector_entry_point="textgym.vector.torch_env:TextGenVectorEnv",
            kwargs=dict(kwargs),
            order_enforce=False,
        )
