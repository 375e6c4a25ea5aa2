"""Agents for textgym environments: the Agent protocol and baselines (PPO comes in agents.ppo)."""

from __future__ import annotations

from agents.base import Agent
from agents.baselines import GreedyAgent, RandomAgent, ReferenceAgent

__all__ = ["Agent", "GreedyAgent", "RandomAgent", "ReferenceAgent"]
