"""The ``textgym`` command: evaluate baseline agents, show examples, train a model (SFT then PPO).

``textgym evaluate`` plays whole episodes with each agent on a split and prints corpus-level sacreBLEU
figures (with their signatures), the mean episode reward and env steps per second. ``textgym train``
warm-starts a small transformer on the references, then trains it with PPO, and prints the validation
score before SFT, after SFT and after PPO, and where the checkpoint went.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401 - registers the ids
from textgym.error import InvalidArgumentError, check_int, suggest

__all__ = ["evaluate", "main", "train"]

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


def train(env_id: str, model: str = "tiny", num_envs: int = 32, sft_steps: int = 1000, ppo_updates: int = 100,
          out: str = "textgym-run", seed: int = 0, learning_rate: float = 3e-5, **env_kwargs: Any) -> dict[str, Any]:
    """SFT then PPO on ``env_id``; returns the validation scores and the checkpoint folder."""
    from agents.ppo.callbacks import BaseCallback
    from agents.ppo.ppo import PPO
    from agents.sft import SFTConfig
    from agents.sft import evaluate as evaluate_greedy

    for name, value in (("num_envs", num_envs), ("sft_steps", sft_steps), ("ppo_updates", ppo_updates)):
        check_int(name, value)
    val = gym.make_vec(env_id, num_envs=64, autoreset_mode="Disabled", split="validation", **env_kwargs)
    ppo = PPO(model, env_id, num_envs=num_envs, seed=seed, env_kwargs=env_kwargs, batch_size=num_envs,
              learning_rate=learning_rate)
    num_val = len(val.unwrapped.examples)  # type: ignore[attr-defined]
    print(f"scoring greedy decoding: mean episode reward over all {num_val} validation examples", flush=True)
    before = evaluate_greedy(ppo.policy, val, "all")  # type: ignore[arg-type]
    print(f"validation score before SFT: {before:.4f}", flush=True)
    ppo.warm_start(SFTConfig(steps=sft_steps, batch_size=32, seed=seed))
    after_sft = evaluate_greedy(ppo.policy, val, "all")  # type: ignore[arg-type]
    print(f"validation score after SFT ({sft_steps} steps): {after_sft:.4f}", flush=True)

    class Progress(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            try:
                from tqdm import tqdm

                self.bar: Any = tqdm(total=ppo_updates, desc="PPO", unit="update")
            except ImportError:  # pragma: no cover - tqdm comes with transformers
                self.bar = None

        def on_update(self, stats: dict[str, float]) -> bool:
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix(reward=f"{stats['rollout/ep_rew_mean']:.3f}")
            return self.n_calls < ppo_updates

    progress = Progress()
    ppo.learn(total_timesteps=10**12, callback=progress)
    if progress.bar is not None:
        progress.bar.close()
    after_ppo = evaluate_greedy(ppo.policy, val, "all")  # type: ignore[arg-type]
    ppo.save(out)
    print(f"validation score after PPO ({ppo_updates} updates): {after_ppo:.4f}", flush=True)
    print(f"checkpoint: {out}", flush=True)
    return {"before_sft": before, "after_sft": after_sft, "after_ppo": after_ppo, "checkpoint": out}


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
    tr = sub.add_parser("train", help="warm-start a small transformer on the references, then train it with PPO")
    tr.add_argument("--task", default="TextGen-Translate-v0", help="environment id")
    tr.add_argument("--model", default="tiny", help="tiny, small, or a Hugging Face model name/path")
    tr.add_argument("--num-envs", type=int, default=32)
    tr.add_argument("--sft-steps", type=int, default=1000)
    tr.add_argument("--ppo-updates", type=int, default=100)
    tr.add_argument("--learning-rate", type=float, default=3e-5)
    tr.add_argument("--out", default="textgym-run", help="checkpoint folder")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE")
    show = sub.add_parser("show", help="print examples of a split")
    show.add_argument("--env", default="TextGen-Translate-v0")
    show.add_argument("--split", default="train")
    show.add_argument("--num", type=int, default=5)
    show.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    env_kwargs = _parse_env_kwargs(args.env_kwarg)
    if args.command == "train":
        train(args.task, args.model, args.num_envs, args.sft_steps, args.ppo_updates, args.out, args.seed,
              args.learning_rate, **env_kwargs)
        return 0
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
