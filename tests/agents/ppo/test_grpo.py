"""GRPO: its advantages and loss normalisation exactly, PPO's interface, and what it refuses."""

from __future__ import annotations

import pytest
import torch

import textgym  # noqa: F401
from agents.grpo import GRPO
from agents.ppo import PPO, PPOConfig
from agents.ppo.advantages import group_normalized_advantages
from agents.ppo.loss import clipped_surrogate_loss, masked_mean, sequence_mean
from textgym.error import InvalidArgumentError

ENV = "TextGen-Translate-v0"
ENV_KWARGS = {"difficulty": 1, "max_new_tokens": 6, "num_examples": {"train": 20}}


def make(**kwargs):
    options = {"num_envs": 8, "seed": 0, "batch_size": 8, "env_kwargs": ENV_KWARGS, **kwargs}
    return GRPO("tiny", ENV, **options)


def test_group_normalized_advantages_by_hand():
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.2, 0.4, 0.6, 0.8])
    std = (4 * 0.25 / 3) ** 0.5  # the sample standard deviation of (1, 0, 0, 1)
    expected = [0.5 / (std + 1e-4), -0.5 / (std + 1e-4), -0.5 / (std + 1e-4), 0.5 / (std + 1e-4), 0, 0, 0, 0]
    spread = torch.tensor([0.2, 0.4, 0.6, 0.8]).std()
    expected += [(v - 0.5) / (float(spread) + 1e-4) for v in (0.2, 0.4, 0.6, 0.8)]
    assert group_normalized_advantages(scores, 4).tolist() == pytest.approx(expected, rel=1e-6)


def test_the_sequence_mean_weighs_short_and_long_episodes_the_same():
    values = torch.tensor([[1.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0]])
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 1]])
    assert float(sequence_mean(values, mask)) == pytest.approx((1.0 + 3.0) / 2)
    assert float(masked_mean(values, mask)) == pytest.approx((1.0 + 12.0) / 5)
    ones = torch.ones_like(values)
    assert float(clipped_surrogate_loss(ones, ones, values, mask, 0.2, "sequence")[0]) == pytest.approx(-2.0)
    assert float(clipped_surrogate_loss(ones, ones, values, mask, 0.2, "token")[0]) == pytest.approx(-13 / 5)


def test_an_update_feeds_the_loss_grpo_advantages_at_a_ratio_of_one(monkeypatch):
    """One rollout, one minibatch: the loss sees each episode's group-normalised return on every token, unscaled
    by the minibatch, aggregated per sequence, and the old log-probs equal the new ones (ratio exactly 1)."""
    import agents.ppo.ppo as ppo_module

    model = make()
    rollouts, calls = [], []
    collect = model._collect
    monkeypatch.setattr(model, "_collect", lambda *a: rollouts.append(collect(*a)) or rollouts[-1])
    surrogate = ppo_module.clipped_surrogate_loss
    monkeypatch.setattr(ppo_module, "clipped_surrogate_loss",
                        lambda *args: calls.append(args) or surrogate(*args))
    model.learn(1)
    rollout = rollouts[0][0]
    assert len(calls) == 1  # n_epochs=1, batch_size = the rollout: one step
    logprobs, old_logprobs, advantages, mask, _, aggregation = calls[0]
    assert aggregation == "sequence" and torch.equal(logprobs.detach(), old_logprobs)
    expected = group_normalized_advantages(rollout.returns, 4)[:, None] * rollout.mask
    rows = [next(i for i in range(8) if torch.equal(rollout.mask[i], mask[r])
                 and torch.equal(expected[i], advantages[r])) for r in range(8)]
    assert sorted(rows) == list(range(8))  # every episode's advantages, each exactly once
    assert "train/value_loss" not in model.history[-1]  # no critic trained


def test_grpo_speaks_ppos_interface(tmp_path):
    model = make()
    model.learn(8 * 6 * 2)
    assert model.config.baseline == "group" and model.config.n_epochs == 1 and model.kl_coef == 0
    assert model.reference is None  # no KL read: no second copy of the weights
    model.save(tmp_path / "grpo")
    loaded = GRPO.load(tmp_path / "grpo")
    assert type(loaded) is GRPO and loaded.config == model.config
    for a, b in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    token_level = make(loss_aggregation="token", n_epochs=2)  # DAPO's aggregation: an option
    assert token_level.config.loss_aggregation == "token" and token_level.config.n_epochs == 2


def test_what_grpo_and_the_config_refuse():
    with pytest.raises(InvalidArgumentError, match=r"GRPO has baseline='group' \(got 'value'\)"):
        make(baseline="value")
    with pytest.raises(InvalidArgumentError, match=r"GRPO has vf_coef=0.0 \(got 0.5\)"):
        make(vf_coef=0.5)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        make(num_generations=8)  # TRL's name; ours is group_size
    with pytest.raises(InvalidArgumentError, match=r"Unknown loss_aggregation 'dr_grpo'. Accepted: 'token', "
                                                   r"'sequence'"):
        PPOConfig(loss_aggregation="dr_grpo")
    with pytest.raises(InvalidArgumentError, match=r"advantage_scale='group' .* got baseline='value'"):
        PPOConfig(advantage_scale="group")
    with pytest.raises(InvalidArgumentError, match=r"Unknown advantage_scale 'none'"):
        PPO("tiny", ENV, advantage_scale="none", env_kwargs=ENV_KWARGS)
