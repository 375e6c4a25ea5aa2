"""The contract every registered id meets (after Gymnasium's tests/envs/test_envs.py)."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import textgym
from agents import RandomAgent, ReferenceAgent
from tests.fakes import play

ENV_IDS = sorted(textgym.ENV_IDS)


@pytest.fixture(scope="module", params=ENV_IDS)
def env(request):
    return gym.make(request.param)


def test_both_checkers(env):
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped)


def test_reference_agent_scores_one(env):
    agent = ReferenceAgent(env)
    for seed in range(5):
        rewards, actions, info, _ = play(env, agent, seed)
        assert rewards[-1] == 1.0 and info["score"] == 1.0
        assert actions[-1] == env.unwrapped.eos_token_id


def test_same_seed_same_episode(env):
    other = gym.make(env.spec.id)
    a = play(env, RandomAgent(env.action_space, seed=1), seed=7)
    b = play(other, RandomAgent(other.action_space, seed=1), seed=7)
    assert a[0] == b[0] and a[1] == b[1]
    np.testing.assert_array_equal(a[3]["input_ids"], b[3]["input_ids"])
    prompts = {env.reset(seed=s)[1]["prompt"] for s in range(8)}
    assert len(prompts) > 4


def test_pickle_round_trip(env):
    env.reset(seed=3)
    clone = pickle.loads(pickle.dumps(env))
    for action in (5, 6, env.unwrapped.eos_token_id):
        out_a, out_b = env.step(action), clone.step(action)
        np.testing.assert_array_equal(out_a[0]["input_ids"], out_b[0]["input_ids"])
        assert out_a[1:] == out_b[1:]
