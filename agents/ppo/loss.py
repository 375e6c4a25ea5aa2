"""PPO's losses as pure functions over masked token batches (Schulman et al. 2017; SB3's ``ppo.py``)."""

from __future__ import annotations

import torch

__all__ = ["approx_kl", "approx_kl_per_token", "clipped_surrogate_loss", "clipped_value_loss", "masked_mean",
           "sequence_mean"]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the positions where ``mask`` is 1 (0 if there are none)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def sequence_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each row's mean over the positions where ``mask`` is 1, then the mean over rows (GRPO's aggregation)."""
    mask = mask.to(values.dtype)
    return ((values * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def clipped_surrogate_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                           mask: torch.Tensor, clip_range: float, aggregation: str = "token"
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``-mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A))`` and the clipped fraction (over tokens).

    ``aggregation``: ``"token"``, the mean over every real token; ``"sequence"``, :func:`sequence_mean`.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = advantages * ratio
    clipped = advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
    loss = -(sequence_mean if aggregation == "sequence" else masked_mean)(torch.min(unclipped, clipped), mask)
    clip_fraction = masked_mean(((ratio - 1).abs() > clip_range).to(logprobs.dtype), mask)
    return loss, clip_fraction


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                       clip_range_vf: float | None) -> torch.Tensor:
    """Squared error to the returns; with ``clip_range_vf`` the prediction moves at most that far from the old one.

    SB3 clips the prediction and takes the plain squared error of the clipped value (not the maximum of the
    two errors, as some implementations do); we follow SB3, since we speak its dialect.
    """
    if clip_range_vf is not None:
        values = old_values + torch.clamp(values - old_values, -clip_range_vf, clip_range_vf)
    return masked_mean((returns - values) ** 2, mask)


def approx_kl_per_token(logprobs: torch.Tensor, old_logprobs: torch.Tensor) -> torch.Tensor:
    """``(r - 1) - log r`` per token, ``r = exp(logprobs - old_logprobs)`` (Schulman's unbiased estimator)."""
    log_ratio = logprobs - old_logprobs
    return torch.exp(log_ratio) - 1 - log_ratio


def approx_kl(logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean((r - 1) - log r)`` with ``r = exp(logprobs - old_logprobs)`` (Schulman's unbiased estimator, as SB3)."""
    return masked_mean(approx_kl_per_token(logprobs, old_logprobs), mask)
