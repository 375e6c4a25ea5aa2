"""Agent factories from "outside" the package, loaded by the leaderboard as tests.benchmarks.outside_agents:NAME."""

from __future__ import annotations

from typing import Any

import numpy as np


class FirstTokenAgent:
    """Always answers the reference's first token, then EOS: a deterministic agent with no learning."""

    def __init__(self, context: Any) -> None:
        self.envs = context.eval_env

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        envs = self.envs
        position = observation["attention_mask"][:, envs.max_prompt_tokens :].sum(1)
        first = envs.reference_ids[envs.example_index, 0, 0].cpu().numpy()
        return np.where(position == 0, first, envs.eos_token_id), None


def first_token(context: Any) -> FirstTokenAgent:
    """Factory of :class:`FirstTokenAgent`."""
    return FirstTokenAgent(context)


def a2c(context: Any) -> Any:
    """Stock Stable-Baselines3 A2C on the task's vector env, trained by the runner through its own learn()."""
    from stable_baselines3 import A2C

    from textgym.vector import SB3VecEnv

    venv = SB3VecEnv(context.make_vec_env(num_envs=4, autoreset_mode="SameStep"))
    return A2C("MultiInputPolicy", venv, n_steps=8, seed=context.seed, device="cpu")


def no_predict(context: Any) -> object:
    """Returns something that is not an agent."""
    return object()


class _BadSignature:
    def predict(self) -> None:
        """Takes no observation."""


def bad_signature(context: Any) -> _BadSignature:
    """Returns an object whose predict takes no observation."""
    return _BadSignature()


def two_arguments(env: Any, seed: int) -> None:
    """A factory with the wrong signature."""


NOT_CALLABLE = "a string"
