"""Evaluation, written once: play a fixed list of examples in batches, then score them as a corpus.

Every caller (``textgym evaluate``, ``textgym train``, :class:`~agents.ppo.callbacks.EvalCallback` and the
leaderboard) plays the **first** ``episodes`` examples of the env's split, in order, so every agent, checkpoint
and seed sees the same ones (drawn examples made checkpoint comparisons noisier than the change being measured).
Batches of ``num_envs`` rows start on chosen examples (``reset(options={"example_index": ...})``); the last
batch's spare rows repeat its last example and are dropped. The env is seeded first, so evaluating never draws
from torch's global generator. Corpus metrics (sacreBLEU BLEU/chrF with their signatures, pass@1, slot accuracy)
are computed on all responses together by the task's own metric scorers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from textgym.error import InvalidActionError, InvalidArgumentError, check_int
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["Evaluation", "evaluate"]


@dataclass
class Evaluation:
    """What :func:`evaluate` measured.

    Attributes:
        mean_reward: Mean episode reward (the env's reward: the final score with sparse or dense rewards).
        rewards: Each episode's reward, in example order.
        responses: The decoded responses, in example order.
        scores: Metric (a key of the task's ``metric_scorers``) -> corpus value on its 0-100 scale.
        signatures: Metric -> its signature (sacreBLEU's, or the scorer's own).
        episodes: Episodes played.
        tokens: Tokens generated.
        seconds: Wall time.
    """

    mean_reward: float
    rewards: list[float]
    responses: list[str]
    scores: dict[str, float]
    signatures: dict[str, str]
    episodes: int
    tokens: int
    seconds: float


def _agent(agent: Any, envs: TextGenVectorEnv) -> Any:
    """The player of ``agent``: a :class:`~agents.policy.TransformerPolicy` greedily, with its KV cache."""
    from agents.baselines import GreedyAgent
    from agents.policy import TransformerPolicy

    if isinstance(agent, TransformerPolicy):
        return GreedyAgent(agent.eval(), envs.max_prompt_tokens)
    if not callable(getattr(agent, "predict", None)):
        raise InvalidArgumentError(
            f"Expected an agent with predict(obs, deterministic=True) or a TransformerPolicy, got {agent!r} "
            f"({type(agent).__name__})."
        )
    return agent


def progress(enabled: bool | str, total: int, label: str, unit: str) -> Any:
    """A tqdm bar of ``total`` units, or None when not asked for (``enabled`` may be the bar's label)."""
    if enabled is False or enabled is None:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=enabled if isinstance(enabled, str) else label, unit=unit)


def _actions(agent: Any, obs: dict[str, np.ndarray], rows: int) -> np.ndarray:
    actions, _ = agent.predict(obs, deterministic=True)
    array = actions.detach().cpu().numpy() if isinstance(actions, torch.Tensor) else np.asarray(actions)
    if array.shape != (rows,):
        raise InvalidActionError(
            f"Agent {type(agent).__name__}.predict returned actions of shape {array.shape} for a batch of {rows} "
            f"observations; evaluation needs one token id per row, shape ({rows},)."
        )
    return array


def _episode_count(episodes: int | str | None, available: int, split: str) -> int:
    if episodes is None or (isinstance(episodes, str) and episodes == "all"):
        return available
    if isinstance(episodes, str):
        raise InvalidArgumentError(f"Expected episodes to be a positive int, 'all' or None, got {episodes!r}.")
    return check_int("episodes", episodes, 1, available, unit=f" (the {split} split's size)")


def _check_metrics(metrics: Sequence[str], envs: TextGenVectorEnv) -> None:
    unknown = [m for m in metrics if m not in envs.task.metric_scorers]
    if unknown:
        raise InvalidArgumentError(
            f"Metric(s) {unknown} not available for the {envs.task.name!r} task. Accepted: "
            f"{sorted(envs.task.metric_scorers)}."
        )


def evaluate(agent: Any, envs: TextGenVectorEnv, episodes: int | str | None = "all",
             metrics: Sequence[str] = (), seed: int = 0, progress_bar: bool | str = False) -> Evaluation:
    """Play the first ``episodes`` examples of ``envs``' split with ``agent`` and score them.

    Args:
        agent: Anything with SB3's ``predict(obs, deterministic=True)`` answering one token per row of a batch of
            numpy observations, or a :class:`~agents.policy.TransformerPolicy` (decoded greedily, KV-cached).
        envs: A ``TextGenVectorEnv`` with ``autoreset_mode=DISABLED`` on the split to evaluate.
        episodes: ``"all"`` (or None): every example of the split once; an int: the first that many.
        metrics: Corpus metrics to compute, keys of the task's ``metric_scorers`` (e.g. ``"chrf"``, ``"bleu"``).
        seed: Seeds the env (nothing is drawn: the examples are chosen).
        progress_bar: Show a tqdm bar over the episodes (a string: its label), as SB3's ``learn(progress_bar=)``.
    """
    if not isinstance(envs, TextGenVectorEnv) or envs.autoreset_mode != AutoresetMode.DISABLED:
        raise InvalidArgumentError(
            "Evaluation needs a TextGenVectorEnv with autoreset_mode=DISABLED (gym.make_vec(id, num_envs=..., "
            f"autoreset_mode='Disabled')), got {envs!r}."
        )
    examples = envs.examples
    count = _episode_count(episodes, len(examples), envs.split)
    _check_metrics(metrics, envs)
    player, N = _agent(agent, envs), envs.num_envs
    responses: list[str] = [""] * count
    rewards = np.zeros(count)
    tokens = 0
    last_final: dict[str, Any] = {}
    bar = progress(progress_bar, count, "evaluate", "episode")
    start = time.perf_counter()
    envs.reset(seed=seed)
    for first in range(0, count, N):
        wanted = np.arange(first, min(first + N, count))
        index = np.concatenate([wanted, np.full(N - len(wanted), wanted[-1])])  # spare rows repeat the last
        obs, _ = envs.reset(options={"example_index": index})
        total, done = torch.zeros(N, dtype=torch.float64), torch.zeros(N, dtype=torch.bool)
        while not bool(done.all()):
            numpy_obs = {k: v.cpu().numpy() for k, v in obs.items()}
            obs, reward, _, _, info = envs.step(_actions(player, numpy_obs, N))
            total += reward.cpu().double()
            if "_final_info" not in info:  # no row ended this step
                continue
            ended = info["_final_info"].cpu() & ~done
            if bool(ended.any()):
                final = last_final = info["final_info"]
                for row in ended.nonzero().flatten().tolist():
                    if row < len(wanted):
                        responses[first + row] = final["response"][row] if "response" in final else ""
                        tokens += int(final["num_tokens"][row])
            done |= ended
        rewards[wanted] = total[: len(wanted)].numpy()
        if bar is not None:
            bar.update(len(wanted))
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    if metrics and "response" not in last_final:
        raise InvalidArgumentError(
            "Corpus metrics need the responses, which this env does not decode (reward='token_bleu' without "
            "info_metrics). Build it with info_metrics=True."
        )
    chosen = list(examples[:count])
    scores, signatures = {}, {}
    for metric in metrics:
        corpus = envs.task.metric_scorers[metric].corpus_score(responses, chosen)
        scores[metric], signatures[metric] = float(corpus.raw), corpus.signature
    return Evaluation(float(rewards.mean()), rewards.tolist(), responses, scores, signatures, count, tokens, seconds)
