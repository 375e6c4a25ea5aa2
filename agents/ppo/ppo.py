"""PPO that trains a transformer policy on TextGenVectorEnv, in Stable-Baselines3's dialect. Reads top to bottom.

    from agents.ppo import PPO
    model = PPO("tiny", "TextGen-Translate-v0", num_envs=16, seed=0)
    model.learn(total_timesteps=20_000)
    model.save("ppo_translate"); model = PPO.load("ppo_translate")

One update: (1) roll out ``n_steps`` batches of ``num_envs`` episodes on the device (one prefill, cached decodes);
(2) score the sequences once under the frozen reference model (one teacher-forced forward per minibatch);
(3) shape the rewards with the per-token KL penalty ``-kl_coef * (log pi - log pi_ref)``; (4) GAE over tokens;
(5) ``n_epochs`` of minibatch updates of the clipped surrogate, value loss and entropy bonus, with gradient
clipping and SB3's early stopping on ``target_kl``; (6) adapt ``kl_coef`` toward ``kl_target`` (if set).

``init="sft"`` warm-starts the policy on the references first (it then is the KL reference too). Callbacks in
SB3's style (:mod:`agents.ppo.callbacks`: checkpoints, periodic evaluation on a validation env). Logs: stdout,
``progress.csv`` and TensorBoard. The stock-SB3 peer is :mod:`agents.sb3_policy`.
"""

from __future__ import annotations

import copy
import csv
import os
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import textgym  # noqa: F401 - registers the env ids
from agents.baselines import GreedyAgent
from agents.distributed import DataParallel
from agents.policy import TransformerPolicy, batch_observation
from agents.ppo.advantages import (
    compute_gae,
    group_normalized_advantages,
    leave_one_out_baselines,
    self_critical_advantages,
)
from agents.ppo.callbacks import BaseCallback, as_callback
from agents.ppo.checkpoint import load_checkpoint, save_checkpoint
from agents.ppo.config import REMOVED, PPOConfig
from agents.ppo.loss import approx_kl_per_token, clipped_surrogate_loss, clipped_value_loss, masked_mean
from agents.precision import autocast, resolve_precision
from agents.rollout import Rollout, collect_rollout, sample, sequence_logprobs
from agents.sft import SFTConfig, train_sft
from textgym.error import InvalidArgumentError, MissingDependencyError, UnknownArgumentError, check_int
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["PPO"]

def _concat(rollouts: list[Rollout]) -> Rollout:
    return Rollout(*(torch.cat([getattr(r, f.name) for r in rollouts]) for f in fields(Rollout)))


class PPO:
    """Proximal Policy Optimisation of a :class:`~agents.policy.TransformerPolicy` on a text env.

    Args:
        policy: ``"tiny"``/``"small"``, a Hugging Face model name/path/instance, or a ``TransformerPolicy``.
        env: An env id (built here with ``gym.make_vec(..., autoreset_mode="Disabled")``) or such a
            ``TextGenVectorEnv``.
        num_envs: Episodes per rollout batch (ignored when ``env`` is an instance).
        device: Torch device of the policy and of a built env.
        env_kwargs: Keyword arguments of the env (task options).
        verbose: 1 prints a table per update.
        log_path: Folder for ``progress.csv`` (None: no CSV).
        tensorboard_log: Folder for TensorBoard event files (needs the ``tensorboard`` package; None: none).
        init: ``None`` (start from ``policy`` as given), ``"sft"`` (warm-start on the task's references with
            :func:`agents.sft.train_sft` first; the warm-started policy is also PPO's KL reference) or a path
            saved by :meth:`save` (its policy weights).
        sft_config: Settings of the ``"sft"`` warm start.
        lora: None (train every weight), True or a dict of ``peft.LoraConfig`` fields or a ``LoraConfig``: train
            LoRA adapters and the value head only. The KL reference is then the same model with its adapters
            disabled (no second copy; it is the base model, also after an ``"sft"`` warm start, which trains the
            adapters), and :meth:`save` writes the adapters in peft's format, not the base weights.
        dtype: Weight dtype of the LM: None (as built or loaded), ``"bfloat16"`` (half the memory; with LoRA the
            usual choice), ``"float16"``, ``"float32"``. Adapters and the value head stay fp32.
        **hyperparameters: :class:`~agents.ppo.config.PPOConfig` fields (``learning_rate``, ``n_steps``, ...).
    """

    # The first minibatch's training forward doubles as its re-scoring (False: a separate no-grad forward first,
    # which computes the same outputs; the tests compare the two)
    fold_first_rescore = True

    def __init__(self, policy: Any, env: Any, num_envs: int = 16, device: str = "cpu",
                 env_kwargs: dict[str, Any] | None = None, verbose: int = 0,
                 log_path: str | os.PathLike[str] | None = None, tensorboard_log: str | os.PathLike[str] | None = None,
                 init: str | os.PathLike[str] | None = None,
                 sft_config: SFTConfig | None = None, lora: Any = None, dtype: Any = None,
                 **hyperparameters: Any) -> None:
        known = {f.name for f in fields(PPOConfig)}
        removed = sorted(set(hyperparameters) & set(REMOVED))
        if removed:
            raise InvalidArgumentError(f"PPO argument {removed[0]!r} was removed: {REMOVED[removed[0]]}.")
        unknown = sorted(set(hyperparameters) - known)
        if unknown:
            raise UnknownArgumentError(f"PPO got unexpected keyword argument(s) {unknown}. Accepted: {sorted(known)}.")
        self.config = PPOConfig(**hyperparameters)  # checks itself before any model loads
        if self.config.seed is not None:
            torch.manual_seed(self.config.seed)
        self.env_id, self.env_kwargs = (env if isinstance(env, str) else None), dict(env_kwargs or {})
        self.env = self._make_env(env, num_envs, device)
        self.config.check_batch(self.env.num_envs)
        self.device = torch.device(device)
        self.parallel = DataParallel(self.device)  # torchrun's ranks, or one process (agents.distributed)
        self.policy = self._make_policy(policy, lora, dtype).to(self.device)
        self.parallel.broadcast_module(self.policy)  # every rank starts from rank 0's weights
        self.autocast_dtype = resolve_precision(self.config.precision, self.device)
        self.kl_coef = self.config.kl_coef
        self.sft_losses = self._initialise(init, sft_config)
        self.reference = self._copy_reference()
        self.optimizer = torch.optim.Adam(self.policy.trainable_parameters(), lr=self.config.learning_rate)
        self.num_timesteps = 0
        self.verbose, self.log_path = verbose, Path(log_path) if log_path else None
        self.generator = torch.Generator(device=self.device)
        seed = self.config.seed  # under torchrun each rank samples, and orders minibatches, on its own stream
        if seed is not None:
            self.generator.manual_seed(self.parallel.rank_seed(seed))
        # the minibatch order: its own persistent stream (saved with checkpoints), so each epoch draws a new one
        self.shuffle_generator = torch.Generator().manual_seed(
            self.parallel.rank_seed(seed) if seed is not None else int(torch.randint(2**62, ()).item()))
        self._env_seeded = False
        self.history: list[dict[str, float]] = []
        self._csv_columns: list[str] = []
        self._tensorboard = self._make_writer(tensorboard_log) if self.parallel.is_main else None
        if not self.parallel.is_main:  # only rank 0 logs
            self.verbose, self.log_path = 0, None
        self._captured: dict[str, float] = {}  # what SB3 callbacks dumped to .logger since the last update
        self._capture: Any = None
        self._stop_requested = False
        self._logger: Any = None  # made on first use of .logger (importing SB3's logger takes seconds)
        self._user_logger = False
        self._greedy: GreedyAgent | None = None

    # -- construction ------------------------------------------------------------------------------------

    def _make_env(self, env: Any, num_envs: int, device: str) -> TextGenVectorEnv:
        if isinstance(env, str):
            env = gym.make_vec(env, num_envs=num_envs, autoreset_mode="Disabled", device=device, **self.env_kwargs)
        if not isinstance(env, TextGenVectorEnv) or env.autoreset_mode != gym.vector.AutoresetMode.DISABLED:
            raise InvalidArgumentError(
                f"PPO trains on a TextGenVectorEnv with autoreset_mode=DISABLED, or an env id; got {env!r} "
                f"({type(env).__name__}). Use gym.make_vec(id, num_envs=..., autoreset_mode='Disabled')."
            )
        return env

    def _make_policy(self, policy: Any, lora: Any, dtype: Any) -> TransformerPolicy:
        if isinstance(policy, TransformerPolicy):
            if lora is not None or dtype is not None:
                raise InvalidArgumentError("lora= and dtype= build the policy: with a TransformerPolicy instance, pass "
                                           "them to TransformerPolicy(...) instead.")
            if policy.vocab_size != self.env.vocab_size:
                raise InvalidArgumentError(
                    f"The policy's action count {policy.vocab_size} differs from the env's Discrete("
                    f"{self.env.vocab_size}); build the policy with the env's tokenizer size."
                )
            return policy
        env = self.env
        return TransformerPolicy(policy, env.vocab_size, max_positions=env.max_prompt_tokens + env.max_new_tokens,
                                 eos_token_id=env.eos_token_id, pad_token_id=env.pad_token_id,
                                 bos_token_id=env.tokenizer.bos_token_id, dtype=dtype, lora=lora)

    @staticmethod
    def _make_writer(folder: Any) -> Any:
        if folder is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise MissingDependencyError(
                "tensorboard_log= needs the tensorboard package: pip install tensorboard"
            ) from exc
        # as SB3: each run in its own numbered folder, PPO_1, PPO_2, ...
        root = Path(folder)
        taken = [int(p.name[4:]) for p in root.glob("PPO_*") if p.name[4:].isdigit()] if root.is_dir() else []
        return SummaryWriter(log_dir=str(root / f"PPO_{max(taken, default=0) + 1}"))

    def _initialise(self, init: Any, sft_config: SFTConfig | None) -> list[float]:
        if init is None:
            return []
        if isinstance(init, str) and init == "sft":
            return self.warm_start(sft_config)
        if isinstance(init, (str, os.PathLike)) and (Path(init) / "policy.safetensors").is_file():
            from safetensors.torch import load_model

            load_model(self.policy, str(Path(init) / "policy.safetensors"))
            return []
        raise InvalidArgumentError(
            f"Unknown init {init!r}. Accepted: None, 'sft', or a folder written by PPO.save (with policy.safetensors)."
        )

    def warm_start(self, sft_config: SFTConfig | None = None, progress_bar: bool | str = False) -> list[float]:
        """Supervised warm start on the env's references; the result also becomes the KL reference."""
        losses = train_sft(self.policy, self.env, sft_config or SFTConfig(seed=self.config.seed or 0), progress_bar)
        self.reference = self._copy_reference()
        return losses

    def _copy_reference(self) -> TransformerPolicy | None:
        """A frozen copy of the policy as the KL reference; None where none is needed.

        None with LoRA (the reference is the policy with its adapters disabled) and where no KL is read
        (``kl_coef`` 0 and no controller): a second copy of the weights costs memory nothing would use.
        """
        if self.policy.has_adapters or not self._needs_reference:
            return None
        return copy.deepcopy(self.policy).eval().requires_grad_(False)

    # -- training ----------------------------------------------------------------------------------------

    def learn(self, total_timesteps: int, callback: Any = None, log_interval: int = 1,
              reset_num_timesteps: bool = True) -> PPO:
        """Train until ``total_timesteps`` tokens were generated.

        ``callback``: a :class:`~agents.ppo.callbacks.BaseCallback`, a list of them, or a function of the update's
        statistics; False from it stops training.
        """
        check_int("total_timesteps", total_timesteps)
        hook = as_callback(callback)
        hook.init(self)
        if reset_num_timesteps:
            self.num_timesteps = 0
        if not self._env_seeded:  # rank r's rows continue rank r-1's seeds: the union is one env of N * world rows
            seed = self.config.seed
            self.env.reset(seed=None if seed is None else seed + self.parallel.rank * self.env.num_envs)
            self._env_seeded = True
        target = self.num_timesteps + total_timesteps if not reset_num_timesteps else total_timesteps
        hook.on_training_start({"total_timesteps": total_timesteps, "callback": callback})
        while self.num_timesteps < target:
            stats = self._update(hook)
            if stats is None:  # an SB3 callback's on_step stopped training inside the rollout (SB3: no train step)
                break
            keep_going = hook(stats)  # callbacks may add eval/... entries
            keep_going = not self.parallel.any(not keep_going)  # all ranks stop together, or none
            for key, value in self._captured.items():  # what SB3 callbacks recorded in model.logger
                stats.setdefault(key, value)
            self._captured.clear()
            self.history.append(stats)
            if self._user_logger:  # an SB3 logger (stable_baselines3.common.logger.configure)
                for key, value in stats.items():
                    self._logger.record(key, value)
                self._logger.dump(step=self.num_timesteps)
                self._captured.clear()  # our own dump came back through the capture: not news for the next update
            if self.verbose and len(self.history) % log_interval == 0:
                print(" | ".join(f"{k} {v:.4g}" for k, v in stats.items()))
            self._write_csv(stats)
            if self._tensorboard is not None:
                for key, value in stats.items():
                    self._tensorboard.add_scalar(key, value, self.num_timesteps)
                self._tensorboard.flush()
            if not keep_going:
                break
        hook.on_training_end()
        return self

    def _update(self, hook: BaseCallback | None = None) -> dict[str, float] | None:
        """One rollout and its optimisation; returns the logged statistics (None: a step callback stopped it)."""
        cfg, start = self.config, time.perf_counter()
        # 1. rollouts: n_steps batches of episodes, sampled on the device
        collected = self._rollout(hook if hook is not None else BaseCallback())
        if collected is None:
            return None
        rollout, baselines = collected
        rollout_done = time.perf_counter()
        mask = rollout.mask.float()
        # 2. re-scoring, one teacher-forced forward per minibatch of the first epoch: the old policy's log-probs and
        # values (the same forward as training's, so the first minibatch's ratio is exactly 1) and, when a KL is
        # read, the reference's. The first minibatch is not re-scored: its own first training forward computes its
        # old outputs bit for bit, and the steps below that read them (3-4) wait for it
        first_epoch = self._minibatches(len(mask))
        old_logprobs, old_values, ref_logprobs, old_entropy = self._rescore(rollout, first_epoch,
                                                                            skip_first=self.fold_first_rescore)
        rescore_done = time.perf_counter()

        def shape() -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
            # 3. per-token KL penalty on the env's rewards
            kl = None if ref_logprobs is None else (old_logprobs - ref_logprobs) * mask
            rewards = rollout.rewards if kl is None else rollout.rewards - self.kl_coef * kl
            # 4. GAE over tokens, or returns to go minus a per-episode baseline (the greedy replay's score, or the
            # mean of the other samples of the same example), or GRPO's group-normalised returns
            return (kl, *self._advantages(rewards, mask, old_values, baselines))

        if not self.fold_first_rescore:
            kl, advantages, returns = shape()
        # 5. epochs of minibatch updates; dropout stays off (as TRL does): with it the ratio would be noise
        # from the first minibatch on, and clipping would zero most gradients
        losses: dict[str, list[float]] = {"policy_gradient_loss": [], "value_loss": [], "entropy": [],
                                          "approx_kl": [], "clip_fraction": [], "loss": []}
        stop, train_values = False, cfg.baseline == "value" and cfg.vf_coef > 0  # else nothing reads the values
        for epoch in range(cfg.n_epochs):
            for index, rows in enumerate(first_epoch if epoch == 0 else self._minibatches(len(mask))):
                reused = self.fold_first_rescore and epoch == 0 and index == 0  # its forward is its re-scoring
                # the entropy is computed here for an entropy bonus; the logged one comes from re-scoring
                with autocast(self.device, self.autocast_dtype):  # the forward only; the losses below are fp32
                    logprobs, values, entropy = sequence_logprobs(
                        self.policy, rollout, rows, "grad" if cfg.ent_coef > 0 else "logged" if reused else "none",
                        cfg.temperature)
                if reused:
                    old_logprobs[rows], old_entropy[rows] = logprobs.detach(), entropy.detach()  # type: ignore[union-attr]
                    old_values[rows] = values.detach()
                    kl, advantages, returns = shape()  # every old output is known now
                mb_mask = mask[rows]
                loss, policy_loss, clip_fraction = self._loss(
                    (logprobs, values, entropy), (old_logprobs[rows], old_values[rows]), advantages[rows],
                    returns[rows], mb_mask, centre=not baselines, losses=losses if train_values else None)
                with torch.no_grad():  # over every rank's tokens: the early stop below is the same on all of them
                    kl_terms = approx_kl_per_token(logprobs, old_logprobs[rows])
                    losses["approx_kl"].append(float(self.parallel.masked_mean(kl_terms, mb_mask)))
                if cfg.target_kl is not None and losses["approx_kl"][-1] > 1.5 * cfg.target_kl:
                    stop = True  # early stopping as SB3: this minibatch takes no step, and the epochs end
                    break
                self.optimizer.zero_grad()
                # under torchrun: the gradients of the token mean over every rank's minibatch, as one process would
                # (a sequence mean: every rank's minibatch has the same number of episodes, so the average is it)
                scale = self.parallel.token_scale(mb_mask) if cfg.loss_aggregation == "token" else 1.0
                (loss * scale).backward()
                self.parallel.average_gradients(self.policy.trainable_parameters())
                torch.nn.utils.clip_grad_norm_(self.policy.trainable_parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                for key, value in (("policy_gradient_loss", policy_loss), ("clip_fraction", clip_fraction),
                                   ("loss", loss)):
                    losses[key].append(float(value.detach()))
            if stop:
                break
        # 6. adaptive KL controller (Ziegler et al. 2019): move kl_coef toward kl_target, a per-sequence KL
        episodes = torch.ones_like(mask[:, 0])
        mean_kl = float("nan") if kl is None else float(self.parallel.masked_mean(kl.sum(1), episodes))
        if cfg.kl_target is not None:  # over every rank's episodes
            error = float(np.clip(mean_kl / cfg.kl_target - 1, -0.2, 0.2))
            self.kl_coef *= 1 + error * len(mask) * self.parallel.world_size / cfg.kl_horizon
        times = (start, rollout_done, rescore_done)
        return self._statistics(rollout, baselines, kl, mean_kl, times, losses, train_values, old_entropy, old_values,
                                returns)

    def _statistics(self, rollout: Rollout, baselines: list[torch.Tensor], kl: torch.Tensor | None, mean_kl: float,
                    times: tuple[float, float, float], losses: dict[str, list[float]], train_values: bool,
                    old_entropy: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor) -> dict[str, float]:
        """The logged statistics of an update (ours and SB3's tag names)."""
        cfg, mask = self.config, rollout.mask.float()
        start, rollout_done, rescore_done = times
        stats = {"time/total_timesteps": float(self.num_timesteps),
                 "rollout/ep_rew_mean": float(rollout.returns.mean()),
                 "rollout/ep_len_mean": float(rollout.lengths.float().mean()),
                 **({} if kl is None else {"train/kl_to_ref": mean_kl}),
                 **({"rollout/greedy_rew_mean": float(torch.cat(baselines).mean())}
                    if cfg.baseline == "greedy" else {}),
                 "train/kl_coef": self.kl_coef, "time/update_s": time.perf_counter() - start,
                 "time/rollout_s": rollout_done - start, "time/rescore_s": rescore_done - rollout_done,
                 "time/optimise_s": time.perf_counter() - rescore_done}
        if not train_values:  # nothing trained the value head: no value loss to report
            del losses["value_loss"]
        losses["entropy"] = [float(masked_mean(old_entropy, mask))]  # of the policy that sampled the rollout
        last_loss = losses.pop("loss")  # SB3's train/loss: the last minibatch's total loss, not a mean
        stats["train/loss"] = last_loss[-1] if last_loss else float("nan")
        # an update stopped at its first minibatch took no step: its losses are NaN, not the mean of nothing
        stats.update({f"train/{k}": float(np.mean(v)) if v else float("nan") for k, v in losses.items()})
        stats.update(self._sb3_tags(stats, mask, old_values if train_values else None, returns))
        total = stats.pop("time/total_timesteps")  # already global; the rest are means over ranks
        return {"time/total_timesteps": total, **self.parallel.mean_floats(stats)}

    def _sb3_tags(self, stats: dict[str, float], mask: torch.Tensor, values: torch.Tensor | None,
                  returns: torch.Tensor) -> dict[str, float]:
        """SB3's tag names beside ours (its dashboards and tools read them)."""
        tags = {"train/entropy_loss": -stats["train/entropy"],
                "train/learning_rate": float(self.optimizer.param_groups[0]["lr"]),
                "train/clip_range": float(self.config.clip_range),
                "time/fps": float(int(mask.sum()) / max(stats["time/update_s"], 1e-9))}
        if values is not None:  # only where a value head is trained
            tags["train/explained_variance"] = _explained_variance(values, returns, mask)
        return tags

    def _rollout(self, hook: BaseCallback) -> tuple[Rollout, list[torch.Tensor]] | None:
        """Step 1 of an update, between the callbacks' rollout hooks; None where a step callback stopped it."""
        self.policy.eval()  # for the whole update: see step 5 of _update
        hook.on_rollout_start()
        start = self.num_timesteps
        with autocast(self.device, self.autocast_dtype):
            rollout, baselines = self._collect(self._step_hook(hook))
        if self.parallel.any(self._stop_requested):
            return None
        hook.on_rollout_end()
        # every rank's tokens (counted step by step for SB3's callbacks, this rank's only, until here)
        self.num_timesteps = start + int(self.parallel.sum(rollout.mask.sum()))
        return rollout, baselines

    def _step_hook(self, hook: BaseCallback) -> Any:
        """The per-step function of a rollout for callbacks that want steps (SB3's): counts tokens, calls them."""
        self._stop_requested = False
        if not hook.wants_steps:
            return None

        def on_step(generated: torch.Tensor, rewards: torch.Tensor, terminated: torch.Tensor) -> bool:
            self.num_timesteps += int(generated.sum())
            dones = (terminated & generated).cpu().numpy()
            keep_going = hook.on_step({"rewards": rewards.cpu().numpy(), "dones": dones,
                                       "infos": [{} for _ in range(len(dones))], "self": self})
            self._stop_requested = not keep_going
            return keep_going

        return on_step

    def _collect(self, on_step: Any = None) -> tuple[Rollout, list[torch.Tensor]]:
        """``n_steps`` batches of episodes, and the per-episode baselines of ``"greedy"`` and ``"group"``."""
        cfg = self.config
        batches, baselines = [], []
        for _ in range(cfg.n_steps):
            if self._stop_requested:
                break
            if cfg.baseline == "group":  # every drawn example group_size times; baseline: the others' mean
                N, k = self.env.num_envs, cfg.group_size
                drawn = torch.randint(0, len(self.env.examples), (N // k,), generator=self.generator,
                                      device=self.generator.device)
                batch = collect_rollout(self.policy, self.env, self.generator,
                                        options={"example_index": drawn.repeat_interleave(k).cpu()}, on_step=on_step,
                                        temperature=cfg.temperature)
                baselines.append(leave_one_out_baselines(batch.returns, k))
                batches.append(batch)
                continue
            batches.append(collect_rollout(self.policy, self.env, self.generator, on_step=on_step,
                                           temperature=cfg.temperature))
            if cfg.baseline == "greedy":  # the same examples, decoded greedily: the self-critical baseline
                replay = {"example_index": self.env.example_index.clone()}
                baselines.append(collect_rollout(self.policy, self.env, deterministic=True, options=replay).returns)
        return _concat(batches), baselines

    def _advantages(self, rewards: torch.Tensor, mask: torch.Tensor, old_values: torch.Tensor,
                    baselines: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Advantages and value targets ``[N, T]`` of the rollout, by ``baseline`` and ``advantage_scale``."""
        cfg = self.config
        if cfg.advantage_scale == "group":  # GRPO: the episode's return against its group, on every token
            episode_returns = (rewards * mask).sum(1)
            return (group_normalized_advantages(episode_returns, cfg.group_size)[:, None] * mask,
                    episode_returns[:, None] * mask)
        if baselines:
            return self_critical_advantages(rewards, mask, torch.cat(baselines), cfg.gamma)
        return compute_gae(rewards, old_values, mask, cfg.gamma, cfg.gae_lambda)

    def _loss(self, new: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None], old: tuple[torch.Tensor, torch.Tensor],
              advantages: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, centre: bool,
              losses: dict[str, list[float]] | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A minibatch's loss, its policy-gradient part and clip fraction, from its new and old outputs.

        ``new``: log-probs, values and entropy (None: no entropy bonus) of the training forward; ``old``: the
        re-scored log-probs and values. The value loss is added (and appended to ``losses``) when ``losses`` is given.
        """
        cfg = self.config
        logprobs, values, entropy = new
        if cfg.advantage_scale == "batch":  # GRPO's "group" ones are scaled already, per group
            advantages = self._scale_minibatch(advantages, mask, centre=centre)
        policy_loss, clip_fraction = clipped_surrogate_loss(logprobs, old[0], advantages, mask, cfg.clip_range,
                                                            cfg.loss_aggregation)
        loss = policy_loss
        if entropy is not None:
            loss = loss - cfg.ent_coef * masked_mean(entropy, mask)
        if losses is not None:
            value_loss = clipped_value_loss(values, old[1], returns, mask, cfg.clip_range_vf)
            loss = loss + cfg.vf_coef * value_loss
            losses["value_loss"].append(float(value_loss.detach()))
        return loss, policy_loss, clip_fraction

    def _scale_minibatch(self, advantages: torch.Tensor, mask: torch.Tensor, centre: bool) -> torch.Tensor:
        """SB3's ``normalize_advantage``: over the minibatch's real tokens (every rank's, under torchrun).

        Advantages against a per-episode baseline are only scaled (``centre=False``): their sign, better or worse
        than the baseline, is the signal.
        """
        mean = self.parallel.masked_mean
        centred = (advantages - mean(advantages, mask)) * mask if centre else advantages
        return centred / (mean(centred**2, mask).sqrt() + 1e-8)

    @property
    def _needs_reference(self) -> bool:
        """Whether the reference's log-probs are read: a KL penalty, or a controller that could start one."""
        return self.kl_coef > 0 or self.config.kl_target is not None

    @torch.no_grad()
    def _rescore(self, rollout: Rollout, minibatches: list[torch.Tensor], skip_first: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Old log-probs, values and entropies ``[N, T]`` of the policy, and the reference's log-probs.

        Computed over ``minibatches`` (the first epoch's, so its first forward repeats one of these exactly);
        ``skip_first``: the policy's outputs of the first minibatch are left for its training forward to fill in.

        The reference is skipped (None) when no KL is read: ``kl_coef`` 0 and no controller that could raise it.
        """
        N, T = len(rollout.mask), rollout.mask.shape[1]
        old_logprobs, old_values, old_entropy = (torch.zeros(N, T, device=self.device) for _ in range(3))
        ref_logprobs = torch.zeros(N, T, device=self.device) if self._needs_reference else None
        for index, rows in enumerate(minibatches):
            with autocast(self.device, self.autocast_dtype):
                if not (skip_first and index == 0):
                    logprobs, values, entropy = sequence_logprobs(self.policy, rollout, rows, "logged",
                                                                  self.config.temperature)
                    old_logprobs[rows], old_values[rows] = logprobs, values
                    if entropy is not None:  # "logged" always computes it
                        old_entropy[rows] = entropy
                if ref_logprobs is not None:
                    ref_logprobs[rows] = self._reference_logprobs(rollout, rows)
        return old_logprobs, old_values, ref_logprobs, old_entropy

    def _reference_logprobs(self, rollout: Rollout, rows: torch.Tensor) -> torch.Tensor:
        """The KL reference's log-probs: the frozen copy, or with LoRA the same model with its adapters off."""
        if self.reference is not None:
            return sequence_logprobs(self.reference, rollout, rows, temperature=self.config.temperature)[0]
        with self.policy.adapters_disabled():
            return sequence_logprobs(self.policy, rollout, rows, temperature=self.config.temperature)[0]

    def _minibatches(self, size: int) -> list[torch.Tensor]:
        """A fresh random order of the rollout's episodes, cut into minibatches (one draw per epoch)."""
        order = torch.randperm(size, generator=self.shuffle_generator)
        return list(order.to(self.device).split(self.config.batch_size))

    def _write_csv(self, stats: dict[str, float]) -> None:
        """Append a row to progress.csv; when new columns appear (eval/...), rewrite it with all of them."""
        if self.log_path is None:
            return
        self.log_path.mkdir(parents=True, exist_ok=True)
        path = self.log_path / "progress.csv"
        columns = list(dict.fromkeys(k for row in self.history for k in row))
        rewrite = not path.exists() or set(stats) - set(self._csv_columns)
        self._csv_columns = columns
        with open(path, "w" if rewrite else "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
            if rewrite:
                writer.writeheader()
                writer.writerows(self.history)
            else:
                writer.writerow(stats)

    # -- SB3's accessors ---------------------------------------------------------------------------------

    def get_env(self) -> TextGenVectorEnv:
        """The vector env PPO trains on (SB3's ``get_env``)."""
        return self.env

    def get_vec_normalize_env(self) -> None:
        """SB3's accessor (its ``EvalCallback`` asks): there is no ``VecNormalize`` here."""
        return None

    @property
    def logger(self) -> Any:
        """An SB3 ``Logger``: the one set with :meth:`set_logger`, else one that only feeds the update statistics.

        What SB3 callbacks record in it joins the statistics of the update (``progress.csv``, TensorBoard, history).
        """
        if self._logger is None:
            self.set_logger(None)
        return self._logger

    def set_logger(self, logger: Any) -> None:
        """Record every update's statistics to an SB3 ``Logger`` too (``stable_baselines3.common.logger.configure``).

        None goes back to the default (statistics, CSV, TensorBoard and verbose output only).
        """
        from stable_baselines3.common.logger import Logger

        if self._capture is None:
            self._capture = _capture_writer(self._captured)
        if logger is None:
            self._logger, self._user_logger = Logger(folder=None, output_formats=[self._capture]), False
            return
        methods = (getattr(logger, "record", None), getattr(logger, "dump", None))
        if not all(callable(m) for m in methods) or not isinstance(getattr(logger, "output_formats", None), list):
            raise InvalidArgumentError(f"Expected an SB3 Logger (with record() and dump()), got {logger!r}.")
        if self._capture not in logger.output_formats:
            logger.output_formats.append(self._capture)
        self._logger, self._user_logger = logger, True

    # -- acting, saving ----------------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, observation: dict[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Next token for one observation or a batch (SB3's signature); numpy or tensors accepted."""
        ids, attention, single = batch_observation(observation, self.device)
        self.policy.eval()
        if deterministic and not single and ids.shape[1] == self.env.max_prompt_tokens + self.env.max_new_tokens:
            if self._greedy is None:  # lockstep batches of this env's layout decode with the KV cache
                self._greedy = GreedyAgent(self.policy, self.env.max_prompt_tokens)
            return self._greedy.predict({"input_ids": ids, "attention_mask": attention})[0], None
        next_logits = self.policy.next_token(ids, attention).logits.float()
        actions = next_logits.argmax(-1) if deterministic else sample(next_logits.log_softmax(-1), self.generator)
        out = actions.cpu().numpy()
        return (out[0] if single else out), None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to the folder ``path`` (:func:`agents.ppo.checkpoint.save_checkpoint`).

        Without LoRA: ``policy.safetensors`` (and ``reference.safetensors`` where a KL reference is kept). With LoRA
        on a model loaded from a name or folder: only what trained, the adapters in peft's format (``adapter/``,
        loadable by ``peft.PeftModel.from_pretrained`` too) and ``value_head.safetensors``; the base is re-loaded
        from where it came from and checked against a fingerprint of its embeddings. With LoRA on a model with no
        such source (a named config): the whole policy, since its base weights exist nowhere else. Under torchrun
        only rank 0 writes.
        """
        save_checkpoint(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Any = None, device: str = "cpu") -> PPO:
        """Rebuild a saved model (on ``env``, or on the env it was trained on when that was an id)."""
        return load_checkpoint(cls, path, env, device)


def _capture_writer(store: dict[str, float]) -> Any:
    """An SB3 ``KVWriter`` that copies the numbers dumped to a logger into ``store`` (for the update's statistics).

    Made here, not at import: importing SB3's logger takes seconds, and only a run that uses one pays for it.
    """
    from stable_baselines3.common.logger import KVWriter

    class Capture(KVWriter):
        def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
            for key, value in key_values.items():
                if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                    store[key] = float(value)

        def close(self) -> None:
            pass

    return Capture()


def _explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """SB3's ``explained_variance`` over the real tokens: 1 - Var[returns - values] / Var[returns]."""
    real = mask.bool()
    y, prediction = returns[real].double(), values[real].double()
    variance = float(y.var(unbiased=False)) if y.numel() else 0.0
    return float("nan") if variance == 0 else 1.0 - float((y - prediction).var(unbiased=False)) / variance
