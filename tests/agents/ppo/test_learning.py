"""Learning smoke test: PPO raises a tiny model's reward on an easy built-in task (seeded)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import textgym  # noqa: F401
from agents.ppo import PPO
from textgym.tasks import make_task
from textgym.tokenization import train_bpe_tokenizer


@pytest.mark.slow
def test_ppo_raises_the_reward_on_an_easy_task(tmp_path):
    # Easy: one fixed difficulty-1 sentence, 4-token answers, a 300-id tokenizer (bytes + a few merges)
    task = make_task("translate", difficulty=1, num_examples={"train": 1})
    tokenizer = train_bpe_tokenizer(list(task.tokenizer_texts())[:3000], tmp_path / "tok.json", vocab_size=300)
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=32, autoreset_mode="Disabled", tokenizer=tokenizer,
                        difficulty=1, max_new_tokens=4, num_examples={"train": 1})
    model = PPO("tiny", envs, seed=0, learning_rate=3e-3, n_epochs=8, batch_size=32, kl_coef=0.0, clip_range=0.3)
    model.learn(total_timesteps=32 * 4 * 25)
    rewards = [h["rollout/ep_rew_mean"] for h in model.history]
    first, last = np.mean(rewards[:5]), np.mean(rewards[-5:])
    assert last > 1.5 * first, rewards  # measured: 0.032 -> 0.090 over 25 updates
    assert model.history[-1]["train/entropy"] < 0.5 * math.log(len(tokenizer))  # the policy concentrated
