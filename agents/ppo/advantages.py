"""Generalised Advantage Estimation over the tokens of whole episodes (Schulman et al. 2016, eq. 16).

A row is one episode: token ``t`` of row ``i`` exists where ``mask[i, t]`` is 1, and the episode ends at its
last real token (terminated, so the value after it is 0). Rewards are per token (the env's reward plus any
per-token KL penalty).
"""

from __future__ import annotations

import torch

__all__ = ["compute_gae", "group_normalized_advantages", "leave_one_out_baselines", "self_critical_advantages"]


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
                gae_lambda: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns ``[B, T]``, zero where ``mask`` is 0.

    ``delta_t = r_t + gamma * V_{t+1} * m_{t+1} - V_t`` and ``A_t = delta_t + gamma * lambda * m_{t+1} * A_{t+1}``,
    the backward recursion of SB3's ``RolloutBuffer.compute_returns_and_advantage`` with the episode ending at
    the last masked token; returns are ``A + V`` (the value targets).
    """
    mask = mask.to(values.dtype)
    advantages = torch.zeros_like(values)
    last = torch.zeros_like(values[:, 0])
    next_values = torch.zeros_like(values[:, 0])
    next_mask = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_values * next_mask - values[:, t]
        last = delta + gamma * gae_lambda * next_mask * last
        advantages[:, t] = last * mask[:, t]
        next_values, next_mask = values[:, t], mask[:, t]
        last = last * mask[:, t]
    return advantages, (advantages + values) * mask


def self_critical_advantages(rewards: torch.Tensor, mask: torch.Tensor, baseline: torch.Tensor, gamma: float = 1.0
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-critical advantages and returns ``[B, T]`` (Rennie et al. 2017, with per-token rewards).

    ``A_t = G_t - gamma ** (L - 1 - t) * b``: the discounted return to go of token ``t`` minus the baseline ``b``
    (the greedy episode's score on the same example, ``[B]``) discounted from the episode's last token ``L - 1``.
    Returns are ``G_t`` (the value targets).
    """
    returns, _ = compute_gae(rewards, torch.zeros_like(rewards), mask, gamma, 1.0)
    mask_f = mask.to(rewards.dtype)
    steps_left = (mask_f.sum(1, keepdim=True) - 1 - torch.arange(mask.shape[1], device=mask.device)).clamp(min=0)
    advantages = (returns - gamma**steps_left * baseline[:, None].to(rewards.dtype)) * mask_f
    return advantages, returns


def leave_one_out_baselines(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO baselines ``[B]``: each sample's is the mean score of the other samples of its group.

    ``scores`` holds ``B / group_size`` groups of ``group_size`` consecutive samples of one example each
    (Kool et al. 2019, "Buy 4 REINFORCE samples, get a baseline for free!"). The baseline does not depend on the
    sample's own score, so it adds no bias.
    """
    groups = scores.view(-1, group_size)
    return ((groups.sum(1, keepdim=True) - groups) / (group_size - 1)).flatten()


def group_normalized_advantages(scores: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """GRPO's advantages ``[B]`` (Shao et al. 2024, outcome supervision): ``(score - group mean) / (group std + eps)``.

    ``scores`` holds groups of ``group_size`` consecutive samples of one example each, as for
    :func:`leave_one_out_baselines`; the standard deviation is the sample one (Bessel-corrected), as TRL's. A group
    whose samples all scored the same gets 0.
    """
    groups = scores.view(-1, group_size)
    return ((groups - groups.mean(1, keepdim=True)) / (groups.std(1, keepdim=True) + eps)).flatten()
