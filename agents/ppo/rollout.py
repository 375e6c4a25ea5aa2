"""Rollouts on the device: one prefill of the prompts, then one cached decode per token, sampling on the device.

The agent drives a :class:`~textgym.vector.torch_env.TextGenVectorEnv` in ``DISABLED`` autoreset mode as one
batch of ``num_envs`` episodes: finished rows are frozen by the env and masked out here. Per step it keeps the
token, its log-prob and the value estimate, not the prefix (DESIGN §6).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gymnasium.vector import AutoresetMode

from agents.policy import TransformerPolicy
from textgym.error import InvalidArgumentError
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["Rollout", "collect_rollout", "sequence_logprobs"]


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
                    deterministic: bool = False, options: dict | None = None) -> Rollout:
    """Play one episode in every row of ``envs`` (reset here, with ``options``) with ``policy``.

    Sampling uses ``generator``; ``deterministic`` takes the argmax. ``options={"example_index": idx}`` replays
    chosen examples (the env's draw sequence does not advance).
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
    step = policy.prefill(prompt_ids, prompt_mask)
    attention = prompt_mask
    for t in range(T):
        log_probs = step.logits.float().log_softmax(-1)
        if deterministic:
            action = log_probs.argmax(-1)
        else:
            action = torch.multinomial(log_probs.exp(), 1, generator=generator)[:, 0]
        _, reward, terminated, _, _ = envs.step(action)
        tokens[:, t] = torch.where(alive, action, tokens[:, t])
        mask[:, t] = alive.long()
        logprobs[:, t] = torch.where(alive, log_probs.gather(1, action[:, None])[:, 0], 0.0)
        values[:, t] = torch.where(alive, step.values.float(), 0.0)
        rewards[:, t] = torch.where(alive, reward.to(rewards.dtype), 0.0)
        alive = alive & ~terminated
        if t == T - 1 or not bool(alive.any()):  # one read of a bool per token: rows end at data-dependent steps
            break
        attention = torch.cat([attention, torch.ones_like(attention[:, :1])], dim=1)
        step = policy.decode(action, attention, step.cache)
    return Rollout(prompt_ids, prompt_mask, tokens, mask, logprobs, values, rewards)


def sequence_logprobs(policy: TransformerPolicy, rollout: Rollout, rows: slice | torch.Tensor = slice(None)
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One teacher-forced forward over whole sequences: log-probs ``[B, T]``, values ``[B, T]``, entropy ``[B, T]``.

    The prediction for response token ``t`` comes from position ``P + t - 1`` (the prompt's last token for t=0).
    """
    P = rollout.prompt_ids.shape[1]
    tokens, mask = rollout.tokens[rows], rollout.mask[rows]
    input_ids = torch.cat([rollout.prompt_ids[rows], tokens], dim=1)
    attention = torch.cat([rollout.prompt_mask[rows], mask], dim=1)
    out = policy(input_ids, attention)
    logits = out.logits[:, P - 1 : -1].float()
    log_probs = logits.log_softmax(-1)
    chosen = log_probs.gather(2, tokens[:, :, None])[..., 0]
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return chosen * mask, out.values[:, P - 1 : -1].float() * mask, entropy * mask
