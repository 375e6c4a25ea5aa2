"""Agents for textgym environments: the Agent protocol and baselines (PPO comes in agents.ppo)."""

from __future__ import annotations

from agents.base import Agent
from agents.baselines import RandomAgent, ReferenceAgent

__all__ = ["Agent", "RandomAgent", "ReferenceAgent"]
