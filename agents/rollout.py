"""Decoding with a policy, written once: cached prefill/decode, rollouts on the device, teacher-forced scoring.

- :class:`Decoder`: one prefill of a batch of left-padded prompts, then one cached decode per token. Used by
  :func:`collect_rollout` and by :class:`~agents.baselines.GreedyAgent` (so by evaluation and the leaderboard).
- :func:`collect_rollout`: drives a :class:`~textgym.vector.torch_env.TextGenVectorEnv` in ``DISABLED`` autoreset
  mode as one batch of ``num_envs`` episodes, sampling on the device: finished rows are frozen by the env and
  masked out here. Per step it keeps the token, its log-prob and the value estimate, not the prefix (DESIGN §6).
- :func:`response_forward`: the teacher-forced forward over prompt + response whose outputs at positions
  ``P - 1 .. P + T - 2`` predict the ``T`` response tokens (PPO's re-scoring and SFT's loss read exactly these).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from gymnasium.vector import AutoresetMode
from torch.autograd.function import once_differentiable

from agents.policy import PolicyOutput, TransformerPolicy
from textgym.error import InvalidArgumentError
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["ENTROPY_MODES", "Decoder", "Rollout", "collect_rollout", "response_forward", "sample", "sequence_logprobs",
           "token_logprobs"]

ENTROPY_MODES = ("none", "logged", "grad")


class Decoder:
    """Cached decoding of one batch: :meth:`start` runs the prompts once, :meth:`advance` feeds one token per row.

    Args:
        policy: The policy whose KV cache is kept.
    """

    def __init__(self, policy: TransformerPolicy) -> None:
        self.policy = policy
        self._attention: torch.Tensor | None = None
        self._cache: object = None

    def start(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> PolicyOutput:
        """Prefill left-padded prompts ``[B, P]``: logits ``[B, V]`` and values ``[B]`` for the first token."""
        step = self.policy.prefill(prompt_ids, prompt_mask)
        self._attention, self._cache = prompt_mask, step.cache
        return step

    def advance(self, tokens: torch.Tensor) -> PolicyOutput:
        """Append ``tokens`` ``[B]`` (one per row) and return the next logits and values."""
        if self._attention is None:
            raise InvalidArgumentError("Decoder.advance() before start(); start it on the prompts first.")
        self._attention = torch.cat([self._attention, torch.ones_like(self._attention[:, :1])], dim=1)
        step = self.policy.decode(tokens, self._attention, self._cache)
        self._cache = step.cache
        return step


@dataclass
class Rollout:
    """A batch of finished episodes; every ``[N, T]`` tensor is aligned with ``mask`` (1 = a generated token)."""

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor

    @property
    def lengths(self) -> torch.Tensor:
        """Tokens generated per episode (EOS included)."""
        return self.mask.sum(1)

    @property
    def returns(self) -> torch.Tensor:
        """Undiscounted env return per episode (the final score with sparse or dense rewards)."""
        return (self.rewards * self.mask).sum(1)


@torch.no_grad()
def collect_rollout(policy: TransformerPolicy, envs: TextGenVectorEnv, generator: torch.Generator | None = None,
                    deterministic: bool = False, options: dict | None = None,
                    on_step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], bool] | None = None,
                    temperature: float = 1.0) -> Rollout:
    """Play one episode in every row of ``envs`` (reset here, with ``options``) with ``policy``.

    Sampling uses ``generator``; ``deterministic`` takes the argmax. ``options={"example_index": idx}`` replays
    chosen examples (the env's draw sequence does not advance). ``on_step(generated, rewards, terminated)``, if
    given, runs after every env step (``generated``: the rows that took a token in it); False from it ends the
    rollout there. ``temperature`` divides the logits before sampling, and the stored log-probs are of that
    distribution (as :func:`sequence_logprobs` with the same temperature computes them).
    """
    if not isinstance(envs, TextGenVectorEnv) or envs.autoreset_mode != AutoresetMode.DISABLED:
        raise InvalidArgumentError(
            "Rollouts need a TextGenVectorEnv with autoreset_mode=DISABLED (gym.make_vec(id, num_envs=..., "
            f"autoreset_mode='Disabled')), got {envs!r}."
        )
    obs, _ = envs.reset(options=options)
    P, T, N = envs.max_prompt_tokens, envs.max_new_tokens, envs.num_envs
    prompt_ids, prompt_mask = obs["input_ids"][:, :P], obs["attention_mask"][:, :P]
    device = prompt_ids.device
    tokens = torch.full((N, T), envs.pad_token_id, dtype=torch.long, device=device)
    mask = torch.zeros((N, T), dtype=torch.long, device=device)
    logprobs, values, rewards = (torch.zeros((N, T), device=device) for _ in range(3))
    alive = torch.ones(N, dtype=torch.bool, device=device)
    decoder = Decoder(policy)
    step = decoder.start(prompt_ids, prompt_mask)
    for t in range(T):
        logits = step.logits.float()
        log_probs = (logits if temperature == 1.0 else logits / temperature).log_softmax(-1)
        action = log_probs.argmax(-1) if deterministic else sample(log_probs, generator)
        _, reward, terminated, _, _ = envs.step(action)
        tokens[:, t] = torch.where(alive, action, tokens[:, t])
        mask[:, t] = alive.long()
        logprobs[:, t] = torch.where(alive, log_probs.gather(1, action[:, None])[:, 0], 0.0)
        values[:, t] = torch.where(alive, step.values.float(), 0.0)
        rewards[:, t] = torch.where(alive, reward.to(rewards.dtype), 0.0)
        if on_step is not None and not on_step(alive, reward, terminated):
            break
        alive = alive & ~terminated
        if t == T - 1 or not bool(alive.any()):  # one read of a bool per token: rows end at data-dependent steps
            break
        step = decoder.advance(action)
    return Rollout(prompt_ids, prompt_mask, tokens, mask, logprobs, values, rewards)


def sample(log_probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of ``[B, V]`` log-probabilities, by inverting the cumulative distribution.

    The distribution of ``torch.multinomial``, from one uniform draw per row: ``multinomial`` draws one exponential
    per vocabulary entry per row, which was 9 % of a PPO update with a 4,096-id vocabulary on the CPU. A token of
    probability 0 is never drawn (its cumulative value equals its predecessor's, and the search takes the first
    value above the draw).
    """
    cdf = log_probs.exp().cumsum(-1)
    draw = torch.rand(len(cdf), 1, generator=generator, device=cdf.device, dtype=cdf.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, draw, right=True)[:, 0].clamp_(max=cdf.shape[1] - 1)


def response_forward(policy: TransformerPolicy, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                     tokens: torch.Tensor, mask: torch.Tensor) -> PolicyOutput:
    """Teacher-forced forward over prompt ``[B, P]`` + response ``[B, T]``: outputs that predict the response.

    Returns logits ``[B, T', V]`` and values ``[B, T']`` for the first ``T'`` response tokens, ``T'`` the longest
    response of the batch: the prediction for response token ``t`` comes from position ``P + t - 1`` (the prompt's
    last token for ``t = 0``). Only those positions go through the LM head, and the batch is cut to the cells some
    row uses: prompt columns that are padding in every row, response columns past every row's end (positions come
    from the attention mask, so the outputs are the same; tested against the untrimmed forward).

    Where at least half the rows repeat another row's prompt (a group baseline's samples) and the policy is in eval
    mode (PPO's updates and re-scoring), each distinct prompt runs once
    (:meth:`~agents.policy.TransformerPolicy.prefill`) and the responses run on copies of its KV cache: the same
    outputs and gradients to float rounding (tested), the prompts' share of the trunk's work divided by the group
    size.
    """
    first = int(prompt_mask.any(0).int().argmax())  # the first prompt column some row uses
    length = int(mask.sum(1).max())
    prompt_ids, prompt_mask = prompt_ids[:, first:], prompt_mask[:, first:]
    groups = policy.prompt_groups(prompt_ids, prompt_mask)
    if groups is not None:
        start = policy.prefill(prompt_ids, prompt_mask, groups=groups)
        if length <= 1:
            return PolicyOutput(start.logits[:, None, :][:, :length], start.values[:, None][:, :length])
        rest = policy.extend(tokens[:, : length - 1], torch.cat([prompt_mask, mask[:, : length - 1]], dim=1),
                             start.cache)
        return PolicyOutput(torch.cat([start.logits[:, None], rest.logits], 1),
                            torch.cat([start.values[:, None], rest.values], 1))
    P = prompt_ids.shape[1]
    keep = torch.arange(P - 1, P + length - 1, device=prompt_ids.device)
    return policy(torch.cat([prompt_ids, tokens[:, :length]], dim=1),
                  torch.cat([prompt_mask, mask[:, :length]], dim=1), keep=keep)


class _TokenLogprobs(torch.autograd.Function):
    """Log-probabilities of the chosen tokens (and the entropies) from logits ``[N, V]``, ``rows`` rows at a time.

    The forward keeps only the logits it was given (which exist anyway) and returns two ``[N]`` vectors; the
    backward recomputes each chunk's softmax and writes the gradient ``g (onehot - p)`` (plus the entropy's
    ``-g_H p (log p + H)``) straight into one tensor of the logits' dtype. So no ``[N, V]`` float32 copy, log-softmax
    or gradient of one exists beyond a chunk: the fused ``cross_entropy`` kept three of them and its backward ran at
    about a third of this speed (issue 14).
    """

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, tokens: torch.Tensor, scale: float, entropy: bool,
                rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        N = logits.shape[0]
        dtype = torch.promote_types(logits.dtype, torch.float32)
        logprobs = logits.new_empty(N, dtype=dtype)
        entropies = logits.new_empty(N if entropy else 0, dtype=dtype)
        for start in range(0, N, rows):
            z = _scaled_rows(logits, start, rows, scale)
            log_p = torch.log_softmax(z, -1)
            logprobs[start:start + rows] = log_p.gather(1, tokens[start:start + rows, None]).squeeze(1)
            if entropy:
                entropies[start:start + rows] = -(torch.softmax(z, -1) * log_p).sum(-1)
        ctx.save_for_backward(logits, tokens, entropies)
        ctx.scale, ctx.rows = scale, rows
        ctx.set_materialize_grads(False)
        return logprobs, entropies

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_logprobs: torch.Tensor | None,
                 grad_entropies: torch.Tensor | None) -> tuple[torch.Tensor | None, None, None, None, None]:
        logits, tokens, entropies = ctx.saved_tensors
        scale, rows = ctx.scale, ctx.rows
        if grad_logprobs is None and grad_entropies is None:
            return None, None, None, None, None
        grad = torch.empty_like(logits)
        for start in range(0, logits.shape[0], rows):
            z = _scaled_rows(logits, start, rows, scale)
            stop = start + len(z)
            g = grad_logprobs[start:stop, None] if grad_logprobs is not None else z.new_zeros(len(z), 1)
            if grad_entropies is not None:  # d log p_a / dz = onehot(a) - p;  dH / dz = -p (log p + H)
                log_p = torch.log_softmax(z, -1)
                weight = log_p.exp()
                gz = weight.mul_(log_p.add_(entropies[start:stop, None]).mul_(grad_entropies[start:stop, None])
                                 .add_(g)).neg_()
            else:
                gz = torch.softmax(z, -1).mul_(-g)
            gz.scatter_add_(1, tokens[start:stop, None], g)
            grad[start:stop] = gz.mul_(scale) if scale != 1.0 else gz
        return grad, None, None, None, None


def _scaled_rows(logits: torch.Tensor, start: int, rows: int, scale: float) -> torch.Tensor:
    """A float32 (or float64) copy of ``logits[start:start + rows]`` times ``scale``: a chunk to work on in place."""
    z = logits[start:start + rows]
    z = z.float() if z.dtype in (torch.bfloat16, torch.float16) else z.clone()
    return z.mul_(scale) if scale != 1.0 else z


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0, entropy: str = "none",
                   rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``log softmax(logits / temperature)[token]`` and the entropy, per position, in float32 (float64 for float64).

    Args:
        logits: ``[..., V]``, any float dtype (bf16 under autocast); the softmax runs in float32.
        tokens: ``[...]``, the ids whose log-probabilities are read.
        temperature: of the distribution the tokens were sampled from (the logits are divided by it).
        entropy: ``"none"`` (None returned), ``"logged"`` (without a gradient) or ``"grad"`` (with one, for an entropy
            bonus).
        rows: positions per chunk (default: about 2 MB of float32, a cache's worth).

    Returns: log-probs and entropies, shaped as ``tokens``.
    """
    if entropy not in ENTROPY_MODES:
        raise InvalidArgumentError(f"Unknown entropy {entropy!r}. Accepted: {', '.join(map(repr, ENTROPY_MODES))}.")
    V = logits.shape[-1]
    rows = rows or max(1, (1 << 19) // V)
    logprobs, entropies = _TokenLogprobs.apply(logits.reshape(-1, V), tokens.reshape(-1), 1.0 / temperature,
                                               entropy != "none", rows)
    if entropy == "none":
        return logprobs.view(tokens.shape), None
    return logprobs.view(tokens.shape), (entropies if entropy == "grad" else entropies.detach()).view(tokens.shape)


def sequence_logprobs(policy: TransformerPolicy, rollout: Rollout, rows: slice | torch.Tensor = slice(None),
                      entropy: str = "none", temperature: float = 1.0
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One teacher-forced forward over whole sequences: log-probs ``[B, T]``, values ``[B, T]``, entropy ``[B, T]``.

    Log-probs and entropies come from :func:`token_logprobs` (chunked: no ``[B, T, V]`` float32 copy kept).
    ``entropy``: ``"none"`` (None returned), ``"logged"`` (without a graph) or ``"grad"`` (with one, for an entropy
    bonus). ``temperature``: of the distribution the tokens were
    sampled from (the logits are divided by it), so PPO's ratio compares like with like.
    """
    tokens, mask = rollout.tokens[rows], rollout.mask[rows]
    out = response_forward(policy, rollout.prompt_ids[rows], rollout.prompt_mask[rows], tokens, mask)
    length = out.logits.shape[1]
    chosen, entropies = token_logprobs(out.logits, tokens[:, :length], temperature, entropy)
    pad = tokens.shape[1] - length  # back to [B, T]: the trimmed cells are past every row's end (mask 0)
    values = F.pad(out.values.float(), (0, pad)) * mask
    return (F.pad(chosen, (0, pad)) * mask, values,
            None if entropies is None else F.pad(entropies, (0, pad)) * mask)
