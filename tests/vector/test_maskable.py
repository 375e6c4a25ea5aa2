"""Action masks: the single env, the vector env and the SB3 adapter, with sb3-contrib's MaskablePPO."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import textgym  # noqa: F401
from textgym.vector import SB3VecEnv

KW = {"max_new_tokens": 4, "num_examples": {"train": 30}}


def test_masks_forbid_the_special_tokens_but_eos():
    env = gym.make("TextGen-Translate-v0", **KW).unwrapped
    mask = env.action_masks()
    tokenizer = env.tokenizer
    assert mask.shape == (env.action_space.n,) and mask.dtype == bool
    assert mask[env.eos_token_id] and not mask[env.pad_token_id] and not mask[tokenizer.bos_token_id]
    assert mask.sum() == env.action_space.n - len(set(tokenizer.all_special_ids) - {env.eos_token_id})
    venv = gym.make_vec("TextGen-Translate-v0", num_envs=3, autoreset_mode="SameStep", **KW)
    assert venv.action_masks().shape == (3, env.action_space.n)
    assert (venv.action_masks().numpy() == mask).all()
    adapter = SB3VecEnv(venv)
    per_row = adapter.env_method("action_masks")
    assert len(per_row) == 3 and all((m == mask).all() for m in per_row)
    assert len(adapter.env_method("action_masks", indices=[1])) == 1


@pytest.mark.parametrize("how", ["make_vec_env", "adapter"])
def test_maskable_ppo_never_samples_a_masked_token(how):
    sb3_contrib = pytest.importorskip("sb3_contrib")
    from sb3_contrib.common.maskable.utils import get_action_masks
    from stable_baselines3.common.env_util import make_vec_env

    if how == "make_vec_env":
        envs = make_vec_env("TextGen-Translate-v0", n_envs=2, seed=0, env_kwargs=KW)
    else:
        envs = SB3VecEnv(gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="SameStep", **KW))
    model = sb3_contrib.MaskablePPO("MultiInputPolicy", envs, n_steps=8, batch_size=16, n_epochs=1, seed=0)
    model.learn(16)
    obs = envs.reset()
    masks = get_action_masks(envs)
    assert masks.shape == (2, envs.action_space.n)
    sampled = np.concatenate([model.predict(obs, action_masks=masks)[0] for _ in range(50)])
    assert masks[0][sampled].all()  # never a masked (special) token
    envs.close()
