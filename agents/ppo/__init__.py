"""PPO for text generation: pure functions (advantages, losses) and the configuration; the trainer is to come."""

from __future__ import annotations

from agents.ppo.advantages import compute_gae
from agents.ppo.config import PPOConfig
from agents.ppo.loss import clipped_surrogate_loss, clipped_value_loss, masked_mean

__all__ = ["PPOConfig", "clipped_surrogate_loss", "clipped_value_loss", "compute_gae", "masked_mean"]
