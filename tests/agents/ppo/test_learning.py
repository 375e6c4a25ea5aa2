"""Learning smoke tests: PPO raises a tiny model's reward on an easy built-in task (seeded)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import textgym  # noqa: F401
from agents.ppo import PPO
from tests.fakes import char_tokenizer, easy_translation, tiny_policy
from textgym.tasks import make_task
from textgym.tokenization import train_bpe_tokenizer


def test_a_few_ppo_updates_change_the_weights_and_raise_the_reward():
    """The default run's smoke test: one short sentence, a character tokenizer (32 ids), a one-layer model, the
    reference's first three characters (then EOS) as the whole answer, token BLEU as the reward."""
    task = make_task("translate", difficulty=1, num_examples={"train": 1, "validation": 1, "test": 1})
    example = task.examples("train")[0]
    tokenizer = char_tokenizer([example.prompt, *example.references])
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=32, autoreset_mode="Disabled", task=task,
                        tokenizer=tokenizer, max_prompt_tokens=64, max_new_tokens=4, reward="token_bleu")
    policy = tiny_policy(len(tokenizer), eos_token_id=tokenizer.eos_token_id)
    before = [p.detach().clone() for p in policy.parameters()]
    model = PPO(policy, envs, seed=0, learning_rate=3e-3, n_epochs=4, batch_size=32, kl_coef=0.0, vf_coef=0.1)
    model.learn(total_timesteps=32 * 4 * 8)
    rewards = [h["rollout/ep_rew_mean"] for h in model.history]
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.parameters(), strict=True))
    assert np.mean(rewards[-2:]) > np.mean(rewards[:2]) + 0.08, rewards  # measured 0.055 -> 0.21


def _greedy_gain(seed: int, algorithm: type[PPO] = PPO) -> tuple[float, float]:
    """Greedy token BLEU on 8 embedded sentences after a weak warm start (40 SFT steps), then after 10 updates of
    ``algorithm`` (PPO or GRPO, at the same settings)."""
    from agents.evaluation import evaluate
    from agents.sft import SFTConfig

    envs, scored, policy = easy_translation(seed)
    model = algorithm(policy, envs, seed=seed, learning_rate=1e-3, n_epochs=4, batch_size=32, kl_coef=0.0,
                      baseline="group", group_size=4, temperature=0.3)
    model.warm_start(SFTConfig(steps=40, batch_size=8, seed=seed, learning_rate=3e-3))
    before = evaluate(model.policy, scored, "all").mean_reward
    model.learn(total_timesteps=32 * 12 * 10)
    return before, evaluate(model.policy, scored, "all").mean_reward


def test_rl_raises_the_greedy_score_from_a_weak_warm_start():
    """Issue 15, point 3: the greedy score (what users deploy), not the sampled reward. Leave-one-out PPO sampling
    at temperature 0.3, so samples stay near the greedy decode; at temperature 1 the same run lowered the greedy
    score on every seed tried (0.39 -> 0.18 on seed 0) while the sampled reward rose. Measured gains, seeds 0-4:
    +0.18, +0.08, +0.12, +0.37, -0.04."""
    gains = [after - before for before, after in map(_greedy_gain, (0, 1, 2))]
    assert sum(gains) / 3 > 0.08 and min(gains) > 0, gains


@pytest.mark.slow
def test_grpo_raises_the_greedy_score_from_a_weak_warm_start():
    """GRPO at PPO's settings above (only the advantages and the loss aggregation differ). Measured gains, seeds
    0-4: +0.137, +0.019, 0.000, +0.180, +0.027 on an AVX-512 AMD Zen 4 and +0.137, +0.019, 0.000, +0.144, -0.029
    on an AVX2 Zen 3 (PPO: +0.18, +0.08, +0.12, +0.37, -0.04). A seeded run is exact on one CPU, but other matmul
    kernels round differently and the runs drift apart: the claim is the mean and most seeds, with room for one
    seed to lose a little."""
    from agents.grpo import GRPO

    gains = [after - before for before, after in (_greedy_gain(seed, GRPO) for seed in range(5))]
    assert sum(gains) / 5 > 0.03 and sum(gain > 0 for gain in gains) >= 3 and min(gains) > -0.05, gains


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
