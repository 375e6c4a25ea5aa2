"""The dialogue task family: given the last turns of a conversation, write the next reply."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from textgym.error import DataFileNotFoundError, InvalidArgumentError, UnknownDatasetError, check_int, suggest
from textgym.scorers import SCORERS, make_scorer
from textgym.tasks import loaders
from textgym.tasks.base import Example, Task, split_of, split_sizes, texts_fingerprint
from textgym.tasks.generators.dialogue import sample_dialogue

__all__ = ["DIALOGUE_DATASETS", "DialogueTask"]

DIALOGUE_DATASETS = ("builtin", "chitchat")
DIALOGUE_SCORERS = (*SCORERS, "slot", "semantic")
GENERATOR_VERSION = "booking-dialogues-v0"
MAX_DIFFICULTY = 3


class DialogueTask(Task):
    """Dialogue: the prompt is the recent conversation, the response the next turn.

    ## Description

    The prompt holds the last ``context_turns`` turns, one ``Speaker: text`` line each, and ends with the
    replying speaker's tag (``Assistant:`` / ``B:``). The reward scores the reply against the reference turn:
    chrF by default; ``"slot"`` (built-in corpus) checks that the reply mentions every required detail with
    its latest value (or asks for the missing one); ``"semantic"`` is the cosine similarity of sentence
    embeddings; a mapping such as ``{"chrf": 0.5, "slot": 0.5}`` weighs several.

    The embedded default (:mod:`textgym.tasks.generators.dialogue`) is a procedural corpus of booking
    conversations in which the right reply is determined by the context. Real data: the Chit-Chat
    conversations (``dataset="chitchat"``), or any JSONL of ``{"turns": [{"speaker", "text"}]}``; each
    dialogue yields one example per reply turn, and a dialogue's examples all share one split.

    ## Arguments

    - ``dataset``: ``"builtin"``, ``"chitchat"`` (``data_dir`` or the ``chitchat-dataset`` wheel), a path
      to a ``.jsonl``/``.jsonl.gz`` of turns or to the original Chit-Chat ``.json``, or ``"hf:NAME"`` for
      ``datasets.load_dataset(NAME, dataset_config, **dataset_kwargs)`` with a ``messages``, ``turns`` or
      ``dialog`` column (:func:`textgym.tasks.loaders.load_hf_dialogues`; hash-split by dialogue, as files are).
    - ``context_turns``: how many previous turns the prompt shows (default: all for the built-in corpus,
      whose early turns decide the reply; 6 for real data).
    - ``difficulty``: 1..3 (built-in corpus).
    - ``scorer``: ``"chrf"``, ``"bleu"``, ``"chrf++"``, ``"ter"``, ``"slot"``, ``"semantic"`` or weights.
    - ``semantic_model``: sentence-transformers model name or path for ``"semantic"``.
    - ``seed``, ``num_examples``: as for the translation task.

    ## Version History

    - v0: initial version.
    """

    name = "dialogue"

    def __init__(
        self,
        dataset: str | os.PathLike[str] = "builtin",
        data_dir: str | os.PathLike[str] | None = None,
        context_turns: int | None = None,
        difficulty: int = 2,
        scorer: Any = "chrf",
        semantic_model: str | None = None,
        seed: int = 0,
        num_examples: Mapping[str, int] | None = None,
        dataset_config: str | None = None,
        dataset_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        loaders.check_hf_options(dataset, dataset_config, dataset_kwargs)
        if context_turns is not None:
            check_int("context_turns", context_turns, minimum=1)
        check_int("seed", seed, minimum=0)
        check_int("difficulty", difficulty, 1, MAX_DIFFICULTY)
        builtin = isinstance(dataset, str) and dataset == "builtin"
        # Built-in dialogues need every turn (a detail given early decides the reply); real ones the recent turns.
        self.context_turns = context_turns if context_turns is not None else (None if builtin else 6)
        self.dataset, self.difficulty, self.seed = dataset, difficulty, seed
        accepted = DIALOGUE_SCORERS if builtin else tuple(n for n in DIALOGUE_SCORERS if n != "slot")
        options = {"semantic_model": semantic_model} if semantic_model else {}
        self.scorer = make_scorer(scorer, accepted, **options)
        metrics = ("chrf", "bleu", "slot") if builtin else ("chrf", "bleu")
        self.metric_scorers = {n: self.scorer if n == self.scorer.name else make_scorer(n, accepted) for n in metrics}
        self.metric_scorers.setdefault(self.scorer.name, self.scorer)
        self._sizes = split_sizes(num_examples)
        self._dialogues: list[loaders.Dialogue] = []
        self._data: dict[str, list[Example]] | None = None
        if not builtin:
            hf = loaders.hf_name(dataset)
            self._dialogues = (self._load(dataset, data_dir) if hf is None else
                               loaders.load_hf_dialogues(hf, dataset_config, **dict(dataset_kwargs or {})))
            self._data = self._examples_from(self._dialogues)

    # -- data --------------------------------------------------------------------------------------------

    @staticmethod
    def _load(dataset: Any, data_dir: Any) -> list[loaders.Dialogue]:
        if isinstance(dataset, str) and dataset == "chitchat":
            return loaders.load_chitchat(data_dir)
        if isinstance(dataset, (str, os.PathLike)):
            path = Path(dataset)
            if path.suffix == ".json":
                return loaders.load_chitchat_json(path)
            if path.name.endswith((".jsonl", ".jsonl.gz")):
                return loaders.load_dialogues_jsonl(path)
            if isinstance(dataset, str) and "." not in dataset and os.sep not in dataset:
                accepted = suggest(dataset, DIALOGUE_DATASETS)
                raise UnknownDatasetError(f"Unknown dialogue dataset {dataset!r}. {accepted}")
            raise DataFileNotFoundError(
                f"Dialogue dataset {str(dataset)!r}: expected a .jsonl(.gz) of turns or a Chit-Chat .json file."
            )
        raise InvalidArgumentError(
            f"Expected dataset to be a name or a path, got {dataset!r} ({type(dataset).__name__}). "
            f"{suggest('', DIALOGUE_DATASETS)}"
        )

    def prompt(self, turns: Sequence[tuple[str, str]], speaker: str) -> str:
        """The prompt for a reply by ``speaker`` after ``turns`` (only the last ``context_turns`` are shown)."""
        shown = turns if self.context_turns is None else turns[-self.context_turns :]
        return "".join(f"{who}: {text}\n" for who, text in shown) + f"{speaker}:"

    def _examples_from(self, dialogues: Sequence[loaders.Dialogue]) -> dict[str, list[Example]]:
        out: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
        for dialogue_id, turns in dialogues:
            split = split_of(dialogue_id)
            for i in range(1, len(turns)):
                speaker, reply = turns[i]
                meta = {"dialogue": dialogue_id, "turn": i}
                out[split].append(Example(f"{dialogue_id}/{i}", self.prompt(turns[:i], speaker), (reply,), "", meta))
        return out

    def _generate(self, split: str, index: int) -> Example:
        for attempt in range(1000):
            rng = random.Random(f"{GENERATOR_VERSION}/{self.seed}/{self.difficulty}/{split}/{index}/{attempt}")
            sample = sample_dialogue(rng, self.difficulty)
            text = "\n".join(t for _, t in sample.turns)
            if split_of(text) != split:
                continue
            meta = {"domain": sample.domain, "slots": sample.required, "stale": sample.stale}
            prompt = self.prompt(sample.turns, "Assistant")
            return Example(f"{split}/{index}", prompt, sample.references, text, meta)
        raise AssertionError(f"no {split} dialogue after 1000 draws")  # internal invariant: p(split) >= 5%


    # -- tokenizer ---------------------------------------------------------------------------------------

    def tokenizer_texts(self) -> Iterator[str]:
        """Each training dialogue's turns once (not once per example), or generated dialogues."""
        if self._data is not None:
            train = {ex.meta["dialogue"] for ex in self._data["train"]}
            for dialogue_id, turns in self._dialogues:
                if dialogue_id in train:
                    yield from (f"{who}: {text}\n" for who, text in turns)
            return
        for difficulty in range(1, MAX_DIFFICULTY + 1):
            for index in range(1500):
                rng = random.Random(f"{GENERATOR_VERSION}/tokenizer/{difficulty}/{index}")
                sample = sample_dialogue(rng, difficulty)
                yield self.prompt(sample.turns, "Assistant")
                yield from sample.references

    def tokenizer_fingerprint(self) -> str:
        """The generator version, or a hash of the training texts."""
        return GENERATOR_VERSION if self._data is None else texts_fingerprint(self.tokenizer_texts())

    def __repr__(self) -> str:
        return (f"DialogueTask(dataset={self.dataset!r}, context_turns={self.context_turns}, "
                f"scorer={self.scorer.name!r})")
