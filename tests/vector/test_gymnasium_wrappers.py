"""Gymnasium's conventions on the vector env: final keys only when a row ended, and its vector wrappers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import DictInfoToList, NormalizeReward, RecordEpisodeStatistics

import textgym  # noqa: F401
from textgym.vector import TorchToNumpy

KW = {"max_new_tokens": 3, "num_examples": {"train": 50}}
FINAL_KEYS = ("final_obs", "_final_obs", "final_info", "_final_info")


def test_final_keys_are_absent_on_steps_where_nothing_ended_as_in_sync_vector_env():
    ours = gym.make_vec("TextGen-Translate-v0", num_envs=2, **KW)
    sync = gym.make_vec("TextGen-Translate-v0", num_envs=2, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **KW)
    for envs in (ours, sync):
        envs.reset(seed=0)
        seen = []
        for _ in range(3):  # the cap ends both rows on the third step
            infos = envs.step(np.full(2, 5))[4]
            seen.append({k for k in FINAL_KEYS if k in infos})
        assert seen == [set(), set(), set(FINAL_KEYS)], (type(envs).__name__, seen)
        envs.close()


@pytest.mark.parametrize("wrapper", [DictInfoToList, RecordEpisodeStatistics, NormalizeReward])
def test_gymnasium_vector_wrappers_on_the_numpy_view(wrapper):
    envs = wrapper(TorchToNumpy(gym.make_vec("TextGen-Translate-v0", num_envs=3, **KW)))
    envs.reset(seed=0)
    for _ in range(7):
        _, rewards, _, _, infos = envs.step(np.full(3, 5))
        assert rewards.shape == (3,)
    if wrapper is DictInfoToList:
        assert isinstance(infos, list) and len(infos) == 3
    if wrapper is RecordEpisodeStatistics:
        assert len(envs.return_queue) == 6 and set(envs.length_queue) == {3}  # two episodes per row
    assert envs.env.autoreset_mode == AutoresetMode.SAME_STEP  # TorchRL reads it off the numpy view
    envs.close()
