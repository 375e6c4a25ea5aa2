"""TorchToNumpy: a vector wrapper that speaks numpy to loops written for numpy vector envs (CleanRL style)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorEnv, VectorWrapper

__all__ = ["TorchToNumpy"]


def to_numpy(value: Any) -> Any:
    """Tensors (nested in dicts, lists and tuples) to numpy arrays; anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(v) for v in value)
    return value


class TorchToNumpy(VectorWrapper):
    """Observations, rewards, flags and infos as numpy arrays; actions accepted as numpy arrays.

    Example:
        >>> import gymnasium as gym, textgym
        >>> envs = TorchToNumpy(gym.make_vec("TextGen-Translate-v0", num_envs=2, num_examples={"train": 50}))
        >>> obs, _ = envs.reset(seed=0)
        >>> type(obs["input_ids"]).__name__, obs["input_ids"].shape
        ('ndarray', (2, 144))
    """

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)

    @property
    def autoreset_mode(self) -> Any:
        """The wrapped env's autoreset mode (read as an attribute by TorchRL's ``GymWrapper``)."""
        return self.env.metadata.get("autoreset_mode")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        """Reset and convert."""
        obs, infos = self.env.reset(seed=seed, options=options)
        return to_numpy(obs), to_numpy(infos)

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step with numpy actions and convert the results."""
        obs, rewards, terminated, truncated, infos = self.env.step(np.asarray(actions))
        return to_numpy(obs), to_numpy(rewards), to_numpy(terminated), to_numpy(truncated), to_numpy(infos)
