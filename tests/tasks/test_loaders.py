"""Real-data loaders: file formats, the shared Multi30k/Tatoeba copies, Hugging Face datasets, and bad files."""

from __future__ import annotations

import gzip
import json
import sys

import pytest

from tests.data import shared_data
from textgym.error import (
    DataFileError,
    DataFileNotFoundError,
    DatasetUnavailableError,
    MissingDependencyError,
    UnknownDatasetError,
)
from textgym.tasks import loaders, make_task


def write(path, text, gz=False):
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_parallel_files_plain_and_gz(tmp_path, gz):
    suffix = ".gz" if gz else ""
    src = write(tmp_path / f"a.en{suffix}", "one\ntwo\nthree\n", gz)
    tgt = write(tmp_path / f"a.de{suffix}", "eins\nzwei\ndrei\n", gz)
    assert loaders.load_parallel_files(src, tgt) == [("one", ("eins",)), ("two", ("zwei",)), ("three", ("drei",))]


def test_tsv_with_header_and_extra_references(tmp_path):
    path = write(tmp_path / "p.tsv", "de\ten\nHallo\tHello\nTschüss\tBye\n")
    assert loaders.load_tsv_pairs(path, "en", "de") == [("Hello", ("Hallo",)), ("Bye", ("Tschüss",))]
    path = write(tmp_path / "q.tsv", "car\tAuto\tWagen\n")
    assert loaders.load_tsv_pairs(path, "en", "de") == [("car", ("Auto", "Wagen"))]


def test_jsonl_shapes(tmp_path):
    rows = [{"en": "a", "de": "b"}, {"translation": {"en": "c", "de": "d"}},
            {"source": "e", "references": ["f", "g"]}, {"source": "h", "target": "i"}]
    path = write(tmp_path / "p.jsonl", "\n".join(json.dumps(r) for r in rows))
    expected = [("a", ("b",)), ("c", ("d",)), ("e", ("f", "g")), ("h", ("i",))]
    assert loaders.load_jsonl_pairs(path, "en", "de") == expected


def test_multi30k_from_shared_data():
    root = shared_data("multi30k")
    splits = loaders.load_multi30k(root, "en", "de")
    assert {k: len(v) for k, v in splits.items()} == {"train": 29000, "validation": 1014, "test": 1000}
    assert splits["validation"][0][0] == "A group of men are loading cotton onto a truck"
    fr = loaders.load_multi30k(root, "fr", "en")
    assert len(fr["test"]) == 1000 and fr["test"][0][1][0] == splits["test"][0][0]


def test_tatoeba_from_shared_data():
    root = shared_data("tatoeba-laser")
    pairs = loaders.load_tatoeba(root, "de", "en")
    assert len(pairs) == 1000 and pairs[0][0] == "Maria sagte, sie wisse nicht, wo Tom sei."
    splits = loaders.split_pairs(pairs)
    assert sum(map(len, splits.values())) == 1000 and all(splits.values())
    sources = [{s for s, _ in v} for v in splits.values()]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    with pytest.raises(UnknownDatasetError, match=r"English paired with 'de' or 'fr', got 'de'->'fr'"):
        loaders.load_tatoeba(root, "de", "fr")


def test_hf_datasets_on_local_json(tmp_path):
    pytest.importorskip("datasets")
    train = write(tmp_path / "train.jsonl", "\n".join(json.dumps({"translation": {"en": f"s{i}", "fr": f"t{i}"}})
                                                       for i in range(5)))
    task = make_task("translate", source_lang="en", target_lang="fr", dataset="hf:json",
                     dataset_kwargs={"data_files": {"train": str(train), "test": str(train)}})
    assert task.examples("train")[2].references == ("t2",) and len(task.examples("test")) == 5


def test_hf_dataset_with_only_a_train_split_is_hash_split(tmp_path):
    pytest.importorskip("datasets")
    rows = "\n".join(json.dumps({"translation": {"en": f"sentence {i}", "fr": f"phrase {i}"}}) for i in range(400))
    train = write(tmp_path / "train.jsonl", rows)
    task = make_task("translate", source_lang="en", target_lang="fr", dataset="hf:json",
                     dataset_kwargs={"data_files": {"train": str(train)}})
    sizes = {split: len(task.examples(split)) for split in ("train", "validation", "test")}
    assert sum(sizes.values()) == 400 and sizes["validation"] > 0 and sizes["test"] > 0 and sizes["train"] > 320
    same = loaders.split_pairs([(f"sentence {i}", (f"phrase {i}",)) for i in range(400)])
    assert [e.source for e in task.examples("test")] == [s for s, _ in same["test"]]  # the file datasets' rule


def test_hf_dataset_unreachable_offline():
    pytest.importorskip("datasets")
    with pytest.raises(DatasetUnavailableError, match=r"Could not load Hugging Face dataset 'no-org/no-such-set'"):
        loaders.load_hf_translation("no-org/no-such-set", None, "en", "de")


def test_hf_without_datasets_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"needs the Hugging Face `datasets` library: pip install"):
        make_task("translate", dataset="hf:wmt16", dataset_config="de-en")


# -- bad files ------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataFileNotFoundError, match=r"Data file '.*nope.en' not found \(no such file\)"):
        loaders.read_lines(tmp_path / "nope.en")
    with pytest.raises(FileNotFoundError):  # also the builtin
        loaders.read_lines(tmp_path / "nope.en")


def test_empty_file(tmp_path):
    with pytest.raises(DataFileError, match=r"Data file '.*empty.en' is empty"):
        loaders.read_lines(write(tmp_path / "empty.en", "\n \n"))


def test_misaligned_files(tmp_path):
    src, tgt = write(tmp_path / "a.en", "1\n2\n3\n"), write(tmp_path / "a.de", "1\n2\n")
    with pytest.raises(DataFileError, match=r"misaligned: '.*a.en' has 3 lines but '.*a.de' has 2"):
        loaders.load_parallel_files(src, tgt)


def test_undecodable_file(tmp_path):
    path = tmp_path / "latin1.de"
    path.write_bytes("ok\nFrühstück\n".encode("latin-1"))
    with pytest.raises(DataFileError, match=r"not valid UTF-8 \(byte 5, line 2"):
        loaders.read_lines(path)


def test_corrupt_gzip(tmp_path):
    path = write(tmp_path / "bad.en.gz", "not gzip at all")
    with pytest.raises(DataFileError, match=r"Could not read '.*bad.en.gz'"):
        loaders.read_lines(path)


def test_malformed_tsv_and_jsonl(tmp_path):
    with pytest.raises(DataFileError, match=r"line 2: expected at least 2 tab-separated columns"):
        loaders.load_tsv_pairs(write(tmp_path / "p.tsv", "a\tb\nonly-one\n"), "en", "de")
    with pytest.raises(DataFileError, match=r"line 1 is not valid JSON"):
        loaders.load_jsonl_pairs(write(tmp_path / "p.jsonl", "{oops"), "en", "de")
    with pytest.raises(DataFileError, match=r"line 1: expected an object with keys 'en' and 'de'"):
        loaders.load_jsonl_pairs(write(tmp_path / "q.jsonl", '{"x": 1}'), "en", "de")
