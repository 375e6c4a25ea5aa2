"""Test helpers shared across the suite."""

from __future__ import annotations

from typing import Any


def play(env: Any, agent: Any, seed: int | None = None, options: dict[str, Any] | None = None
         ) -> tuple[list[float], list[int], dict[str, Any], dict[str, Any]]:
    """One episode of ``agent`` on a single env: (rewards, actions, final info, final obs)."""
    obs, _ = env.reset(seed=seed, options=options)
    rewards, actions = [], []
    while True:
        action, _ = agent.predict(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        actions.append(int(action))
        assert not truncated
        if terminated:
            return rewards, actions, info, obs
