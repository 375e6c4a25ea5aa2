"""PPO for text generation: pure functions (advantages, losses), the configuration, rollouts and the trainer."""

from __future__ import annotations

from agents.ppo.advantages import compute_gae
from agents.ppo.config import PPOConfig
from agents.ppo.loss import clipped_surrogate_loss, clipped_value_loss, masked_mean

__all__ = ["PPO", "PPOConfig", "clipped_surrogate_loss", "clipped_value_loss", "compute_gae", "masked_mean"]


def __getattr__(name: str) -> object:
    # Lazy: the trainer imports gymnasium envs and transformers.
    if name == "PPO":
        from agents.ppo.ppo import PPO

        return PPO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
