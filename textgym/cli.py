"""The ``textgym`` command: evaluate baseline agents on an environment and show its examples.

``textgym evaluate`` plays whole episodes with each agent on a split and prints corpus-level sacreBLEU
figures (with their signatures), the mean episode reward and env steps per second.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401 - registers the ids
from textgym.error import InvalidArgumentError, suggest

__all__ = ["evaluate", "main"]

AGENTS = ("random", "reference")


def _make_agent(name: str, env: gym.Env, seed: int) -> Any:
    from agents import RandomAgent, ReferenceAgent

    if name == "random":
        return RandomAgent(env.action_space, seed=seed)  # type: ignore[arg-type]
    if name == "reference":
        return ReferenceAgent(env)
    raise InvalidArgumentError(f"Unknown agent {name!r}. {suggest(name, AGENTS)}")


def evaluate(env_id: str, agent_name: str, episodes: int, split: str = "validation", seed: int = 0,
             **env_kwargs: Any) -> dict[str, Any]:
    """Play ``episodes`` episodes (examples 0..episodes-1 of ``split``) and return corpus metrics.

    Returns:
        ``{"agent", "episodes", "mean_reward", "steps_per_second", "corpus": {metric: (value, signature)}}``.
    """
    env = gym.make(env_id, split=split, **env_kwargs)
    agent = _make_agent(agent_name, env, seed)
    task = env.unwrapped.task  # type: ignore[attr-defined]
    num_examples = len(task.examples(split))
    if not 1 <= episodes <= num_examples:
        raise InvalidArgumentError(
            f"Expected episodes in 1..{num_examples} (the {split} split's size), got {episodes}."
        )
    responses, examples, rewards, steps = [], [], [], 0
    start = time.perf_counter()
    for index in range(episodes):
        obs, _ = env.reset(seed=seed + index if index == 0 else None, options={"example_index": index})
        total, terminated = 0.0, False
        while not terminated:
            action, _ = agent.predict(obs)
            obs, reward, terminated, _, info = env.step(action)
            total += float(reward)
            steps += 1
        responses.append(info["response"])
        examples.append(env.unwrapped.example)  # type: ignore[attr-defined]
        rewards.append(total)
    elapsed = time.perf_counter() - start
    corpus = {name: scorer.corpus_score(responses, examples) for name, scorer in task.metric_scorers.items()}
    return {
        "agent": agent_name,
        "episodes": episodes,
        "mean_reward": float(np.mean(rewards)),
        "steps_per_second": steps / elapsed,
        "corpus": {name: (c.raw, c.signature) for name, c in corpus.items()},
    }


def _parse_env_kwargs(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidArgumentError(f"Expected --env-kwarg KEY=VALUE, got {pair!r}.")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``textgym`` console script."""
    parser = argparse.ArgumentParser(prog="textgym", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="play episodes with baseline agents and print corpus metrics")
    ev.add_argument("--env", default="TextGen-Translate-v0", help="environment id")
    ev.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS)
    ev.add_argument("--episodes", type=int, default=200)
    ev.add_argument("--split", default="validation")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                    help="environment/task keyword, e.g. --env-kwarg difficulty=4 --env-kwarg target_lang=fr")
    show = sub.add_parser("show", help="print examples of a split")
    show.add_argument("--env", default="TextGen-Translate-v0")
    show.add_argument("--split", default="train")
    show.add_argument("--num", type=int, default=5)
    show.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    env_kwargs = _parse_env_kwargs(args.env_kwarg)
    if args.command == "show":
        env = gym.make(args.env, split=args.split, **env_kwargs)
        for ex in env.unwrapped.task.examples(args.split)[: args.num]:  # type: ignore[attr-defined]
            print(f"[{ex.id}] {ex.source}")
            for ref in ex.references:
                print(f"    -> {ref}")
        return 0
    print(f"{args.env} {env_kwargs or ''} split={args.split} episodes={args.episodes}")
    print(f"{'agent':<10} {'reward':>7} {'BLEU':>6} {'chrF':>6} {'chrF++':>6} {'TER':>6} {'steps/s':>9}")
    signatures = {}
    for name in args.agents:
        result = evaluate(args.env, name, args.episodes, args.split, args.seed, **env_kwargs)
        c = result["corpus"]
        signatures = {k: v[1] for k, v in c.items()}
        print(f"{name:<10} {result['mean_reward']:>7.3f} {c['bleu'][0]:>6.1f} {c['chrf'][0]:>6.1f} "
              f"{c['chrf++'][0]:>6.1f} {c['ter'][0]:>6.1f} {result['steps_per_second']:>9.0f}")
    for metric, signature in signatures.items():
        print(f"sacreBLEU {metric}: {signature}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
