"""PPO data-parallel under torchrun with gloo on the CPU (issue 18): 2 ranks take the step one process takes on the
union of their batches, stay identical, checkpoints cross world sizes, and a dead rank is a clear error."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from agents.ppo import PPO
from agents.rollout import Rollout
from tests.agents.ppo.distributed_worker import ENV, OPTIONS, capture_gradients, parameters

WORKER = Path(__file__).with_name("distributed_worker.py")
REPO = Path(__file__).resolve().parents[3]
PYTHONPATH = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


def torchrun(*args, nproc=2, timeout=180):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
               str(_free_port()), str(WORKER), *map(str, args)]
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_textgym_train_under_torchrun_trains_on_both_ranks_and_reports_once(tmp_path):
    """The README's launch: ``torchrun --nproc_per_node 2 -m agents train ...``; rank 0 evaluates, prints, saves."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(_free_port()), "-m", "agents", "train", "--num-envs", "8", "--sft-steps", "20", "--anneal-steps",
               "5", "--ppo-updates", "2", "--out", str(tmp_path / "run"), "--env-kwarg", "difficulty=1",
               "--env-kwarg", "max_new_tokens=12"]
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = [line for line in result.stdout.splitlines() if line.startswith("validation score")]
    assert len(scores) == 3, result.stdout  # once, from rank 0
    assert "the SFT-only control runs in one process: not run under torchrun" in result.stdout
    model = PPO.load(tmp_path / "run")
    assert model.num_timesteps > 0 and json.loads((tmp_path / "run" / "config.json").read_text())["world_size"] == 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def union_rollout(tmp_path_factory):
    """A real rollout of 8 episodes: one process plays them all, the 2 ranks get 4 each."""
    model = PPO("tiny", ENV, **{**OPTIONS, "num_envs": 8, "batch_size": 8})
    model.env.reset(seed=0)
    rollout, _ = model._collect()
    path = tmp_path_factory.mktemp("rollout") / "rollout.pt"
    torch.save({f.name: getattr(rollout, f.name) for f in fields(Rollout)}, path)
    return path, rollout


@pytest.mark.slow  # torchrun starts two interpreters: ~15 s
def test_two_ranks_take_the_one_process_step_on_the_union(union_rollout, tmp_path):
    path, rollout = union_rollout
    torchrun("update", tmp_path, path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    single = PPO("tiny", ENV, **{**OPTIONS, "num_envs": 8, "batch_size": 8, "n_epochs": 1})
    single._collect = lambda on_step=None: (rollout, [])
    gradients = capture_gradients(single)
    single.learn(1)
    expected = parameters(single)
    assert len(gradients) == len(ranks[0]["gradients"]) == 1  # one epoch of one minibatch: one step
    for name, grad in gradients[0].items():  # the step's gradient: the one-process gradient of the union
        torch.testing.assert_close(ranks[0]["gradients"][0][name], grad, rtol=1e-4, atol=1e-7, msg=name)
    for name, weight in expected.items():
        # the same parameters to float tolerance wherever the gradient is above float noise: Adam's first step moves
        # each weight by lr * g / (|g| + eps), so where g is ~0 the summation order decides its sign (both within lr)
        clear = gradients[0][name].abs() > 1e-6
        torch.testing.assert_close(ranks[0]["parameters"][name][clear], weight[clear], rtol=1e-6, atol=1e-7, msg=name)
        assert ((ranks[0]["parameters"][name] - weight).abs() <= 2.01 * OPTIONS["learning_rate"]).all()
        assert torch.equal(ranks[0]["parameters"][name], ranks[1]["parameters"][name]), name  # identical ranks
    assert any(not torch.equal(weight, p) for weight, p in zip(expected.values(), parameters(
        PPO("tiny", ENV, **{**OPTIONS, "num_envs": 8, "batch_size": 8})).values(), strict=True))  # it stepped
    assert ranks[0]["num_timesteps"] == ranks[1]["num_timesteps"] == single.num_timesteps == int(rollout.mask.sum())
    for key in ("train/approx_kl", "train/clip_fraction"):  # decisions read the all-rank statistics
        assert ranks[0]["stats"][key] == pytest.approx(single.history[-1][key], rel=1e-4, abs=1e-7)
    # the checkpoint written under 2 ranks loads in one process: the same weights
    loaded = PPO.load(tmp_path / "checkpoint")
    for name, weight in parameters(loaded).items():
        assert torch.equal(weight, ranks[0]["parameters"][name])


@pytest.mark.slow
def test_ranks_stay_identical_through_sft_and_ppo_and_a_one_process_checkpoint_loads_under_two(tmp_path):
    torchrun("train", tmp_path)
    sft0, sft1 = (torch.load(tmp_path / f"rank{r}-sft.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(sft0["after"][name], sft1["after"][name]) for name in sft0["after"])  # SFT in step too
    assert any(not torch.equal(sft0["after"][name], sft0["before"][name]) for name in sft0["after"])
    for update in (1, 2, 3):
        rank0, rank1 = (torch.load(tmp_path / f"rank{r}-update{update}.pt", weights_only=True) for r in (0, 1))
        assert all(torch.equal(rank0[name], rank1[name]) for name in rank0), update
    model = PPO("tiny", ENV, **OPTIONS)
    model.learn(4 * 6)
    model.save(tmp_path / "single")
    (tmp_path / "loaded").mkdir()
    torchrun("load", tmp_path / "loaded", tmp_path / "single")
    rank0, rank1 = (torch.load(tmp_path / "loaded" / f"rank{r}.pt", weights_only=True)["parameters"] for r in (0, 1))
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    assert any(not torch.equal(rank0[name], w) for name, w in parameters(model).items())  # loaded, then trained


@pytest.mark.slow
def test_a_rank_that_dies_makes_the_other_fail_with_a_clear_error(tmp_path):
    """Started as torchrun would start them (its environment variables), so rank 0's own error is what we read."""
    port = _free_port()
    processes = []
    for rank in (0, 1):
        env = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1", "RANK": str(rank),
               "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "TEXTGYM_DIST_TIMEOUT": "30"}
        processes.append(subprocess.Popen([sys.executable, str(WORKER), "die", str(tmp_path)], env=env, cwd=REPO,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    _, err = processes[0].communicate(timeout=120)  # not a hang
    processes[1].wait(timeout=30)
    assert processes[1].returncode == 3 and processes[0].returncode != 0
    assert "DistributedError: Rank 0 of 2 failed while" in err and "another rank died" in err, err[-2000:]
