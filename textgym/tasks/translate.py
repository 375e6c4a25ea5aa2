"""The translation task family: an embedded procedural corpus, or real parallel data, scored by sacreBLEU."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from textgym.error import (
    DataFileError,
    DataFileNotFoundError,
    InvalidArgumentError,
    UnknownDatasetError,
    check_int,
    suggest,
)
from textgym.scorers import SCORERS, Scorer, make_scorer
from textgym.tasks import loaders
from textgym.tasks.base import Example, Task, check_split, split_of, split_sizes, texts_fingerprint
from textgym.tasks.generators.translate import LANGUAGES, MAX_DIFFICULTY, realise, sample_plan

__all__ = ["LANGUAGE_NAMES", "TranslateTask"]

LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "cs": "Czech"}
BUILTIN_DATASETS = ("builtin", "multi30k", "tatoeba")
GENERATOR_VERSION = "translate-grammar-v0"
# Longest English source per difficulty (words): longer plans are re-drawn, keeping episodes bounded.
_MAX_WORDS = {1: 12, 2: 14, 3: 18, 4: 26, 5: 30}


class TranslateTask(Task):
    """Translation: the prompt is a sentence, the response its translation, the reward a sacreBLEU score.

    ## Description

    Translate a sentence from ``source_lang`` to ``target_lang``. The reward is a sacreBLEU sentence
    score of the generated translation against the reference(s), in [0, 1].

    The embedded default (``dataset="builtin"``) is a procedural English/German/French corpus generated
    by a grammar written in this repository (:mod:`textgym.tasks.generators.translate`): several hundred
    lexemes, gender and case, adjective agreement, verb conjugation, verb-second and verb-final word
    order, numbers, and up to four accepted references per sentence. Splits are disjoint by construction
    (a sentence's split is a hash of its English text).

    ## Arguments

    - ``source_lang``, ``target_lang``: language codes; built-in corpus: any two of ``en``, ``de``, ``fr``.
    - ``difficulty``: 1..5 (built-in corpus only): from ~5-word present-tense clauses to ~20-word sentences
      with subordinate and relative clauses.
    - ``dataset``: ``"builtin"``, ``"multi30k"`` or ``"tatoeba"`` (with ``data_dir``), ``"hf:NAME"`` for
      ``datasets.load_dataset(NAME, dataset_config, **dataset_kwargs)``, a ``.tsv``/``.jsonl`` file, a pair of
      line-aligned files ``(source_file, target_file)``, or a dict mapping split names to any of those file forms.
      A single file or pair is split 90/5/5 by a hash of the source sentence.
    - ``scorer``: the reward metric, ``"chrf"`` (default), ``"bleu"``, ``"chrf++"`` or ``"ter"`` (1 - TER/100).
    - ``seed``: seed of the built-in corpus (a different corpus per seed; splits stay disjoint).
    - ``num_examples``: sizes of the built-in splits, ``{"train": 20000, "validation": 500, "test": 1000}``.

    ## Version History

    - v0: initial version.
    """

    name = "translate"

    def __init__(
        self,
        source_lang: str = "en",
        target_lang: str = "de",
        difficulty: int = 2,
        dataset: Any = "builtin",
        data_dir: str | os.PathLike[str] | None = None,
        dataset_config: str | None = None,
        dataset_kwargs: Mapping[str, Any] | None = None,
        scorer: str | Scorer = "chrf",
        seed: int = 0,
        num_examples: Mapping[str, int] | None = None,
    ) -> None:
        self.source_lang, self.target_lang = source_lang, target_lang
        self.difficulty = check_int("difficulty", difficulty, 1, MAX_DIFFICULTY)
        self.seed = check_int("seed", seed, minimum=0)
        self.scorer = make_scorer(scorer)
        # The reward scorer doubles as its metric, so the terminal reward is not computed twice.
        self.metric_scorers = dict(
            {name: self.scorer if name == self.scorer.name else make_scorer(name) for name in SCORERS}
        )
        self.dataset = dataset
        self._data: dict[str, list[Example]] | None = None
        self._sizes = split_sizes(num_examples)
        builtin = isinstance(dataset, str) and dataset == "builtin"
        self._check_langs(LANGUAGES if builtin else tuple(LANGUAGE_NAMES))
        # before any example is built: loaded datasets format their prompts at load time
        self.prompt_template = (
            f"Translate {LANGUAGE_NAMES[source_lang]} to {LANGUAGE_NAMES[target_lang]}:\n{{source}}\n"
        )
        loaders.check_hf_options(dataset, dataset_config, dataset_kwargs)
        if not builtin:
            self._data = self._load(dataset, data_dir, dataset_config, dict(dataset_kwargs or {}))

    # -- argument checks ---------------------------------------------------------------------------------


    def _check_langs(self, accepted: tuple[str, ...]) -> None:
        for key in ("source_lang", "target_lang"):
            lang = getattr(self, key)
            if lang not in accepted:
                raise InvalidArgumentError(f"Unknown {key} {lang!r}. {suggest(str(lang), accepted)}")
        if self.source_lang == self.target_lang:
            raise InvalidArgumentError(
                f"source_lang and target_lang are both {self.source_lang!r}; pick two different languages."
            )

    # -- data --------------------------------------------------------------------------------------------

    def _load(self, dataset: Any, data_dir: Any, config: str | None, hf_kwargs: dict[str, Any]
              ) -> dict[str, list[Example]]:
        src, tgt = self.source_lang, self.target_lang
        if isinstance(dataset, Mapping):
            for key in dataset:
                check_split(key)
            splits = {key: self._load_file_pairs(value) for key, value in dataset.items()}
        elif isinstance(dataset, str) and dataset in ("multi30k", "tatoeba"):
            if data_dir is None:
                raise InvalidArgumentError(
                    f"dataset={dataset!r} needs data_dir=, the folder holding its files "
                    f"(e.g. data_dir='../shared/data/{'tatoeba-laser' if dataset == 'tatoeba' else dataset}')."
                )
            if not Path(data_dir).is_dir():
                raise DataFileNotFoundError(f"data_dir {str(data_dir)!r} for dataset {dataset!r} is not a folder.")
            if dataset == "multi30k":
                splits = loaders.load_multi30k(data_dir, src, tgt)
            else:
                splits = loaders.split_pairs(loaders.load_tatoeba(data_dir, src, tgt))
        elif (hf := loaders.hf_name(dataset)) is not None:
            splits = loaders.load_hf_translation(hf, config, src, tgt, **hf_kwargs)
        else:
            splits = loaders.split_pairs(self._load_file_pairs(dataset))
        examples = {}
        for split, pairs in splits.items():
            if not pairs:
                raise DataFileError(f"Dataset {dataset!r} has no {split} examples for {src}->{tgt}.")
            examples[split] = [
                Example(f"{split}/{i}", self.prompt(s), refs, s, {"dataset": str(dataset)})
                for i, (s, refs) in enumerate(pairs)
            ]
        return examples

    def _load_file_pairs(self, spec: Any) -> list[loaders.Pair]:
        if isinstance(spec, (tuple, list)) and len(spec) == 2:
            return loaders.load_parallel_files(spec[0], spec[1])
        if isinstance(spec, (str, os.PathLike)):
            path = Path(spec)
            suffixes = [s for s in path.suffixes if s != ".gz"]
            kind = suffixes[-1] if suffixes else ""
            if kind in (".tsv", ".jsonl") or path.exists():
                if kind == ".tsv":
                    return loaders.load_tsv_pairs(path, self.source_lang, self.target_lang)
                if kind == ".jsonl":
                    return loaders.load_jsonl_pairs(path, self.source_lang, self.target_lang)
                raise DataFileError(
                    f"Cannot tell the format of {str(path)!r}; expected a .tsv or .jsonl file (optionally .gz), "
                    "or a (source_file, target_file) pair."
                )
            if isinstance(spec, str) and os.sep not in spec and "." not in spec:
                accepted = (*BUILTIN_DATASETS, "hf:<name>")
                raise UnknownDatasetError(f"Unknown dataset {spec!r}. {suggest(spec, accepted)}")
            raise DataFileNotFoundError(f"Dataset file {str(spec)!r} not found.")
        raise InvalidArgumentError(
            f"Expected dataset to be a name, a path, a (source_file, target_file) pair or a dict of splits, "
            f"got {spec!r} ({type(spec).__name__})."
        )

    def prompt(self, source: str) -> str:
        """Format ``source`` with the prompt template."""
        return self.prompt_template.format(source=source)

    def _generate(self, split: str, index: int) -> Example:
        langs = (self.source_lang, self.target_lang)
        for attempt in range(1000):
            rng = random.Random(f"{GENERATOR_VERSION}/{self.seed}/{self.difficulty}/{split}/{index}/{attempt}")
            plan = sample_plan(rng, self.difficulty)
            english = realise(plan, "en")[0]
            if split_of(english) != split or len(english.split()) > _MAX_WORDS[self.difficulty]:
                continue
            source = realise(plan, langs[0])[0]
            meta = {"difficulty": self.difficulty, "english": english}
            return Example(f"{split}/{index}", self.prompt(source), tuple(realise(plan, langs[1])), source, meta)
        raise AssertionError(f"no {split} sentence after 1000 draws")  # internal invariant: p(split) >= 5%


    # -- tokenizer training ------------------------------------------------------------------------------

    def tokenizer_texts(self) -> Iterator[str]:
        """Training prompts and references; the built-in corpus uses all its languages and difficulties.

        One tokenizer then serves every direction and difficulty of the built-in corpus, so switching
        ``target_lang`` or ``difficulty`` keeps the action space.
        """
        if self._data is not None:
            for ex in self._data.get("train", []):
                yield ex.prompt
                yield from ex.references
            return
        templates = [f"Translate {LANGUAGE_NAMES[a]} to {LANGUAGE_NAMES[b]}:" for a in LANGUAGES for b in LANGUAGES]
        for _ in range(200):  # repeated so that BPE learns the instruction words as whole tokens
            yield from templates
        for difficulty in range(1, MAX_DIFFICULTY + 1):
            for index in range(1000):
                plan = sample_plan(random.Random(f"{GENERATOR_VERSION}/tokenizer/{difficulty}/{index}"), difficulty)
                for lang in LANGUAGES:
                    yield from realise(plan, lang)

    def tokenizer_fingerprint(self) -> str:
        """Cache key of the default tokenizer: the generator version, or a hash of the training data."""
        return GENERATOR_VERSION if self._data is None else texts_fingerprint(self.tokenizer_texts())

    def __repr__(self) -> str:
        return (f"TranslateTask({self.source_lang}->{self.target_lang}, dataset={self.dataset!r}, "
                f"difficulty={self.difficulty}, scorer={self.scorer.name!r})")
