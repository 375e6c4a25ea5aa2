"""Evaluation of an agent on a fixed list of examples: episodes in batches, then corpus metrics.

The examples are the first ``episodes`` of the split, in order, so every agent and every seed sees the same
ones. Each batch starts its rows on chosen examples (``reset(options={"example_index": ...})``), asks the agent
for one action per row (``predict(obs, deterministic=True)`` on numpy observations) until every row ended,
and keeps the decoded responses. Corpus metrics (sacreBLEU BLEU/chrF with their signatures, pass@1, slot
accuracy) are then computed on all responses together by the task's own metric scorers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from benchmarks.leaderboard.suites import METRICS
from textgym.error import InvalidActionError, InvalidArgumentError
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["Evaluation", "evaluate_agent"]


@dataclass
class Evaluation:
    """What :func:`evaluate_agent` measured.

    Attributes:
        scores: Metric -> corpus value on its 0-100 scale.
        signatures: Metric -> its signature (sacreBLEU's, or the scorer's own).
        mean_reward: Mean episode reward (the env's reward).
        episodes: Episodes played.
        tokens: Tokens generated.
        seconds: Wall time.
        responses: The decoded responses, in example order.
    """

    scores: dict[str, float]
    signatures: dict[str, str]
    mean_reward: float
    episodes: int
    tokens: int
    seconds: float
    responses: list[str]


def _actions(agent: Any, obs: dict[str, np.ndarray], rows: int) -> np.ndarray:
    actions, _ = agent.predict(obs, deterministic=True)
    array = actions.detach().cpu().numpy() if isinstance(actions, torch.Tensor) else np.asarray(actions)
    if array.shape != (rows,):
        raise InvalidActionError(
            f"Agent {type(agent).__name__}.predict returned actions of shape {array.shape} for a batch of {rows} "
            f"observations; the leaderboard needs one token id per row, shape ({rows},)."
        )
    return array


def evaluate_agent(agent: Any, envs: TextGenVectorEnv, episodes: int | None, metrics: Sequence[str]
                   ) -> Evaluation:
    """Play the first ``episodes`` examples of ``envs``' split (None: all) and score them as a corpus."""
    examples = envs.examples
    episodes = len(examples) if episodes is None else episodes
    if not 1 <= episodes <= len(examples):
        raise InvalidArgumentError(
            f"Expected episodes in 1..{len(examples)} (the {envs.split} split's size), got {episodes}."
        )
    available = sorted(m for m, scorer in METRICS.items() if scorer in envs.task.metric_scorers)
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise InvalidArgumentError(
            f"Metric(s) {unknown} not available for the {envs.task.name!r} task. Accepted: {available}."
        )
    N = envs.num_envs
    responses: list[str] = [""] * episodes
    rewards = np.zeros(episodes)
    tokens = 0
    start = time.perf_counter()
    for first in range(0, episodes, N):
        wanted = np.arange(first, min(first + N, episodes))
        index = np.concatenate([wanted, np.full(N - len(wanted), wanted[-1])])  # spare rows repeat the last
        obs, _ = envs.reset(seed=0, options={"example_index": index})
        total, done = torch.zeros(N, dtype=torch.float64), torch.zeros(N, dtype=torch.bool)
        while not bool(done.all()):
            numpy_obs = {k: v.cpu().numpy() for k, v in obs.items()}
            obs, reward, _, _, info = envs.step(_actions(agent, numpy_obs, N))
            total += reward.cpu().double()
            ended = info["_final_info"].cpu()
            if bool(ended.any()):
                final = info["final_info"]
                for row in ended.nonzero().flatten().tolist():
                    if row < len(wanted):
                        responses[first + row] = final["response"][row]
                        tokens += int(final["num_tokens"][row])
            done |= ended
        rewards[wanted] = total[: len(wanted)].numpy()
    seconds = time.perf_counter() - start
    chosen = list(examples[:episodes])
    scores, signatures = {}, {}
    for metric in metrics:
        corpus = envs.task.metric_scorers[METRICS[metric]].corpus_score(responses, chosen)
        scores[metric], signatures[metric] = float(corpus.raw), corpus.signature
    return Evaluation(scores, signatures, float(rewards.mean()), episodes, tokens, seconds, responses)
