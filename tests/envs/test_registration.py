"""Registration with Gymnasium's registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import textgym
from tests.data import shared_data
from textgym.envs.text_gen_env import TextGenEnv
from textgym.error import TextGymError


def test_ids_registered_on_import():
    assert set(textgym.ENV_IDS) <= set(gym.registry)
    spec = gym.spec("TextGen-Translate-v0")
    assert spec.entry_point == "textgym.envs.text_gen_env:TextGenEnv" and spec.kwargs == {"task": "translate"}
    assert isinstance(gym.make("TextGen-Translate-v0").unwrapped, TextGenEnv)


def test_make_with_module_prefix_needs_no_prior_import():
    code = (
        "import sys, gymnasium as gym\n"
        "assert 'textgym' not in sys.modules\n"
        "env = gym.make('textgym:TextGen-Translate-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, info['example_id'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2])
    assert out.stdout.split()[0] == "TextGenEnv"


def test_import_is_light():
    code = "import sys, textgym; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2])
    assert out.stdout.split() == ["False", "False"]


def test_unknown_id_gets_gymnasium_suggestion():
    with pytest.raises(gym.error.NameNotFound, match=r"TextGen-Translat"):
        gym.make("TextGen-Translat-v0")


@pytest.mark.parametrize("env_id", sorted(textgym.ENV_IDS))
def test_every_id_has_both_entry_points(env_id):
    spec = gym.spec(env_id)
    assert spec.entry_point == "textgym.envs.text_gen_env:TextGenEnv"
    assert spec.vector_entry_point == "textgym.vector.torch_env:TextGenVectorEnv"
    assert spec.kwargs["task"] in {"translate", "dialogue", "code"}


def test_unknown_arguments_are_type_errors_as_in_python():
    with pytest.raises(TypeError, match=r"Task 'translate' got an unexpected keyword argument 'frameskip'"):
        gym.make("TextGen-Translate-v0", frameskip=4)  # TorchRL's GymEnv tries it and catches TypeError
    with pytest.raises(TypeError, match=r"Unknown render_mode 'rgb_array'") as caught:
        gym.make("TextGen-Translate-v0", render_mode="rgb_array")
    assert isinstance(caught.value, (TextGymError, ValueError))


@pytest.mark.parametrize("vec_env", ["dummy", "subproc"])
def test_sb3_make_vec_env(vec_env):
    """SB3's make_vec_env asks for render_mode='rgb_array' and retries without it on a TypeError."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    cls = DummyVecEnv if vec_env == "dummy" else SubprocVecEnv
    # Gymnasium's "module:id" imports textgym in the workers, which start from a fresh forkserver
    venv = make_vec_env("textgym:TextGen-Translate-v0", n_envs=2, seed=0, vec_env_cls=cls)
    try:
        obs = venv.reset()
        assert obs["input_ids"].shape[0] == 2
        obs, rewards, _, infos = venv.step(np.zeros(2, dtype=np.int64))
        assert rewards.shape == (2,) and len(infos) == 2
    finally:
        venv.close()


def test_torchrl_gym_env_rollout():
    """TorchRL's GymEnv passes frameskip and retries without it on Python's TypeError wording."""
    torchrl_envs = pytest.importorskip("torchrl.envs")
    env = torchrl_envs.GymEnv("TextGen-Translate-v0", max_new_tokens=4)
    rollout = env.rollout(6)
    assert rollout["next", "done"].any()  # a 4-token cap ends the episode within 6 steps
    assert rollout["next", "input_ids"].shape[-1] == rollout["input_ids"].shape[-1]
    env.close()


def test_torchrl_gym_wrapper_on_the_vector_env():
    """TorchRL's GymWrapper over the torch vector env, episodes ending at different steps, six rollouts. Its info
    reader needs the same info keys at reset and at every step (a step without env_id raised KeyError 'env_id')."""
    torchrl_envs = pytest.importorskip("torchrl.envs")
    kwargs = {"dataset": "multi30k", "data_dir": shared_data("multi30k"), "max_new_tokens": 8}
    venv = gym.make_vec("TextGen-Translate-v0", num_envs=4, **kwargs)
    env = torchrl_envs.GymWrapper(venv)
    env.set_seed(0)
    for _ in range(6):
        rollout = env.rollout(20, break_when_any_done=False)
        assert rollout.batch_size == (4, 20)
        done, reward = rollout["next", "done"][..., 0], rollout["next", "reward"][..., 0]
        assert (done.sum(1) >= 2).all()  # every row ends at the latest after 8 steps, and is reset (SAME_STEP)
        assert (reward[~done] == 0).all() and ((reward[done] >= 0) & (reward[done] <= 1)).all()  # sparse, in [0, 1]
    env.close()
