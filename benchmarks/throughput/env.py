"""Env-steps per second of TextGenVectorEnv against Gymnasium's SyncVectorEnv and SB3's DummyVecEnv, in one run.

    python -m benchmarks.throughput.env [--num-envs 1 64 1024 4096] [--seconds 1.5] [--device cpu]
        [--peers sync dummy | none] [--repeats 3]

An env-step is one token in one sub-env. Every side runs a uniformly random policy on TextGen-Translate-v0
(built-in corpus, 64-token cap) with scoring included, and both sides of a comparison use the same reward:
``token_bleu`` (ours: on a GPU incrementally on the device, on the CPU from scratch for the rows that finished,
in one numpy batch per step; the single env from scratch with Python counters at the end of each episode)
and sacreBLEU chrF (both score finished episodes on the host; the single envs with
``info_metrics=False`` so they compute nothing the vector env does not). The peers share one task and one
tokenizer object across their sub-envs. Printed: steps/s, the ratios, and the share of step time spent
scoring. It also reports how well token BLEU tracks sacreBLEU's BLEU (Pearson r over the same episodes).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from textgym.envs.text_gen_env import TextGenEnv
from textgym.tasks import make_task
from textgym.tokenization import build_tokenizer
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["main", "measure", "token_bleu_correlation"]

ENV_ID = "TextGen-Translate-v0"


class _Timer:
    """Accumulates the time spent in wrapped callables (the scorers)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


@contextlib.contextmanager
def _timed_scoring(task: Any, single_envs: list[TextGenEnv], vector: TextGenVectorEnv | None) -> Iterator[_Timer]:
    timer = _Timer()
    original_score = task.score
    task.score = timer.wrap(original_score)  # sacreBLEU, for the single envs
    if vector is not None:
        vector._scorer.score = timer.wrap(vector._scorer.score)  # type: ignore[method-assign]
    for env in single_envs:
        if env.reward == "token_bleu":  # the single env's own token BLEU (task.score is not called then)
            env._score = timer.wrap(env._score)  # type: ignore[method-assign]
    if vector is not None and vector._bleu is not None:  # incremental on an accelerator, from scratch on the CPU
        vector._bleu.update = timer.wrap(vector._bleu.update)  # type: ignore[method-assign]
        vector._bleu.score = timer.wrap(vector._bleu.score)  # type: ignore[method-assign]
        vector._bleu.host_scores = timer.wrap(vector._bleu.host_scores)  # type: ignore[method-assign]
    try:
        yield timer
    finally:
        task.score = original_score


def _run(step: Callable[[], None], num_envs: int, seconds: float, min_steps: int) -> tuple[float, float]:
    """Steps until ``seconds`` passed *and* ``min_steps`` were taken (whole episodes, so scoring is counted)."""
    step()  # warm up
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or steps < min_steps:
        step()
        steps += 1
    return steps * num_envs / elapsed, elapsed


@functools.lru_cache(maxsize=1)
def _task_and_tokenizer() -> tuple[Any, Any]:
    task = make_task("translate")
    return task, build_tokenizer(task)


def measure(num_envs: int, reward: str, side: str, seconds: float = 1.5, device: str = "cpu") -> dict[str, float]:
    """Env-steps/s of one side (``ours``, ``sync``, ``dummy``) with ``reward`` (``token_bleu`` or ``chrf``)."""
    task, tokenizer = _task_and_tokenizer()
    env_kwargs = {"reward": "token_bleu" if reward == "token_bleu" else "task", "info_metrics": False}
    vocab = len(tokenizer)
    rng = np.random.default_rng(0)
    if side == "ours":
        # on an accelerator the random actions are in range by construction, and a range check would read them back
        venv = TextGenVectorEnv(task, num_envs, device=device, tokenizer=tokenizer,
                                check_actions=torch.device(device).type == "cpu", **env_kwargs)
        venv.reset(seed=0)
        if venv._scorer.parallel:
            venv._scorer.start()  # process start-up is not part of stepping
        generator = torch.Generator(device=venv.device).manual_seed(0)

        def step() -> None:
            venv.step(torch.randint(0, vocab, (num_envs,), device=venv.device, generator=generator))

        singles: list[TextGenEnv] = []
    else:
        singles = [TextGenEnv(task, tokenizer=tokenizer, **env_kwargs) for _ in range(num_envs)]
        fns = [lambda e=e: e for e in singles]
        peer: Any = gym.vector.SyncVectorEnv(fns) if side == "sync" else DummyVecEnv(fns)
        if side == "sync":
            peer.reset(seed=0)
        else:
            peer.seed(0)
            peer.reset()
        venv = None

        def step() -> None:
            peer.step(rng.integers(0, vocab, size=num_envs))

    with _timed_scoring(task, singles, venv) as timer:
        # two full 64-token episodes per env at least: a random policy rarely emits EOS, so each env's
        # episodes end together at the cap and a shorter window could miss the scoring altogether
        rate, elapsed = _run(step, num_envs, seconds, min_steps=130)
    return {"steps_per_s": rate, "scoring_share": timer.seconds / elapsed}


def repeated(num_envs: int, reward: str, sides: list[str], repeats: int, seconds: float, device: str = "cpu"
             ) -> dict[str, list[dict[str, float]]]:
    """``repeats`` measurements of every side, interleaved (ours, peers, ours, peers, ...).

    One number can hide a cliff, a median and a range cannot. The cliff issue 14 found (a process's first
    measurement at 4,096 envs with chrF at 60 % of the later ones) was glibc mapping fresh pages for every
    megabyte-sized array until its dynamic thresholds had climbed; :mod:`textgym.memory` starts them where they end.
    """
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for _ in range(repeats):
        for side in sides:
            runs[side].append(measure(num_envs, reward, side, seconds, device if side == "ours" else "cpu"))
    return runs


def token_bleu_correlation(episodes: int = 300, seed: int = 0) -> float:
    """Pearson r between token BLEU and sacreBLEU's sentence BLEU over partly right responses."""
    from sacrebleu.metrics import BLEU

    env = TextGenEnv("translate", reward="token_bleu", info_metrics=False, difficulty=3)
    bleu = BLEU(effective_order=True)
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        reference = env.reference_actions()[:-1]
        keep = rng.random(len(reference)) < rng.uniform(0.2, 1.0)  # drop some tokens, swap others
        actions = [t if k else int(rng.integers(3, env.vocab_size)) for t, k in zip(reference, keep, strict=True)]
        for action in [*actions, env.eos_token_id]:
            _, reward, terminated, _, info = env.step(action)
        assert terminated
        ours.append(reward)
        theirs.append(bleu.sentence_score(info["response"], info["references"]).score / 100)
    return float(np.corrcoef(ours, theirs)[0, 1])


def main(argv: list[str] | None = None) -> int:
    """Run every comparison and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per side, interleaved")
    parser.add_argument("--peers", nargs="+", default=["sync", "dummy"], choices=["sync", "dummy", "none"],
                        help="the peers to time (none: ours only, e.g. at 16384 envs on a GPU)")
    args = parser.parse_args(argv)
    args.peers = [p for p in args.peers if p != "none"]
    print(f"{'reward':<11} {'envs':>5} {'side':<6} {'median steps/s':>14} {'range (repeats)':>25} {'scoring':>8} "
          f"{'ours/side':>9}")
    for reward in ("token_bleu", "chrf"):
        for n in args.num_envs:
            runs = repeated(n, reward, ["ours", *args.peers], args.repeats, args.seconds, args.device)
            ours = statistics.median(r["steps_per_s"] for r in runs["ours"])
            for side, results in runs.items():
                rates = sorted(r["steps_per_s"] for r in results)
                median, share = statistics.median(rates), statistics.median(r["scoring_share"] for r in results)
                ratio = "" if side == "ours" else f"{ours / median:.1f}x"
                print(f"{reward:<11} {n:>5} {side:<6} {median:>14,.0f} {f'{rates[0]:,.0f}-{rates[-1]:,.0f}':>25} "
                      f"{share:>8.0%} {ratio:>9}")
    print(f"token BLEU vs sacreBLEU BLEU, Pearson r over 300 episodes: {token_bleu_correlation():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
