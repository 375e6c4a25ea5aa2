"""Supervised warm start: teacher-forced training of the policy on the task's references (DESIGN §6).

The batches come straight from a :class:`~textgym.vector.torch_env.TextGenVectorEnv`'s tokenized split (its
left-padded prompts and its reference token ids), so SFT sees exactly the inputs PPO will: prompt, then the
canonical reference and EOS. The loss is the cross-entropy of the response tokens only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from agents.distributed import DataParallel
from agents.policy import TransformerPolicy
from agents.precision import autocast, check_precision, resolve_precision
from agents.rollout import response_forward, token_logprobs
from textgym.error import InvalidArgumentError, check_int
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["SFT", "SFTConfig", "sft_batch", "train_sft"]


@dataclass(frozen=True)
class SFTConfig:
    """Warm-start settings; each field documented once."""

    steps: int = 300
    """Optimizer steps (what :meth:`SFT.train_steps` runs by default)."""
    batch_size: int = 32
    """Examples per step."""
    learning_rate: float = 1e-3
    """Adam step size."""
    max_grad_norm: float = 1.0
    """Gradient norm clip."""
    precision: str = "auto"
    """As :attr:`agents.ppo.config.PPOConfig.precision`: bf16 autocast on bf16 CUDA devices with ``"auto"``."""
    seed: int = 0
    """Seed of the example order."""
    labelled: int | None = None
    """A label budget: train on the references of the split's first ``labelled`` examples only (None: all of
    them). RL still sees every prompt: the regime where rewards are cheaper than demonstrations."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            check_int(f"SFTConfig.{name}", getattr(self, name))
        if self.labelled is not None:
            check_int("SFTConfig.labelled", self.labelled)
        check_precision(self.precision, "SFTConfig.precision")
        for name in ("learning_rate", "max_grad_norm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidArgumentError(f"Expected SFTConfig.{name} > 0, got {value!r}.")


def sft_batch(envs: TextGenVectorEnv, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and the response ``labels`` (-100 elsewhere) for examples ``index``."""
    response, response_mask = envs.episode.reference_responses(envs.reference_ids[index, 0])  # canonical reference
    input_ids = torch.cat([envs.prompt_ids[index], response], dim=1)
    attention = torch.cat([envs.prompt_mask[index], response_mask], dim=1)
    labels = torch.where(response_mask.bool(), response, -100)
    return input_ids, attention, labels


def response_nll(policy: TransformerPolicy, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                 response: torch.Tensor, response_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-mean cross-entropy of the responses (where ``response_mask`` is 1) given the prompts, and its mask.

    The supervised loss of SFT (on references) and of :class:`agents.rest.ReST` (on the policy's own filtered
    samples). The forward runs under the caller's autocast; the loss is fp32.
    """
    logits = response_forward(policy, prompt_ids, prompt_mask, response, response_mask).logits  # [B, T', V]
    length = logits.shape[1]  # T': the longest response
    mask = response_mask[:, :length].bool()
    logprobs, _ = token_logprobs(logits, response[:, :length])  # chunked, as PPO's (no [B, T', V] fp32 copy)
    return -logprobs[mask].mean(), mask


class SFT:
    """Supervised trainer with SB3's ``learn`` shape: ``SFT(policy, envs, config).learn(total_timesteps)``.

    ``learn`` counts timesteps as supervised response tokens (reference tokens plus EOS), so a budget in tokens
    means the same for SFT as for PPO. The optimizer and the example order persist across calls, so successive
    ``learn`` calls continue one sequence of batches (each call stops at the first step that reaches its target).

    Args:
        policy: The model to train (in place).
        envs: A :class:`~textgym.vector.torch_env.TextGenVectorEnv` whose split gives the examples.
        config: Batch size, learning rate and seed (``steps`` is what :meth:`train_steps` uses by default).
    """

    def __init__(self, policy: TransformerPolicy, envs: TextGenVectorEnv, config: SFTConfig | None = None) -> None:
        self.policy, self.envs, self.config = policy, envs, config or SFTConfig()
        self.optimizer = torch.optim.Adam(policy.trainable_parameters(), lr=self.config.learning_rate)
        self._autocast_dtype = resolve_precision(self.config.precision, envs.device)
        # under torchrun: each rank draws its own batches; gradients are averaged over every rank's tokens
        self.parallel = DataParallel(envs.device)
        self.parallel.broadcast_module(policy)
        self.generator = torch.Generator().manual_seed(self.parallel.rank_seed(self.config.seed))
        self.num_labelled = len(envs.examples) if self.config.labelled is None else self.config.labelled
        if self.num_labelled > len(envs.examples):
            raise InvalidArgumentError(
                f"SFTConfig.labelled={self.num_labelled} exceeds the split's {len(envs.examples)} examples; "
                f"accepted: 1..{len(envs.examples)} or None (all)."
            )
        self.num_timesteps = 0
        self.losses: list[float] = []

    def step(self) -> float:
        """One optimizer step on a random batch; returns its loss."""
        envs, P = self.envs, self.envs.max_prompt_tokens
        index = torch.randint(self.num_labelled, (self.config.batch_size,), generator=self.generator).to(envs.device)
        input_ids, attention, _ = sft_batch(envs, index)
        with autocast(envs.device, self._autocast_dtype):
            loss, tokens = response_nll(self.policy, input_ids[:, :P], attention[:, :P], input_ids[:, P:],
                                        attention[:, P:])
        self.optimizer.zero_grad()
        (loss * self.parallel.token_scale(tokens)).backward()
        self.parallel.average_gradients(self.policy.trainable_parameters())
        torch.nn.utils.clip_grad_norm_(self.policy.trainable_parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.num_timesteps += int(self.parallel.sum(tokens.sum()))  # every rank's: loops agree
        self.losses.append(float(loss.detach()))
        return self.losses[-1]

    def train_steps(self, steps: int | None = None, progress_bar: bool | str = False) -> list[float]:
        """Run ``steps`` (default ``config.steps``) optimizer steps; returns their losses.

        ``progress_bar``: a tqdm bar with the running loss (a string: its label).
        """
        from agents.evaluation import progress

        steps = self.config.steps if steps is None else steps
        bar = progress(progress_bar, steps, "SFT", "step")
        self.policy.train()
        losses = []
        try:
            for _ in range(steps):
                losses.append(self.step())
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        finally:
            self.policy.eval()
            if bar is not None:
                bar.close()
        return losses

    def train_for(self, seconds: float, checks: int, score: Callable[[], float]) -> list[tuple[int, float]]:
        """Train for ``seconds`` of wall-clock time, scoring excluded, calling ``score`` at ``checks`` even points.

        Returns ``(steps so far, score)`` at each point: a control given another stage's time, early-stopped.
        """
        check_int("checks", checks)
        curve: list[tuple[int, float]] = []
        steps, spent = 0, 0.0
        for check in range(1, checks + 1):
            begin = time.perf_counter()
            self.policy.train()
            while spent + (time.perf_counter() - begin) < seconds * check / checks:
                self.step()
                steps += 1
            spent += time.perf_counter() - begin
            self.policy.eval()
            curve.append((steps, score()))
        return curve

    def learn(self, total_timesteps: int, reset_num_timesteps: bool = False) -> SFT:
        """Train until ``total_timesteps`` more supervised tokens were seen (the last batch may overshoot)."""
        check_int("total_timesteps", total_timesteps)
        if reset_num_timesteps:
            self.num_timesteps = 0
        target = self.num_timesteps + total_timesteps
        self.policy.train()
        while self.num_timesteps < target:
            self.step()
        self.policy.eval()
        return self


def train_sft(policy: TransformerPolicy, envs: TextGenVectorEnv, config: SFTConfig | None = None,
              progress_bar: bool | str = False) -> list[float]:
    """Train ``policy`` on the references of ``envs``' split for ``config.steps`` steps; returns every loss."""
    return SFT(policy, envs, config).train_steps(progress_bar=progress_bar)


def __getattr__(name: str) -> object:
    if name == "evaluate":  # moved in issue 13: one evaluation loop for every caller
        raise AttributeError(
            "agents.sft.evaluate moved: use agents.evaluation.evaluate(policy, envs, episodes).mean_reward "
            "(it plays the first `episodes` examples of the split in order; 'all' as before)."
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
