"""Third-party agents on the vector env: stock Stable-Baselines3 and a CleanRL-style numpy loop."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecNormalize

import textgym  # noqa: F401
from textgym.error import InvalidArgumentError
from textgym.vector import SB3VecEnv, TorchToNumpy

KW = {"num_examples": {"train": 80, "validation": 20, "test": 20}, "max_new_tokens": 8, "difficulty": 1}


@pytest.fixture
def venv():
    return SB3VecEnv(gym.make_vec("TextGen-Translate-v0", num_envs=4, **KW))


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_stock_sb3_algorithms_learn(venv, algo):
    kwargs = {"n_steps": 16, "batch_size": 32, "n_epochs": 1} if algo is PPO else {"n_steps": 8}
    model = algo("MultiInputPolicy", venv, seed=0, **kwargs)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=128)
    assert any(not np.allclose(b, p.detach()) for b, p in zip(before, model.policy.parameters(), strict=True))
    assert len(model.ep_info_buffer) >= 4  # the adapter's Monitor-style episode statistics reach SB3's logger
    mean, std = evaluate_policy(model, venv, n_eval_episodes=4)
    assert 0.0 <= mean <= 1.0 and std >= 0.0


def test_step_info_conventions(venv):
    venv.seed(5)
    obs = venv.reset()
    assert obs["input_ids"].shape == (4, 88) and obs["input_ids"].dtype == np.int64
    for _ in range(8):  # the 8-token cap ends every episode on the 8th step
        venv.step_async(np.full(4, 7))
        obs, rewards, dones, infos = venv.step_wait()
    assert rewards.dtype == np.float32 and dones.dtype == np.bool_ and dones.all()
    for info in infos:
        assert info["terminal_observation"]["attention_mask"][80:].sum() == 8
        assert info["TimeLimit.truncated"] is False
        assert info["episode"]["l"] == 8 and info["episode"]["r"] == pytest.approx(info["score"])
    assert (obs["attention_mask"][:, 80:] == 0).all()  # already the next episodes


def test_attribute_and_method_forwarding(venv):
    assert venv.get_attr("num_envs") == [4, 4, 4, 4]
    assert venv.get_attr("max_new_tokens", indices=[1, 2]) == [8, 8]
    venv.set_attr("copy", False)
    assert venv.venv.copy is False
    assert venv.env_method("__repr__", indices=0) == [repr(venv.venv)]
    assert venv.env_is_wrapped(Monitor) == [True] * 4 and venv.env_is_wrapped(gym.Wrapper) == [False] * 4
    assert venv.seed(3) == [3, 4, 5, 6]
    assert isinstance(VecNormalize(venv, norm_obs=False), VecNormalize)  # SB3 wrappers stack on it


def test_adapter_bad_input():
    with pytest.raises(InvalidArgumentError, match=r"SB3VecEnv wraps a TextGenVectorEnv.*got CartPoleEnv"):
        SB3VecEnv(gym.make("CartPole-v1").unwrapped)
    with pytest.raises(InvalidArgumentError, match=r"needs autoreset_mode=SAME_STEP"):
        SB3VecEnv(gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="NextStep", **KW))


def test_cleanrl_style_numpy_loop():
    envs = TorchToNumpy(gym.make_vec("TextGen-Translate-v0", num_envs=4, **KW))
    obs, _ = envs.reset(seed=1)
    rng = np.random.default_rng(0)
    episodic_returns = []
    for _ in range(20):
        actions = rng.integers(0, envs.single_action_space.n, size=envs.num_envs)
        obs, rewards, _, _, infos = envs.step(actions)
        assert isinstance(obs["input_ids"], np.ndarray) and isinstance(rewards, np.ndarray)
        if "final_info" in infos:
            episodic_returns += infos["final_info"]["score"][infos["_final_info"]].tolist()
    assert len(episodic_returns) >= 8 and all(0.0 <= r <= 1.0 for r in episodic_returns)
    envs.close()
