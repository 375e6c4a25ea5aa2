"""Agents for textgym environments: the Agent protocol, baselines, and the trainers (imported on first use).

Example:
    >>> from agents import GRPO, PPO, PPOConfig, ReST, SFT, SFTConfig  # they load torch/transformers lazily
"""

from __future__ import annotations

from agents.base import Agent
from agents.baselines import GreedyAgent, RandomAgent, ReferenceAgent

__all__ = ["GRPO", "PPO", "SFT", "Agent", "GreedyAgent", "PPOConfig", "RandomAgent", "ReST", "ReferenceAgent",
           "SFTConfig"]

_LAZY = {"GRPO": "agents.grpo", "PPO": "agents.ppo", "PPOConfig": "agents.ppo", "ReST": "agents.rest",
         "SFT": "agents.sft", "SFTConfig": "agents.sft"}


def __getattr__(name: str) -> object:
    # Lazy, as SB3's package is not: the trainers import transformers, which `import agents` should not pay for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
