"""A PPO process for the data-parallel tests, started by ``torchrun`` (or with its environment variables).

``python distributed_worker.py MODE OUT [ROLLOUT]``:
- ``update``: one PPO update (one epoch, one minibatch: one optimizer step) on this rank's half of a saved rollout;
  writes ``OUT/rank{r}.pt`` (parameters) and,
  from rank 0, the checkpoint ``OUT/checkpoint``.
- ``train``: five SFT steps (``OUT/rank{r}-sft.pt``), then three real updates; after each one,
  ``OUT/rank{r}-update{k}.pt``.
- ``load``: ``PPO.load(ROLLOUT)`` (a checkpoint folder) and one real update; writes ``OUT/rank{r}.pt``.
- ``die``: rank 1 exits at once after joining; rank 0 trains (and must fail with a clear error).
"""

from __future__ import annotations

import os
import sys
from dataclasses import fields
from pathlib import Path

import torch

from agents.ppo import PPO
from agents.rollout import Rollout

ENV = "TextGen-Translate-v0"
ENV_KWARGS = {"difficulty": 1, "max_new_tokens": 6, "num_examples": {"train": 40}}
OPTIONS = {"num_envs": 4, "batch_size": 4, "n_epochs": 2, "seed": 0, "env_kwargs": ENV_KWARGS,
           "learning_rate": 1e-3, "kl_coef": 0.05}


def parameters(model: PPO) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.policy.named_parameters()}


def capture_gradients(model: PPO) -> list[dict[str, torch.Tensor]]:
    """The gradients each optimizer step uses (after the all-reduce), in order: a list filled as training runs."""
    steps: list[dict[str, torch.Tensor]] = []
    average = model.parallel.average_gradients

    def recording(params: object) -> None:
        average(list(params))  # type: ignore[call-overload]
        steps.append({n: p.grad.clone() for n, p in model.policy.named_parameters() if p.grad is not None})

    model.parallel.average_gradients = recording  # type: ignore[method-assign]
    return steps


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    rank = int(os.environ.get("RANK", "0"))
    if mode == "update":
        union = torch.load(sys.argv[3], weights_only=True)
        model = PPO("tiny", ENV, **{**OPTIONS, "n_epochs": 1})  # one step: its result is exactly comparable
        rows = slice(rank * 4, (rank + 1) * 4)
        rollout = Rollout(*(union[f.name][rows] for f in fields(Rollout)))
        model._collect = lambda on_step=None: (rollout, [])  # type: ignore[method-assign]
        grads = capture_gradients(model)
        model.learn(1)
        torch.save({"parameters": parameters(model), "num_timesteps": model.num_timesteps, "gradients": grads,
                    "stats": model.history[-1]}, out / f"rank{rank}.pt")
        model.save(out / "checkpoint")
    elif mode == "train":
        model = PPO("tiny", ENV, **OPTIONS)
        from agents.sft import SFTConfig

        before = parameters(model)
        model.warm_start(SFTConfig(steps=5, batch_size=4, seed=0))  # the SFT trainer, data-parallel too
        torch.save({"before": before, "after": parameters(model)},
                   out / f"rank{rank}-sft.pt")

        def record(stats: dict[str, float]) -> None:
            torch.save(parameters(model), out / f"rank{rank}-update{len(model.history) + 1}.pt")

        model.learn(2 * 4 * 6 * 3, callback=record)  # 3 updates of 2 ranks x 4 episodes x 6 tokens (or more)
    elif mode == "load":
        model = PPO.load(sys.argv[3])
        model.learn(1)
        torch.save({"parameters": parameters(model)}, out / f"rank{rank}.pt")
    elif mode == "die":
        model = PPO("tiny", ENV, **OPTIONS)
        if rank == 1:
            os._exit(3)
        model.learn(4 * 6 * 3)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
