"""Registration with Gymnasium's registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import textgym
from textgym.envs.text_gen_env import TextGenEnv


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
