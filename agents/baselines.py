"""Baseline agents: a uniformly random policy and the reference oracle (the known optimum)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import _response_length
from textgym.error import InvalidArgumentError

__all__ = ["GreedyAgent", "RandomAgent", "ReferenceAgent"]


class RandomAgent:
    """Samples token ids uniformly from ``Discrete(V)``: the floor of every task.

    Args:
        action_space: The env's action space.
        seed: Seeds the agent's own generator.
    """

    def __init__(self, action_space: gym.spaces.Discrete, seed: int | None = None) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise InvalidArgumentError(
                f"RandomAgent needs a Discrete action space, got {action_space!r} ({type(action_space).__name__})."
            )
        self.action_space = action_space
        self._rng = np.random.default_rng(seed)

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.int64, None]:
        """A uniformly random token id (``deterministic`` has no effect)."""
        return np.int64(self._rng.integers(self.action_space.n) + self.action_space.start), None


class ReferenceAgent:
    """Emits the canonical reference of the env's current example, token by token, then EOS.

    An upper bound: it reads the answer from the env. Its episodes score 1.0 on the built-in tasks.

    Args:
        env: A textgym env (wrappers are looked through with ``env.unwrapped``).
    """

    def __init__(self, env: gym.Env) -> None:
        unwrapped = env.unwrapped
        if not hasattr(unwrapped, "reference_actions"):
            raise InvalidArgumentError(
                f"ReferenceAgent needs a textgym env with reference_actions(), got {type(unwrapped).__name__}."
            )
        self.env = unwrapped

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.int64, None]:
        """The reference token at the position the observation has reached."""
        actions = self.env.reference_actions()  # type: ignore[attr-defined]
        position = _response_length(observation, self.env.max_prompt_tokens)  # type: ignore[attr-defined]
        return np.int64(actions[min(position, len(actions) - 1)]), None


class GreedyAgent:
    """Decodes greedily with a model: the most likely next token given the observation.

    Args:
        model: A :class:`~agents.policy.TransformerPolicy`.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, observation: dict[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Argmax of the next-token logits at each row's last real token (one observation or a batch)."""
        import torch

        from agents.policy import batch_observation

        ids, mask, single = batch_observation(observation)
        with torch.no_grad():
            actions = self.model.next_token(ids, mask).logits.argmax(-1).numpy()
        return (actions[0] if single else actions), None
