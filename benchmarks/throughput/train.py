"""Training tokens per second: our PPO against stock Stable-Baselines3 PPO with the same transformer, in one run.

    python -m benchmarks.throughput.train [--num-envs 16] [--updates 6] [--device cpu]

Both train the same ``"tiny"`` GPT-2 on TextGen-Translate-v0 (built-in corpus, 32-token cap, chrF reward,
4 epochs, minibatches of 16 episodes' worth). Ours: device rollouts with a KV cache, one-pass re-scoring and the
reference model's KL. Stock SB3: ``PPO(agents.sb3_policy.TransformerPolicy, SB3VecEnv(...))``, which re-encodes
the whole prefix at every token. A token is one env step. Printed: tokens/s, the ratio, and our breakdown
(rollout incl. scoring, reference re-scoring, optimisation).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch
from stable_baselines3 import PPO as SB3PPO

import textgym  # noqa: F401
from agents.ppo import PPO
from agents.sb3_policy import TransformerPolicy
from textgym.vector import SB3VecEnv

__all__ = ["main", "measure"]

ENV_ID = "TextGen-Translate-v0"
ENV_KWARGS = {"max_new_tokens": 32}


def measure(num_envs: int = 16, updates: int = 6, device: str = "cpu") -> dict[str, float]:
    """Tokens/s of both trainers and our time breakdown."""
    torch.manual_seed(0)
    ours = PPO("tiny", ENV_ID, num_envs=num_envs, device=device, seed=0, n_epochs=4, batch_size=num_envs,
               env_kwargs=ENV_KWARGS)
    ours.learn(num_envs)  # warm-up update, untimed
    ours.history.clear()
    start, before = time.perf_counter(), ours.num_timesteps
    for _ in range(updates):
        ours.history.append(ours._update())
    ours_rate = (ours.num_timesteps - before) / (time.perf_counter() - start)
    breakdown = {k: sum(h[f"time/{k}_s"] for h in ours.history) for k in ("rollout", "rescore", "optimise")}

    venv = SB3VecEnv(gym.make_vec(ENV_ID, num_envs=num_envs, device=device, **ENV_KWARGS))
    n_steps = 32  # tokens per env per rollout: about one episode, like one of our updates
    peer = SB3PPO(TransformerPolicy, venv, n_steps=n_steps, batch_size=n_steps * num_envs // 2, n_epochs=4, seed=0,
                  device=device, policy_kwargs={"model": "tiny"})
    peer.learn(n_steps * num_envs)  # warm-up, untimed
    start = time.perf_counter()
    peer.learn(n_steps * num_envs * updates, reset_num_timesteps=False)
    peer_rate = n_steps * num_envs * updates / (time.perf_counter() - start)
    total = sum(breakdown.values())
    return {"ours_tokens_per_s": ours_rate, "sb3_tokens_per_s": peer_rate, "ratio": ours_rate / peer_rate,
            **{f"share_{k}": v / total for k, v in breakdown.items()}}


def main(argv: list[str] | None = None) -> int:
    """Print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--updates", type=int, default=6)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    r = measure(args.num_envs, args.updates, args.device)
    print(f"{args.num_envs} envs, tiny GPT-2, {ENV_ID} (32-token cap), device {args.device}")
    print(f"our PPO (KV cache, one-pass re-scoring):   {r['ours_tokens_per_s']:10.1f} tokens/s")
    print(f"stock SB3 PPO + TransformerPolicy:          {r['sb3_tokens_per_s']:10.1f} tokens/s")
    print(f"ratio:                                      {r['ratio']:10.1f}x")
    print(f"our time: rollout (with scoring) {r['share_rollout']:.0%}, re-scoring {r['share_rescore']:.0%}, "
          f"optimisation {r['share_optimise']:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
