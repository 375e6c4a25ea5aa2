"""Supervised warm start: the batch layout, and that training on references raises the validation score."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import textgym  # noqa: F401
from agents.policy import TransformerPolicy
from agents.sft import SFTConfig, evaluate, sft_batch, train_sft
from textgym.error import InvalidArgumentError

KW = {"difficulty": 1, "max_new_tokens": 16, "num_examples": {"train": 300, "validation": 32}}


def test_sft_batch_layout():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="Disabled", **KW)
    input_ids, attention, labels = sft_batch(envs, torch.tensor([0, 5]))
    P = envs.max_prompt_tokens
    envs_single = gym.make("TextGen-Translate-v0", **KW).unwrapped
    envs_single.reset(options={"example_index": 5})
    reference = envs_single.reference_actions()  # tokens + EOS
    assert labels[1, : len(reference)].tolist() == reference and (labels[1, len(reference) :] == -100).all()
    assert input_ids[1, P : P + len(reference)].tolist() == reference
    assert attention[1, P:].sum() == len(reference) and torch.equal(input_ids[1, :P], envs.prompt_ids[5])


@pytest.mark.slow
def test_sft_lowers_the_loss_and_raises_the_validation_score():
    torch.manual_seed(0)
    train = gym.make_vec("TextGen-Translate-v0", num_envs=16, autoreset_mode="Disabled", **KW)
    val = gym.make_vec("TextGen-Translate-v0", num_envs=32, autoreset_mode="Disabled", split="validation", **KW)
    policy = TransformerPolicy("tiny", train.vocab_size, max_positions=96, eos_token_id=train.eos_token_id).eval()
    before = evaluate(policy, val)
    losses = train_sft(policy, train, SFTConfig(steps=200, batch_size=16, learning_rate=2e-3))
    after = evaluate(policy, val)
    assert sum(losses[-20:]) / 20 < 0.6 * sum(losses[:20]) / 20
    assert after > before + 0.2, (before, after)


def test_sft_config_errors():
    with pytest.raises(InvalidArgumentError, match=r"Expected SFTConfig.steps to be a positive int, got 0"):
        SFTConfig(steps=0)
    with pytest.raises(InvalidArgumentError, match=r"Expected SFTConfig.learning_rate > 0, got -1"):
        SFTConfig(learning_rate=-1)
