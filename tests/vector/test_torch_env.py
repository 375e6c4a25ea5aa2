"""TextGenVectorEnv: spaces, alignment with single envs for every task and autoreset mode, token BLEU, bad input."""

from __future__ import annotations

import random

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from textgym.envs.episode import FINAL_INFO_KEYS, NUMERIC_INFO_KEYS, row_info
from textgym.error import InvalidActionError, InvalidArgumentError, ResetNeededError, TextGymError
from textgym.vector.torch_env import TextGenVectorEnv

SMALL = {"num_examples": {"train": 60, "validation": 20, "test": 20}}
TASKS = {
    "TextGen-Translate-v0": {**SMALL, "max_new_tokens": 10},
    "TextGen-Dialogue-v0": {**SMALL, "max_new_tokens": 10},
    "TextGen-Code-v0": {**SMALL, "max_new_tokens": 12},
}


def test_make_vec_returns_the_torch_env_with_batched_spaces():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=3, **SMALL)
    assert isinstance(envs, TextGenVectorEnv)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert envs.observation_space["input_ids"].shape == (3, 144)
    assert envs.single_action_space == gym.spaces.Discrete(2048)
    obs, info = envs.reset(seed=0)
    assert obs["input_ids"].dtype == torch.int64 and obs["input_ids"].device.type == "cpu"
    assert info["env_id"].tolist() == [0, 1, 2]
    for actions in (torch.tensor([5, 6, 7]), np.array([5, 6, 7]), [5, 6, 7]):
        obs, rewards, terminated, truncated, _ = envs.step(actions)
        assert rewards.dtype == torch.float32 and terminated.dtype == torch.bool and not truncated.any()


def _actions(rng, singles, finished):
    out = []
    for env, done in zip(singles, finished, strict=True):
        if done or env.example is None:
            out.append(rng.randrange(env.vocab_size))
            continue
        roll = rng.random()
        if roll < 0.12:
            out.append(env.eos_token_id)
        elif roll < 0.7:
            reference = env.reference_actions()
            out.append(reference[min(env._num_generated, len(reference) - 1)])
        else:
            out.append(rng.randrange(3, env.vocab_size))
    return out


def _assert_row(obs, i, single_obs):
    np.testing.assert_array_equal(obs["input_ids"][i].numpy(), single_obs["input_ids"])
    np.testing.assert_array_equal(obs["attention_mask"][i].numpy(), single_obs["attention_mask"])


def _force_accelerator_path(envs):
    """Make a CPU env take the branch-free path that runs on accelerators (masked writes, incremental token
    BLEU), so that path is checked against the single envs on machines without a GPU too."""
    envs._host = False
    envs._incremental_bleu = envs._bleu is not None


def _assert_same_final_info(vector_info, info, reward, info_metrics):
    """Row ``i`` of the vector env's ``final_info`` holds the single env's final ``info``: same keys, same values."""
    if reward == "token_bleu" and not info_metrics:  # nothing decoded: only the numbers (see the class docstring)
        info = {key: info[key] for key in NUMERIC_INFO_KEYS}
    assert set(vector_info) == set(info) >= set(FINAL_INFO_KEYS if reward == "task" or info_metrics
                                                  else NUMERIC_INFO_KEYS)
    assert set(vector_info.get("metrics", {})) == set(info.get("metrics", {}))
    assert bool(info.get("metrics")) == info_metrics or "metrics" not in info
    for key, value in info.items():
        if key in ("metrics", "score"):
            assert vector_info[key] == pytest.approx(value, abs=1e-6)
        else:
            assert vector_info[key] == value, key


def run_alignment(env_id, mode, reward="task", steps=36, num_envs=4, seed=3, accelerator_path=False,
                  info_metrics=False):
    kwargs = {**TASKS[env_id], "reward": reward, "info_metrics": info_metrics}
    envs = gym.make_vec(env_id, num_envs=num_envs, autoreset_mode=mode, **kwargs)
    if accelerator_path:
        _force_accelerator_path(envs)
    singles = [gym.make(env_id, **kwargs).unwrapped for _ in range(num_envs)]
    obs, _ = envs.reset(seed=seed)
    single_obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    for i in range(num_envs):
        _assert_row(obs, i, single_obs[i])
    rng = random.Random(0)
    pending = [False] * num_envs  # NEXT_STEP: reset on the next step; DISABLED: frozen
    ended_episodes = 0
    for step in range(steps):
        actions = _actions(rng, singles, pending)
        obs, rewards, terminated, _, infos = envs.step(torch.tensor(actions))
        for i, env in enumerate(singles):
            if pending[i] and mode == AutoresetMode.NEXT_STEP:
                single_obs[i], _ = env.reset()
                pending[i] = False
                assert rewards[i] == 0 and not terminated[i]
            elif pending[i]:  # DISABLED and frozen
                assert terminated[i] and rewards[i] == 0
            else:
                single_obs[i], r, term, _, info = env.step(actions[i])
                assert rewards[i].item() == pytest.approx(r, abs=1e-6)
                assert bool(terminated[i]) == term
                if term:
                    ended_episodes += 1
                    assert infos["_final_info"][i]
                    _assert_same_final_info(row_info(infos["final_info"], i), info, reward, info_metrics)
                    if mode == AutoresetMode.SAME_STEP:
                        _assert_row(infos["final_obs"], i, single_obs[i])
                        single_obs[i], _ = env.reset()
                    else:
                        pending[i] = True
            _assert_row(obs, i, single_obs[i])
        if mode == AutoresetMode.DISABLED and step % 9 == 8 and any(pending):
            mask = torch.tensor(pending)
            obs, _ = envs.reset(options={"reset_mask": mask})
            for i, env in enumerate(singles):
                if pending[i]:
                    single_obs[i], _ = env.reset()
                    pending[i] = False
                _assert_row(obs, i, single_obs[i])
    assert ended_episodes >= 4
    envs.close()


@pytest.mark.parametrize("mode", list(AutoresetMode))
@pytest.mark.parametrize("env_id", list(TASKS))
def test_vector_env_matches_single_envs(env_id, mode):
    run_alignment(env_id, mode)


@pytest.mark.parametrize("mode", list(AutoresetMode))
@pytest.mark.parametrize("env_id", list(TASKS))
def test_accelerator_path_matches_single_envs_on_the_cpu(env_id, mode):
    run_alignment(env_id, mode, accelerator_path=True)
    if env_id == "TextGen-Translate-v0":
        run_alignment(env_id, mode, reward="token_bleu", accelerator_path=True)


@pytest.mark.parametrize("accelerator_path", [False, True])
@pytest.mark.parametrize("env_id", list(TASKS))
def test_final_info_with_every_metric_matches_single_envs(env_id, accelerator_path):
    """``info_metrics=True``: every metric of every finished row, as the single env computes it, on both paths
    (sparse and dense rewards, the task's scorer and token BLEU)."""
    run_alignment(env_id, AutoresetMode.SAME_STEP, accelerator_path=accelerator_path, info_metrics=True)
    if env_id == "TextGen-Translate-v0":
        run_alignment(env_id, AutoresetMode.DISABLED, reward="token_bleu", accelerator_path=accelerator_path,
                      info_metrics=True)


@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_token_bleu_reward_matches_single_envs(mode):
    run_alignment("TextGen-Translate-v0", mode, reward="token_bleu")


def test_dense_token_bleu_matches_single_envs():
    kwargs = {**TASKS["TextGen-Translate-v0"], "reward": "token_bleu", "reward_mode": "dense"}
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, **kwargs)
    singles = [gym.make("TextGen-Translate-v0", **kwargs).unwrapped for _ in range(2)]
    envs.reset(seed=1)
    for i, env in enumerate(singles):
        env.reset(seed=1 + i)
    rng = random.Random(1)
    for _ in range(25):
        actions = _actions(rng, singles, [False, False])
        _, rewards, _, _, _ = envs.step(actions)
        for i, env in enumerate(singles):
            _, r, term, _, _ = env.step(actions[i])
            assert rewards[i].item() == pytest.approx(r, abs=1e-6)
            if term:
                env.reset()


def test_copy_false_returns_views_and_copy_true_fresh_tensors():
    views = gym.make_vec("TextGen-Translate-v0", num_envs=2, copy=False, **SMALL)
    first, _ = views.reset(seed=0)
    second, *_ = views.step([5, 6])
    assert first["input_ids"].data_ptr() == second["input_ids"].data_ptr()
    copies = gym.make_vec("TextGen-Translate-v0", num_envs=2, **SMALL)
    first, _ = copies.reset(seed=0)
    second, *_ = copies.step([5, 6])
    assert first["input_ids"].data_ptr() != second["input_ids"].data_ptr()
    assert not torch.equal(first["input_ids"], second["input_ids"])


def test_autoreset_mode_accepts_the_enum_value_string():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=1, autoreset_mode="NextStep", **SMALL)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP


def test_example_index_option_starts_rows_on_chosen_examples_like_the_single_env():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=3, autoreset_mode="Disabled", split="test", **SMALL)
    single = gym.make("TextGen-Translate-v0", split="test", **SMALL)
    envs.reset(seed=0)
    counters = envs.counters.clone()
    chosen = [7, 0, 19]
    obs, _ = envs.reset(options={"example_index": chosen, "reset_mask": np.array([True, False, True])})
    assert envs.example_index.tolist()[0::2] == [7, 19]
    assert torch.equal(envs.counters, counters)  # a chosen example does not use up a random draw
    for row in (0, 2):
        expected, _ = single.reset(options={"example_index": chosen[row]})
        assert np.array_equal(obs["input_ids"][row].numpy(), expected["input_ids"])
    with pytest.raises(InvalidArgumentError, match=r"example_index'\] to be 3 ints in \[0, 20\) \(the test split"):
        envs.reset(options={"example_index": [0, 1, 20]})
    with pytest.raises(InvalidArgumentError, match=r"example_index'\] to be 3 ints"):
        envs.reset(options={"example_index": [0, 1]})


# -- bad input -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def envs():
    return gym.make_vec("TextGen-Translate-v0", num_envs=3, **SMALL)


@pytest.mark.parametrize(
    ("actions", "error", "match"),
    [
        ([1, 2], InvalidActionError, r"Expected actions of shape \(3,\), one token id per env, got shape \(2,\)"),
        (torch.ones(3, 1, dtype=torch.long), InvalidActionError, r"got shape \(3, 1\)"),
        (torch.ones(3), InvalidActionError, r"Expected integer token ids, got a tensor of dtype torch.float32"),
        (np.array([0.5, 1, 2]), InvalidActionError, r"got an array of dtype float64"),
        (np.array([True, False, True]), InvalidActionError, r"got an array of dtype bool"),
        ([1, -1, 2], InvalidActionError, r"Token id -1 is out of range: each action is in Discrete\(2048\)"),
        ([1, 2, 5000], InvalidActionError, r"Token id 5000 is out of range"),
        ("abc", InvalidActionError, r"Expected actions as a torch tensor, numpy array or list of 3 token ids, got str"),
    ],
)
def test_bad_actions(envs, actions, error, match):
    envs.reset(seed=0)
    with pytest.raises(error, match=match):
        envs.step(actions)


def test_bad_reset_and_construction_arguments(envs):
    wrong_shape = r"reset_mask'\] to be a bool array of shape \(3,\), got shape \(2,\)"
    with pytest.raises(InvalidArgumentError, match=wrong_shape):
        envs.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(InvalidArgumentError, match=r"got shape \(3,\) and dtype torch.int64"):
        envs.reset(options={"reset_mask": np.array([1, 0, 1])})
    unknown = r"Unknown reset option\(s\) \['mask'\]. Accepted: 'reset_mask', 'example_index'"
    with pytest.raises(InvalidArgumentError, match=unknown):
        envs.reset(options={"mask": None})
    with pytest.raises(InvalidArgumentError, match=r"Expected seed to be an int or a list of 3 ints, got 'x'"):
        envs.reset(seed="x")
    with pytest.raises(InvalidArgumentError, match=r"Expected num_envs to be a positive int, got 0 \(int\)"):
        gym.make_vec("TextGen-Translate-v0", num_envs=0)
    with pytest.raises(InvalidArgumentError, match=r"Unknown device 'gpu0'"):
        gym.make_vec("TextGen-Translate-v0", num_envs=1, device="gpu0")
    with pytest.raises(InvalidArgumentError, match=r"Unsupported device type 'meta'"):
        gym.make_vec("TextGen-Translate-v0", num_envs=1, device="meta")
    if not torch.cuda.is_available():
        no_cuda = r"Device 'cuda' requested but torch.cuda.is_available\(\) is False"
        with pytest.raises(InvalidArgumentError, match=no_cuda):
            gym.make_vec("TextGen-Translate-v0", num_envs=1, device="cuda")
    with pytest.raises(InvalidArgumentError, match=r"Unknown autoreset_mode 'same'"):
        gym.make_vec("TextGen-Translate-v0", num_envs=1, autoreset_mode="same")
    with pytest.raises(InvalidArgumentError, match=r"Unknown reward 'bleu4'"):
        gym.make_vec("TextGen-Translate-v0", num_envs=1, reward="bleu4")


def test_step_before_reset_and_after_close():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, **SMALL)
    with pytest.raises(ResetNeededError, match=r"before reset\(\)"):
        envs.step([1, 2])
    envs.reset(seed=0)
    envs.close()
    with pytest.raises(TextGymError, match=r"This TextGenVectorEnv is closed"):
        envs.step([1, 2])
    with pytest.raises(TextGymError, match=r"closed"):
        envs.reset()


@pytest.mark.gpu
def test_cuda_rows_match_cpu_and_steps_without_ends_do_not_sync():
    kwargs = {**TASKS["TextGen-Translate-v0"], "reward": "token_bleu", "max_new_tokens": 32}
    cpu = gym.make_vec("TextGen-Translate-v0", num_envs=64, **kwargs)
    gpu = gym.make_vec("TextGen-Translate-v0", num_envs=64, device="cuda", check_actions=False, **kwargs)
    cpu.reset(seed=0)
    gpu.reset(seed=0)
    actions = torch.randint(3, 2048, (64,), generator=torch.Generator().manual_seed(0))
    device_actions = actions.cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):  # non-EOS tokens, far from the 32-token cap: no episode ends
            obs, rewards, terminated, _, _ = gpu.step(device_actions)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for _ in range(5):
        cpu_obs, cpu_rewards, *_ = cpu.step(actions)
    assert torch.equal(obs["input_ids"].cpu(), cpu_obs["input_ids"])
    assert torch.allclose(rewards.cpu(), cpu_rewards) and not terminated.any()
