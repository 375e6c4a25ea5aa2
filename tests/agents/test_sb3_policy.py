"""Stock Stable-Baselines3 PPO trains the transformer through agents.sb3_policy.TransformerActorCriticPolicy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import textgym  # noqa: F401
from agents.sb3_policy import TransformerActorCriticPolicy
from textgym.error import InvalidArgumentError
from textgym.vector import SB3VecEnv

KW = {"num_examples": {"train": 40}, "max_new_tokens": 6, "difficulty": 1}


def test_stock_sb3_ppo_trains_the_transformer():
    venv = SB3VecEnv(gym.make_vec("TextGen-Translate-v0", num_envs=4, **KW))
    model = PPO(TransformerActorCriticPolicy, venv, n_steps=12, batch_size=16, n_epochs=1, seed=0,
                policy_kwargs={"model": "tiny"})
    policy = model.policy
    assert policy.action_net is policy.transformer.lm.get_output_embeddings()  # the LM head is the action net
    assert policy.ortho_init is False
    before = [p.detach().clone() for p in policy.transformer.parameters()]
    model.learn(total_timesteps=48)
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.transformer.parameters(), strict=True))
    obs = venv.reset()
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (4,) and np.all((actions >= 0) & (actions < venv.action_space.n))
    # SB3 stores observations as float32; the policy casts them back to token ids and gets the same answer
    float_obs = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in obs.items()}
    long_obs = {k: torch.as_tensor(v) for k, v in obs.items()}
    with torch.no_grad():
        torch.testing.assert_close(policy.predict_values(float_obs), policy.predict_values(long_obs))


def test_wrong_spaces():
    with pytest.raises(InvalidArgumentError, match=r"needs a Discrete action space"):
        TransformerActorCriticPolicy(gym.spaces.Dict({"input_ids": gym.spaces.Box(0, 1, (3,))}),
                                     gym.spaces.Box(0, 1, (2,)), lambda _: 1e-3)
    with pytest.raises(InvalidArgumentError, match=r"needs textgym's Dict\(input_ids, attention_mask\)"):
        TransformerActorCriticPolicy(gym.spaces.Box(0, 1, (3,)), gym.spaces.Discrete(5), lambda _: 1e-3)


def test_the_old_name_points_to_the_new_one():
    import agents.sb3_policy

    with pytest.raises(AttributeError, match=r"TransformerPolicy was renamed TransformerActorCriticPolicy"):
        agents.sb3_policy.TransformerPolicy  # noqa: B018
