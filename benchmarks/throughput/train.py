"""Training tokens per second: our PPO against stock Stable-Baselines3 PPO with the same transformer, in one run.

    python -m benchmarks.throughput.train [--num-envs 16] [--updates 6] [--device cpu] [--model tiny]
        [--no-peer] [--peak-tflops 989]

Both train the same GPT-2 (``"tiny"`` by default) on TextGen-Translate-v0 (built-in corpus, 32-token cap, chrF
reward, 4 epochs, one minibatch of all the episodes of a rollout). Ours: device rollouts with a KV cache, one-pass
re-scoring and the reference model's KL. Stock SB3:
``PPO(agents.sb3_policy.TransformerActorCriticPolicy, SB3VecEnv(...))``,
which re-encodes the whole prefix at every token. A token is one env step. Printed: tokens/s, the ratio, and our
breakdown (rollout incl. scoring, reference re-scoring, optimisation).

On a GPU (``--device cuda --model gpt2-small-random --num-envs 1024 --no-peer``) it also reports rollout tokens/s
and the model FLOPs our PPO ran per second: every position the transformer processed (prefill, cached decodes,
re-scoring, training passes; padding included, as the hardware computes it) times ``2 * params`` for a forward
pass and ``6 * params`` for a forward with its backward, params counting the token embedding once (it is the
LM head) and not the position table; attention's own FLOPs (~1 % at these lengths) are left out. With
``--peak-tflops`` (the device's dense bf16 peak, e.g. 989 for an H200 SXM) it prints the model-FLOPs
utilisation.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch
from stable_baselines3 import PPO as SB3PPO

import textgym  # noqa: F401
from agents.ppo import PPO
from agents.sb3_policy import TransformerActorCriticPolicy
from textgym.vector import SB3VecEnv

__all__ = ["main", "measure"]

ENV_ID = "TextGen-Translate-v0"
ENV_KWARGS = {"max_new_tokens": 32}


class _FlopCounter:
    """Counts the positions a transformer processes, split into forward-only and training (forward+backward) passes."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.forward_positions = self.training_positions = 0
        self.params = sum(p.numel() for name, p in model.named_parameters() if "wpe" not in name)
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return
        if torch.is_grad_enabled():
            self.training_positions += ids.numel()
        else:
            self.forward_positions += ids.numel()

    @property
    def flops(self) -> float:
        return 2.0 * self.params * self.forward_positions + 6.0 * self.params * self.training_positions


def measure(num_envs: int = 16, updates: int = 6, device: str = "cpu", model: str = "tiny", peer: bool = True,
            peak_tflops: float | None = None) -> dict[str, float]:
    """Tokens/s of both trainers (the peer only with ``peer``), our time breakdown and model FLOP rate."""
    torch.manual_seed(0)
    ours = PPO(model, ENV_ID, num_envs=num_envs, device=device, seed=0, n_epochs=4, batch_size=num_envs,
               env_kwargs=ENV_KWARGS)
    ours.learn(num_envs)  # warm-up update, untimed
    ours.history.clear()
    counters = [_FlopCounter(ours.policy.lm), _FlopCounter(ours.reference.lm)]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start, before = time.perf_counter(), ours.num_timesteps
    for _ in range(updates):
        ours.history.append(ours._update())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    tokens = ours.num_timesteps - before
    breakdown = {k: sum(h[f"time/{k}_s"] for h in ours.history) for k in ("rollout", "rescore", "optimise")}
    total = sum(breakdown.values())
    flops = sum(c.flops for c in counters)
    result = {"ours_tokens_per_s": tokens / elapsed, "rollout_tokens_per_s": tokens / breakdown["rollout"],
              "model_tflops_per_s": flops / elapsed / 1e12, "params": float(counters[0].params),
              **{f"share_{k}": v / total for k, v in breakdown.items()}}
    if peak_tflops:
        result["mfu"] = result["model_tflops_per_s"] / peak_tflops
    if peer:
        venv = SB3VecEnv(gym.make_vec(ENV_ID, num_envs=num_envs, device=device, **ENV_KWARGS))
        n_steps = 32  # tokens per env per rollout: about one episode, like one of our updates
        sb3 = SB3PPO(TransformerActorCriticPolicy, venv, n_steps=n_steps, batch_size=n_steps * num_envs // 2,
                     n_epochs=4, seed=0, device=device, policy_kwargs={"model": model})
        sb3.learn(n_steps * num_envs)  # warm-up, untimed
        start = time.perf_counter()
        sb3.learn(n_steps * num_envs * updates, reset_num_timesteps=False)
        result["sb3_tokens_per_s"] = n_steps * num_envs * updates / (time.perf_counter() - start)
        result["ratio"] = result["ours_tokens_per_s"] / result["sb3_tokens_per_s"]
    return result


def main(argv: list[str] | None = None) -> int:
    """Print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--updates", type=int, default=6)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="tiny", help="a named config (tiny, small, gpt2-small-random) or a path")
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True,
                        help="also time stock SB3 PPO (--no-peer: ours only)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense peak, for the MFU")
    args = parser.parse_args(argv)
    r = measure(args.num_envs, args.updates, args.device, args.model, args.peer, args.peak_tflops)
    print(f"{args.num_envs} envs, {args.model} GPT-2 ({r['params'] / 1e6:.1f}M params), {ENV_ID} (32-token cap), "
          f"device {args.device}")
    print(f"our PPO (KV cache, one-pass re-scoring):   {r['ours_tokens_per_s']:10.1f} tokens/s end to end, "
          f"{r['rollout_tokens_per_s']:.1f} in rollouts")
    print(f"our model FLOPs: {r['model_tflops_per_s']:.3f} TFLOP/s" +
          (f", MFU {r['mfu']:.1%} of {args.peak_tflops:g} TFLOP/s" if "mfu" in r else ""))
    if args.peer:
        print(f"stock SB3 PPO + TransformerActorCriticPolicy:{r['sb3_tokens_per_s']:10.1f} tokens/s")
        print(f"ratio:                                      {r['ratio']:10.1f}x")
    print(f"our time: rollout (with scoring) {r['share_rollout']:.0%}, re-scoring {r['share_rescore']:.0%}, "
          f"optimisation {r['share_optimise']:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
