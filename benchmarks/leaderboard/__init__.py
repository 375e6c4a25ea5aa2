"""The leaderboard: suites, agents by name, the resumable runner and its page (``textgym-bench leaderboard``)."""

from __future__ import annotations

from benchmarks.leaderboard.agents import BUILTIN_AGENTS, AgentContext, AgentProtocolError, load_factory, make_agent
from benchmarks.leaderboard.evaluate import Evaluation, evaluate_agent
from benchmarks.leaderboard.runner import ResultsFileError, read_results, render_folder, run_leaderboard
from benchmarks.leaderboard.suites import SUITES, Budget, Suite, TaskSpec, get_suite

__all__ = [
    "BUILTIN_AGENTS",
    "SUITES",
    "AgentContext",
    "AgentProtocolError",
    "Budget",
    "Evaluation",
    "ResultsFileError",
    "Suite",
    "TaskSpec",
    "evaluate_agent",
    "get_suite",
    "load_factory",
    "make_agent",
    "read_results",
    "render_folder",
    "run_leaderboard",
]
