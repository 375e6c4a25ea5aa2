"""GAE and the PPO losses against values worked out by hand (like SB3's tests/test_gae.py)."""

from __future__ import annotations

import math

import pytest
import torch

from agents.ppo import PPOConfig, clipped_surrogate_loss, clipped_value_loss, compute_gae, masked_mean
from agents.ppo.advantages import leave_one_out_baselines, self_critical_advantages
from agents.ppo.loss import approx_kl
from textgym.error import InvalidArgumentError


def test_gae_by_hand():
    # one episode of 3 tokens, reward only at the end; gamma 0.9, lambda 0.5; a second row of 2 tokens
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 0.0]])
    values = torch.tensor([[0.2, 0.4, 0.6], [0.1, 0.3, 9.9]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    advantages, returns = compute_gae(rewards, values, mask, gamma=0.9, gae_lambda=0.5)
    # row 0: d2 = 1 - 0.6 = 0.4; d1 = 0 + 0.9*0.6 - 0.4 = 0.14; d0 = 0.9*0.4 - 0.2 = 0.16
    # A2 = 0.4; A1 = 0.14 + 0.45*0.4 = 0.32; A0 = 0.16 + 0.45*0.32 = 0.304
    # row 1 (ends at t=1, the 9.9 is padding): d1 = 0 - 0.3 = -0.3; d0 = 0.5 + 0.9*0.3 - 0.1 = 0.67
    # A1 = -0.3; A0 = 0.67 + 0.45*(-0.3) = 0.535
    expected = torch.tensor([[0.304, 0.32, 0.4], [0.535, -0.3, 0.0]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, (expected + values) * mask)


def test_gae_lambda_one_gamma_one_is_monte_carlo():
    rewards = torch.tensor([[0.0, 0.0, 0.7]])
    values = torch.tensor([[0.1, 0.2, 0.3]])
    advantages, returns = compute_gae(rewards, values, torch.ones(1, 3), gamma=1.0, gae_lambda=1.0)
    torch.testing.assert_close(returns, torch.full((1, 3), 0.7))
    torch.testing.assert_close(advantages, 0.7 - values)


def test_clipped_surrogate_by_hand():
    old = torch.log(torch.tensor([[0.5, 0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.75, 0.5, 0.25]]))  # ratios 1.5, 1.0, 0.5
    advantages = torch.tensor([[1.0, 2.0, -1.0]])
    loss, clip_fraction = clipped_surrogate_loss(new, old, advantages, torch.ones(1, 3), clip_range=0.2)
    # min(1.5*1, 1.2*1) = 1.2; min(1*2, 1*2) = 2; min(0.5*-1, 0.8*-1) = -0.8  -> mean 2.4/3 = 0.8
    assert loss.item() == pytest.approx(-0.8)
    assert clip_fraction.item() == pytest.approx(2 / 3)
    masked, _ = clipped_surrogate_loss(new, old, advantages, torch.tensor([[1, 1, 0]]), clip_range=0.2)
    assert masked.item() == pytest.approx(-1.6)


def test_clipped_value_loss_by_hand():
    values, old = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]])
    returns = torch.tensor([[2.0, 0.0]])
    assert clipped_value_loss(values, old, returns, torch.ones(1, 2), None).item() == pytest.approx(0.5)
    # clipped predictions: 0.5 + 0.2 = 0.7 and 0.5 - 0.2 = 0.3 -> errors 1.69 and 0.09
    assert clipped_value_loss(values, old, returns, torch.ones(1, 2), 0.2).item() == pytest.approx(0.89)


def test_approx_kl_and_masked_mean():
    log_ratio = math.log(2.0)
    kl = approx_kl(torch.tensor([[log_ratio, 0.0]]), torch.zeros(1, 2), torch.tensor([[1, 0]]))
    assert kl.item() == pytest.approx(2 - 1 - log_ratio)
    assert masked_mean(torch.ones(2, 2), torch.zeros(2, 2)).item() == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, r"Expected batch_size to be a positive int, got 0 \(int\)"),
        ({"n_steps": -2}, r"Expected n_steps to be a positive int, got -2"),
        ({"learning_rate": 0.0}, r"Expected learning_rate > 0, got 0.0"),
        ({"temperature": 0}, r"Expected temperature > 0, got 0 \(int\)"),
        ({"n_epochs": 1.5}, r"Expected n_epochs to be a positive int, got 1.5 \(float\)"),
        ({"gamma": 1.5}, r"Expected gamma in \[0, 1\], got 1.5"),
        ({"kl_coef": -0.1}, r"Expected kl_coef >= 0, got -0.1"),
        ({"target_kl": 0}, r"Expected target_kl > 0 or None, got 0"),
        ({"baseline": "critic"}, r"Unknown baseline 'critic'. Accepted: 'value', 'greedy', 'group'"),
        ({"group_size": 1}, r"Expected group_size to be an int >= 2, got 1"),
    ],
)
def test_config_checks_itself(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        PPOConfig(**kwargs)


def test_batch_size_must_divide_the_rollout():
    PPOConfig(n_steps=2, batch_size=8).check_batch(num_envs=4)
    with pytest.raises(InvalidArgumentError, match=r"group_size=3 does not divide num_envs=4.*divisor of 4"):
        PPOConfig(baseline="group", group_size=3, batch_size=4).check_batch(num_envs=4)
    with pytest.raises(InvalidArgumentError, match=r"batch_size=6 does not divide .* = 2 \* 4 = 8 episodes"):
        PPOConfig(n_steps=2, batch_size=6).check_batch(num_envs=4)


def test_self_critical_advantages_by_hand():
    # two episodes: lengths 3 and 2; env reward at the last token, a KL penalty of -0.1 on every token
    rewards = torch.tensor([[-0.1, -0.1, 0.9, 0.0], [-0.1, 0.4, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    greedy = torch.tensor([0.5, 0.8])
    advantages, returns = self_critical_advantages(rewards, mask, greedy, gamma=1.0)
    assert torch.allclose(returns, torch.tensor([[0.7, 0.8, 0.9, 0.0], [0.3, 0.4, 0.0, 0.0]]))
    # return to go minus the greedy score: better than greedy -> positive, worse -> negative
    assert torch.allclose(advantages, torch.tensor([[0.2, 0.3, 0.4, 0.0], [-0.5, -0.4, 0.0, 0.0]]))
    advantages, _ = self_critical_advantages(rewards, mask, greedy, gamma=0.5)
    # G_0 = -0.1 + 0.5 * -0.1 + 0.25 * 0.9 = 0.075; baseline discounted from the last token: 0.25 * 0.5
    assert advantages[0, 0].item() == pytest.approx(0.075 - 0.125)


def test_leave_one_out_baselines_by_hand():
    scores = torch.tensor([0.2, 0.4, 0.9, 0.1])
    assert torch.allclose(leave_one_out_baselines(scores, 2), torch.tensor([0.4, 0.2, 0.1, 0.9]))
    assert torch.allclose(leave_one_out_baselines(scores, 4), torch.tensor([1.4, 1.2, 0.7, 1.5]) / 3)
    # a sample better than the others of its example gets a positive advantage, and they sum to zero per group
    advantages = scores - leave_one_out_baselines(scores, 2)
    assert advantages[0] < 0 < advantages[2] and torch.allclose(advantages.view(2, 2).sum(1), torch.zeros(2), atol=1e-6)
