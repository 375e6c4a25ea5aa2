"""``hf:`` datasets for dialogue and code (translation's are in test_translate_task.py), read by the real
``datasets.load_dataset`` from files made here out of the shared data: each must give the examples the file loader
gives for the same records."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.data import shared_data
from textgym.error import DataFileError, InvalidArgumentError, UnknownDatasetError
from textgym.tasks import make_task

pytest.importorskip("datasets")


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return str(path)


def _chitchat(n=60):
    with gzip.open(shared_data("chitchat") / "chitchat_2party_min6turns.jsonl.gz", "rt") as handle:
        return [json.loads(next(handle)) for _ in range(n)]


def _same_examples(a, b):
    for split in ("train", "validation", "test"):
        left, right = a.examples(split), b.examples(split)
        assert [(e.prompt, e.references) for e in left] == [(e.prompt, e.references) for e in right], split


def test_hf_dialogues_in_the_chat_messages_format_equal_the_jsonl_loader(tmp_path):
    rows = _chitchat()
    turns_file = _write_jsonl(tmp_path / "turns.jsonl", [{"id": r["id"], "turns": r["turns"]} for r in rows])
    # the same dialogues as chat messages: speakers 0/1 as roles A/B, which is what the file loader names them
    messages = [{"id": r["id"], "messages": [{"role": "AB"[t["speaker"]], "content": t["text"]} for t in r["turns"]]}
                for r in rows]
    hf_file = _write_jsonl(tmp_path / "messages.jsonl", messages)
    from_file = make_task("dialogue", dataset=turns_file)
    from_hf = make_task("dialogue", dataset="hf:json", dataset_kwargs={"data_files": {"train": hf_file}})
    _same_examples(from_file, from_hf)
    assert sum(len(from_hf.examples(s)) for s in ("train", "validation", "test")) == sum(
        len(r["turns"]) - 1 for r in rows)
    # DailyDialog's shape: a list of utterances, speakers alternating
    dialog = _write_jsonl(tmp_path / "dialog.jsonl", [{"id": r["id"], "dialog": [t["text"] for t in r["turns"]]}
                                                      for r in rows if r["turns"][0]["speaker"] == 0
                                                      and all(t["speaker"] == i % 2 for i, t in enumerate(r["turns"]))])
    alternating = make_task("dialogue", dataset="hf:json", dataset_kwargs={"data_files": {"train": dialog}})
    example = alternating.examples("train")[0]
    assert example.prompt.startswith("A: ") and example.prompt.endswith("B:")


def test_hf_code_in_humaneval_and_mbpp_columns_equals_the_file_loaders(tmp_path):
    with gzip.open(shared_data("humaneval") / "HumanEval.jsonl.gz", "rt") as handle:
        problems = [json.loads(line) for line in handle][:12]
    humaneval = _write_jsonl(tmp_path / "he.jsonl", problems)
    from_hf = make_task("code", dataset="hf:json", dataset_kwargs={"data_files": {"test": humaneval}})
    reference = {e.id: e for e in make_task("code", dataset="humaneval", data_dir=shared_data("humaneval"))
                 .examples("test")}
    examples = from_hf.examples("test")
    assert len(examples) == 12
    for example in examples:
        expected = reference[example.id]
        assert (example.prompt, example.references, example.meta) == (expected.prompt, expected.references,
                                                                         expected.meta)
    mbpp_rows = [json.loads(line) for line in (shared_data("mbpp") / "mbpp.jsonl").read_text().splitlines()]
    picked = [r for r in mbpp_rows if 11 <= r["task_id"] <= 30]
    mbpp = _write_jsonl(tmp_path / "mbpp.jsonl", picked)
    from_hf = make_task("code", dataset="hf:json", dataset_kwargs={"data_files": {"test": mbpp}},
                        include_challenge_tests=True)
    reference = {e.id.split("/")[-1]: e for e in make_task("code", dataset="mbpp", data_dir=shared_data("mbpp"),
                                                            include_challenge_tests=True).examples("test")}
    examples = from_hf.examples("test")
    assert len(examples) == 20
    for example in examples:
        expected = reference[example.id.split("/")[-1]]
        assert (example.prompt, example.references) == (expected.prompt, expected.references)
        assert example.meta["tests"] == expected.meta["tests"] and example.meta["setup"] == expected.meta["setup"]


def test_bad_hf_options_and_rows(tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"dataset_config and dataset_kwargs are for dataset='hf:NAME'"):
        make_task("dialogue", dataset_kwargs={"data_files": "x.jsonl"})
    with pytest.raises(InvalidArgumentError, match=r"dataset_config and dataset_kwargs are for dataset='hf:NAME'"):
        make_task("code", dataset="builtin", dataset_config="sanitized")
    with pytest.raises(InvalidArgumentError, match=r"Expected dataset_kwargs to be a dict .* got 'data_files=x'"):
        make_task("translate", dataset="hf:json", dataset_kwargs="data_files=x")
    with pytest.raises(UnknownDatasetError, match=r"Unknown code dataset 'mbbp'.*mbpp"):
        make_task("code", dataset="mbbp")
    odd = _write_jsonl(tmp_path / "odd.jsonl", [{"question": "q", "answer": "a"}] * 3)
    with pytest.raises(DataFileError, match=r"expected a 'messages' column .* got columns \['answer', 'question'\]"):
        make_task("dialogue", dataset="hf:json", dataset_kwargs={"data_files": {"train": odd}})
    with pytest.raises(DataFileError, match=r"expected HumanEval's columns .* got \['answer', 'question'\]"):
        make_task("code", dataset="hf:json", dataset_kwargs={"data_files": {"train": odd}})
