"""Reward-filtered self-training (ReST / RAFT / expert iteration) behind PPO's ``learn()``/``predict()``.

Each update plays ``num_envs`` train prompts (drawn at random, ``n_steps`` times) once greedily and
``group_size`` times sampled at ``temperature``. For each prompt the best sample is kept when its reward beats the
greedy decode's and it ended with a stop token; the policy is fine-tuned on the kept samples with the supervised
loss (``n_epochs`` passes, minibatches of ``batch_size``). A prompt whose greedy decode no sample beats teaches
nothing. The filter is against the greedy score because that is what users deploy (Gulcehre et al. 2023, ReST;
Dong et al. 2023, RAFT).

The reward decides what is kept and nothing else, so ReST needs no value head, no KL reference and no ratio; the
environment's reward is the same the other agents see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import torch

from agents.ppo.callbacks import BaseCallback
from agents.ppo.config import PPOConfig
from agents.ppo.ppo import PPO
from agents.precision import autocast
from agents.rollout import Rollout, collect_rollout
from agents.sft import response_nll
from textgym.error import InvalidArgumentError, UnknownArgumentError

__all__ = ["ReST", "select"]

# the PPOConfig fields ReST reads; the others keep PPOConfig's defaults (a checkpoint stores them all)
READ = ("n_steps", "batch_size", "n_epochs", "learning_rate", "max_grad_norm", "group_size", "temperature",
        "precision", "seed")
FIXED = {"kl_coef": 0.0}  # no KL reference: nothing reads one


def select(greedy: Rollout, samples: list[Rollout], is_stop: Callable[[torch.Tensor], torch.Tensor]
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per prompt (row), the best of the samples and whether it is kept.

    Returns ``(keep [N], tokens [N, T], mask [N, T], best_return [N])``.

    Kept: strictly better than the greedy decode of the same prompt (a tie teaches nothing the model does not
    already deploy), and ended by the model with a stop token: a sample cut at the length limit would teach it not
    to stop (measured: without this, episodes grew from 8 to 59 tokens in 20 updates and the greedy score fell).
    The first of equally good samples is the best.
    """
    returns = torch.stack([s.returns for s in samples])  # [k, N]
    best_return, best = returns.max(0)
    rows = torch.arange(len(best), device=best.device)
    tokens = torch.stack([s.tokens for s in samples])[best, rows]
    mask = torch.stack([s.mask for s in samples])[best, rows]
    lengths = mask.sum(1, keepdim=True)
    last = tokens.gather(1, (lengths - 1).clamp(min=0))[:, 0]
    keep = (best_return > greedy.returns) & (lengths[:, 0] > 0) & is_stop(last)
    return keep, tokens, mask, best_return


class ReST(PPO):
    """Reward-filtered self-training with PPO's interface (``learn``, ``predict``, callbacks, ``save``/``load``).

    Args: as :class:`agents.ppo.PPO`. Of its hyperparameters ReST reads ``group_size`` (samples per prompt,
    default 4), ``temperature`` (default 0.5 here), ``n_steps`` (batches of ``num_envs`` prompts an update),
    ``n_epochs`` (passes over the kept samples, default 2 here), ``batch_size``, ``learning_rate`` (default 1e-4
    here), ``max_grad_norm``, ``precision`` and ``seed``; any other is a ``TypeError``.
    """

    def __init__(self, policy: Any, env: Any, num_envs: int = 16, device: str = "cpu", **kwargs: Any) -> None:
        hyper = {k: kwargs.pop(k) for k in [k for k in kwargs if k in {f.name for f in fields(PPOConfig)}]}
        defaults = {f.name: f.default for f in fields(PPOConfig)}
        ignored = sorted(k for k, v in hyper.items() if k not in READ and v != FIXED.get(k, defaults[k]))
        if ignored:
            raise UnknownArgumentError(
                f"ReST got keyword argument(s) {ignored} that it does not read. Accepted: {sorted(READ)}."
            )
        hyper = {"temperature": 0.5, "n_epochs": 2, "learning_rate": 1e-4, **hyper, **FIXED}
        super().__init__(policy, env, num_envs=num_envs, device=device, **kwargs, **hyper)
        if self.parallel.world_size > 1:
            raise InvalidArgumentError(
                f"ReST runs in one process (got a world of {self.parallel.world_size} ranks): ranks keep different "
                "numbers of samples, so their optimizer steps would not pair up. Use PPO under torchrun."
            )

    @property
    def _needs_reference(self) -> bool:
        return False

    def _update(self, hook: BaseCallback | None = None) -> dict[str, float] | None:
        """Sample, filter against the greedy decode, fine-tune on what was kept; the logged statistics."""
        cfg, start, hook = self.config, time.perf_counter(), hook or BaseCallback()
        self.policy.eval()
        hook.on_rollout_start()
        on_step = self._step_hook(hook)
        kept: list[tuple[torch.Tensor, ...]] = []
        greedy_returns, sample_returns, best_returns, lengths = [], [], [], []
        generated = 0
        with autocast(self.device, self.autocast_dtype):
            for _ in range(cfg.n_steps):
                drawn = torch.randint(0, len(self.env.examples), (self.env.num_envs,), generator=self.generator,
                                      device=self.generator.device).cpu()
                greedy = collect_rollout(self.policy, self.env, deterministic=True,
                                         options={"example_index": drawn}, on_step=on_step)
                samples = []
                for _ in range(cfg.group_size):
                    if self._stop_requested:
                        return None
                    samples.append(collect_rollout(self.policy, self.env, self.generator, on_step=on_step,
                                                   options={"example_index": drawn}, temperature=cfg.temperature))
                if self._stop_requested:
                    return None
                keep, tokens, mask, best_return = select(greedy, samples, self.env.episode.is_stop)
                kept.append((greedy.prompt_ids[keep], greedy.prompt_mask[keep], tokens[keep], mask[keep]))
                generated += int(greedy.mask.sum()) + sum(int(s.mask.sum()) for s in samples)
                greedy_returns.append(greedy.returns)
                sample_returns.append(torch.cat([s.returns for s in samples]))
                best_returns.append(best_return)
                lengths.append(torch.cat([s.lengths for s in samples]).float())
        hook.on_rollout_end()
        if not hook.wants_steps:  # else on_step counted them as they came
            self.num_timesteps += generated
        rollout_done = time.perf_counter()
        prompt_ids, prompt_mask, tokens, mask = (torch.cat(parts) for parts in zip(*kept, strict=True))
        losses = self._fine_tune(prompt_ids, prompt_mask, tokens, mask)
        greedy_all = torch.cat(greedy_returns)
        update_s = time.perf_counter() - start
        return {"time/total_timesteps": float(self.num_timesteps),
                "rollout/ep_rew_mean": float(torch.cat(sample_returns).mean()),
                "rollout/ep_len_mean": float(torch.cat(lengths).mean()),
                "rollout/greedy_rew_mean": float(greedy_all.mean()),
                "rollout/best_rew_mean": float(torch.cat(best_returns).mean()),
                "train/kept_fraction": len(tokens) / len(greedy_all),
                "train/loss": float(sum(losses) / len(losses)) if losses else float("nan"),
                "train/learning_rate": float(cfg.learning_rate),
                "time/update_s": update_s, "time/rollout_s": rollout_done - start,
                "time/optimise_s": time.perf_counter() - rollout_done, "time/fps": generated / max(update_s, 1e-9)}

    def _fine_tune(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, tokens: torch.Tensor,
                   mask: torch.Tensor) -> list[float]:
        """``n_epochs`` passes of the supervised loss over the kept samples (dropout on, as SFT trains)."""
        cfg, losses = self.config, list[float]()
        if not len(tokens):
            return losses
        self.policy.train()
        try:
            for _ in range(cfg.n_epochs):
                for rows in torch.randperm(len(tokens), generator=self.shuffle_generator).split(cfg.batch_size):
                    rows = rows.to(self.device)
                    with autocast(self.device, self.autocast_dtype):
                        loss, _ = response_nll(self.policy, prompt_ids[rows], prompt_mask[rows], tokens[rows],
                                               mask[rows])
                    self.optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.policy.trainable_parameters(), cfg.max_grad_norm)
                    self.optimizer.step()
                    losses.append(float(loss.detach()))
        finally:
            self.policy.eval()
        return losses
