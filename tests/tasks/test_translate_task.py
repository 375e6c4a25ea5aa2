"""TranslateTask: built-in splits, real data by name and path, env contract on Multi30k, bad arguments."""

from __future__ import annotations

import importlib.util
import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import textgym  # noqa: F401
from agents import ReferenceAgent
from tests.data import shared_data
from tests.fakes import play
from textgym.error import (
    DataFileError,
    DataFileNotFoundError,
    InvalidArgumentError,
    UnknownDatasetError,
    UnknownScorerError,
)
from textgym.tasks import make_task


def test_builtin_splits_are_disjoint_and_deterministic():
    task = make_task("translate", difficulty=3)
    texts = {s: {e.source for e in task.examples(s)[:400]} for s in ("train", "validation", "test")}
    assert not texts["train"] & texts["validation"] and not texts["train"] & texts["test"]
    assert not texts["validation"] & texts["test"]
    again = make_task("translate", difficulty=3)
    assert [e for e in again.examples("test")[:20]] == list(task.examples("test")[:20])
    other_seed = make_task("translate", difficulty=3, seed=1)
    assert other_seed.examples("test")[0] != task.examples("test")[0]
    assert len(task.examples("train")) == 20000 and len(task.examples("validation")) == 500


def test_builtin_has_multiple_references_and_all_directions():
    task = make_task("translate", difficulty=4, target_lang="fr")
    assert sum(len(e.references) > 1 for e in task.examples("validation")[:100]) > 30
    for src, tgt in [("de", "en"), ("fr", "de"), ("de", "fr")]:
        ex = make_task("translate", source_lang=src, target_lang=tgt).examples("train")[0]
        assert ex.prompt.startswith(f"Translate {dict(en='English', de='German', fr='French')[src]} to")


def test_num_examples():
    task = make_task("translate", num_examples={"train": 50, "test": 7})
    assert (len(task.examples("train")), len(task.examples("test"))) == (50, 7)
    with pytest.raises(InvalidArgumentError, match=r"num_examples\['test'\] to be a positive int, got 0"):
        make_task("translate", num_examples={"test": 0})


@pytest.fixture(scope="module")
def multi30k_env():
    return gym.make("TextGen-Translate-v0", dataset="multi30k", data_dir=shared_data("multi30k"),
                    max_prompt_tokens=96, max_new_tokens=96)


def test_multi30k_env_passes_both_checkers(multi30k_env):
    gym_check_env(multi30k_env.unwrapped)
    sb3_check_env(multi30k_env.unwrapped)


def test_multi30k_env_reference_scores_one_with_its_own_tokenizer(multi30k_env):
    env = multi30k_env
    assert env.unwrapped.tokenizer is not None and len(env.unwrapped.tokenizer) == 2048
    agent = ReferenceAgent(env)
    for seed in range(5):
        rewards, _, info, _ = play(env, agent, seed)
        assert rewards[-1] == 1.0 and info["response"] == info["references"][0]


def test_file_datasets(tmp_path):
    src, tgt = tmp_path / "t.en", tmp_path / "t.de"
    src.write_text("\n".join(f"sentence number {i}" for i in range(200)), encoding="utf-8")
    tgt.write_text("\n".join(f"Satz Nummer {i}" for i in range(200)), encoding="utf-8")
    task = make_task("translate", dataset=(src, tgt))
    sizes = {s: len(task.examples(s)) for s in ("train", "validation", "test")}
    assert sum(sizes.values()) == 200 and sizes["train"] > 150
    by_split = make_task("translate", dataset={"train": (src, tgt), "test": (src, tgt)})
    assert len(by_split.examples("test")) == 200
    with pytest.raises(InvalidArgumentError, match=r"has no 'validation' split. Available: \['test', 'train'\]"):
        by_split.examples("validation")


def test_every_dataset_prompt_carries_the_instruction(tmp_path):
    """Loaded datasets build their prompts at load time: they must see the task's template (issue 16's bug)."""
    src, tgt = tmp_path / "t.en", tmp_path / "t.de"
    src.write_text("\n".join(f"sentence number {i}" for i in range(40)), encoding="utf-8")
    tgt.write_text("\n".join(f"Satz Nummer {i}" for i in range(40)), encoding="utf-8")
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("\n".join(json.dumps({"translation": {"en": f"s{i}", "de": f"t{i}"}}) for i in range(40)))
    datasets = {"builtin": {}, "files": {"dataset": (src, tgt)}, "jsonl": {"dataset": jsonl},
                "multi30k": {"dataset": "multi30k", "data_dir": shared_data("multi30k")},
                "tatoeba": {"dataset": "tatoeba", "data_dir": shared_data("tatoeba-laser")}}
    if importlib.util.find_spec("datasets") is not None:
        datasets["hf"] = {"dataset": "hf:json", "dataset_kwargs": {"data_files": {"train": str(jsonl)}}}
    for name, kwargs in datasets.items():
        task = make_task("translate", source_lang="en", target_lang="de", **kwargs)
        example = task.examples("train")[0]
        assert example.prompt == task.prompt_template.format(source=example.source), name
        assert example.prompt.startswith("Translate English to German:\n"), (name, example.prompt)


def test_bad_dataset_arguments(tmp_path):
    with pytest.raises(UnknownDatasetError, match=r"Unknown dataset 'multi30'. Did you mean 'multi30k'\?"):
        make_task("translate", dataset="multi30")
    with pytest.raises(InvalidArgumentError, match=r"dataset='tatoeba' needs data_dir="):
        make_task("translate", dataset="tatoeba")
    with pytest.raises(DataFileNotFoundError, match=r"data_dir '.*nowhere' for dataset 'multi30k' is not a folder"):
        make_task("translate", dataset="multi30k", data_dir=tmp_path / "nowhere")
    with pytest.raises(DataFileNotFoundError, match=r"Data file '.*missing.tsv' not found"):
        make_task("translate", dataset=str(tmp_path / "missing.tsv"))
    missing = r"Multi30k file 'train.en.gz' \(or 'train.en'\) not found in '.*'; expected"
    with pytest.raises(DataFileNotFoundError, match=missing):
        make_task("translate", dataset="multi30k", data_dir=tmp_path)
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DataFileError, match=r"Cannot tell the format of '.*x.csv'"):
        make_task("translate", dataset=tmp_path / "x.csv")
    with pytest.raises(InvalidArgumentError, match=r"Expected dataset to be a name, a path.*got 42 \(int\)"):
        make_task("translate", dataset=42)
    with pytest.raises(UnknownScorerError, match=r"Unknown scorer 'blue'. Did you mean 'bleu'\?"):
        make_task("translate", scorer="blue")
