"""The leaderboard's evaluation: :func:`agents.evaluation.evaluate` under the leaderboard's metric names.

The examples are the first ``episodes`` of the split, in order, so every agent and every seed sees the same ones;
the loop, the batching and the corpus scoring are the agents package's one ``evaluate``. This module only maps
the leaderboard's metric names (:data:`~benchmarks.leaderboard.suites.METRICS`: ``pass@1`` is the code task's
``pass`` scorer) onto the task's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agents.evaluation import Evaluation, evaluate
from benchmarks.leaderboard.suites import METRICS
from textgym.error import InvalidArgumentError
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["Evaluation", "evaluate_agent"]


def evaluate_agent(agent: Any, envs: TextGenVectorEnv, episodes: int | None, metrics: Sequence[str]
                   ) -> Evaluation:
    """Play the first ``episodes`` examples of ``envs``' split (None: all) and score them as a corpus."""
    available = sorted(m for m, scorer in METRICS.items() if scorer in envs.task.metric_scorers)
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise InvalidArgumentError(
            f"Metric(s) {unknown} not available for the {envs.task.name!r} task. Accepted: {available}."
        )
    result = evaluate(agent, envs, "all" if episodes is None else episodes, [METRICS[m] for m in metrics])
    return replace(result, scores={m: result.scores[METRICS[m]] for m in metrics},
                   signatures={m: result.signatures[METRICS[m]] for m in metrics})
