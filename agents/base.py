"""The :class:`Agent` protocol the benchmarks drive: Stable-Baselines3's ``predict`` signature.

Any object with this ``predict`` (an SB3 model included) is an agent.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Agent"]


@runtime_checkable
class Agent(Protocol):
    """Chooses actions from observations, like ``stable_baselines3`` ``BaseAlgorithm.predict``."""

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray | np.integer, tuple[np.ndarray, ...] | None]:
        """Return the action(s) for ``observation`` and the next recurrent state (None if stateless)."""
        ...


def _response_length(observation: dict[str, Any], max_prompt_tokens: int) -> int:
    """Number of tokens generated so far: the mask's ones after the prompt cells."""
    return int(np.asarray(observation["attention_mask"])[..., max_prompt_tokens:].sum())
