"""The rules of one episode, written once for the single env, the vector env and the agents (DESIGN §2).

:class:`Episode` owns everything that decides what an episode is: the task and split it draws from, how a
prompt becomes token ids (BOS, truncation to the last ``P`` tokens) and where it sits in the observation
(left-padded to ``P`` cells), the reference token ids (cut to ``T - 1`` tokens, then EOS), the termination
rule (EOS or ``T`` tokens), the reset options, how responses are scored (through :meth:`Task.score
<textgym.tasks.base.Task.score>`, so a task that overrides it is scored the same way by every env), and the
keys of the final ``info``. :class:`~textgym.envs.text_gen_env.TextGenEnv`,
:class:`~textgym.vector.torch_env.TextGenVectorEnv`, SFT batches and the reference agent all read it, so they
cannot disagree.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.error import InvalidArgumentError, TokenizerError, check_int, suggest
from textgym.tasks import Example, Task, make_task
from textgym.tasks.base import check_split
from textgym.tokenization import load_tokenizer

__all__ = ["FINAL_INFO_KEYS", "REWARDS", "REWARD_MODES", "Episode", "check_options", "row_info"]

REWARD_MODES = ("sparse", "dense")
REWARDS = ("task", "token_bleu")
# The final info of every episode, in both envs (plus the task's own ``Task.episode_info`` entries). In a vector
# env each is batched over rows: tensors for the numbers, object arrays for the rest, ``metrics`` a dict of arrays.
FINAL_INFO_KEYS = ("response", "score", "metrics", "references", "example_id", "example_index", "prompt",
                   "num_tokens")
NUMERIC_INFO_KEYS = ("score", "num_tokens", "example_index")


def check_options(options: dict[str, Any] | None, accepted: Sequence[str]) -> dict[str, Any]:
    """``options`` as a dict with every accepted key (None where absent); unknown keys raise."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidArgumentError(
            f"Unknown reset option(s) {unknown}. Accepted: {', '.join(repr(a) for a in accepted)}."
        )
    return {key: options.get(key) for key in accepted}


def row_info(batched: dict[str, Any], row: int) -> dict[str, Any]:
    """Row ``row`` of a vector env's batched ``final_info`` as the single env's ``info`` (Python scalars).

    Example:
        >>> row_info({"score": np.array([0.5, 1.0]), "metrics": {"chrf": np.array([0.1, 0.2])}}, 1)
        {'score': 1.0, 'metrics': {'chrf': 0.2}}
    """
    out: dict[str, Any] = {}
    for key, values in batched.items():
        if isinstance(values, dict):
            out[key] = row_info(values, row)
            continue
        value = values[row]
        out[key] = value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
    return out


PROMPT_FORMATS = ("plain", "chat")


class Episode:
    """One task's episode: its examples, token layout, termination rule, scoring and final-info schema.

    Args:
        task: A task family name (``"translate"``) or a :class:`~textgym.tasks.Task` instance.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        tokenizer: ``None`` for the task's default BPE tokenizer, or a Hugging Face tokenizer (name, path,
            instance).
        split_digits: The default BPE tokenizer keeps every digit a token of its own (no merged numbers, as in
            Llama's tokenizer); only with ``tokenizer=None``.
        max_prompt_tokens: ``P``, the prompt cells of an observation.
        max_new_tokens: ``T``, the response cells; an episode ends after ``T`` tokens at the latest.
        reward_mode: ``"sparse"`` or ``"dense"``.
        reward: ``"task"`` (the task's scorer) or ``"token_bleu"``.
        info_metrics: Compute every metric of the task for the final info.
        prompt_format: ``"plain"`` (the task's prompt after the tokenizer's BOS) or ``"chat"`` (the tokenizer's
            chat template, ``apply_chat_template`` with an optional system turn, the prompt as the user turn and
            the generation prompt; the template places any BOS itself). An instruct model wants ``"chat"``.
        system_prompt: The system turn of ``"chat"`` prompts (None: none).
        stop_token_ids: More token ids that end an episode as EOS does (an instruct model's end of turn:
            ``<|im_end|>``, ``<|eot_id|>``), each a special token of the tokenizer. None: EOS, plus with
            ``"chat"`` the end-of-sequence ids of the model's ``generation_config.json`` beside the tokenizer (where
            there is one). EOS always ends an episode.
        **task_kwargs: Passed to the task (with a task name only).
    """

    def __init__(self, task: str | Task = "translate", *, split: str = "train", tokenizer: Any = None,
                 split_digits: bool = False, max_prompt_tokens: int = 80, max_new_tokens: int = 64,
                 reward_mode: str = "sparse", reward: str = "task", info_metrics: bool = True,
                 prompt_format: str = "plain", system_prompt: str | None = None,
                 stop_token_ids: Sequence[int] | None = None,
                 **task_kwargs: Any) -> None:
        if reward_mode not in REWARD_MODES:
            raise InvalidArgumentError(
                f"Unknown reward_mode {reward_mode!r}. {suggest(str(reward_mode), REWARD_MODES)}"
            )
        if reward not in REWARDS:
            raise InvalidArgumentError(f"Unknown reward {reward!r}. {suggest(str(reward), REWARDS)}")
        if prompt_format not in PROMPT_FORMATS:
            raise InvalidArgumentError(
                f"Unknown prompt_format {prompt_format!r}. {suggest(str(prompt_format), PROMPT_FORMATS)}")
        if system_prompt is not None and (prompt_format != "chat" or not isinstance(system_prompt, str)):
            raise InvalidArgumentError(
                f"system_prompt={system_prompt!r} needs prompt_format='chat' and a str (got {prompt_format!r}).")
        self.prompt_format, self.system_prompt = prompt_format, system_prompt
        self.max_prompt_tokens = check_int("max_prompt_tokens", max_prompt_tokens)
        self.max_new_tokens = check_int("max_new_tokens", max_new_tokens)
        if isinstance(task, Task):
            if task_kwargs:
                raise InvalidArgumentError(
                    f"Task keyword arguments {sorted(task_kwargs)} were given with a Task instance; "
                    "configure the instance instead."
                )
            self.task = task
        else:
            self.task = make_task(task, **task_kwargs)
        self.split = check_split(split, self.task.splits)
        self.reward_mode, self.reward, self.info_metrics = reward_mode, reward, bool(info_metrics)
        self.tokenizer = load_tokenizer(tokenizer, self.task, split_digits=split_digits)
        if prompt_format == "chat" and not getattr(self.tokenizer, "chat_template", None):
            raise TokenizerError(
                f"prompt_format='chat' needs a tokenizer with a chat template; {type(self.tokenizer).__name__} "
                f"{getattr(self.tokenizer, 'name_or_path', '')!r} has none. Use the instruct model's own tokenizer, "
                "set tokenizer.chat_template, or prompt_format='plain'."
            )
        self.vocab_size = len(self.tokenizer)
        self.eos_token_id = int(self.tokenizer.eos_token_id)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else self.eos_token_id)
        self.special_ids = frozenset(getattr(self.tokenizer, "all_special_ids", []) or [])
        self.stop_token_ids = self._stop_ids(stop_token_ids)
        self._stop_tensors: dict[Any, Any] = {}
        self.examples: Sequence[Example] = self.task.examples(self.split)
        self._warned_truncation = False
        # The tokens no response contains (padding, BOS, the tokenizer's other specials), EOS aside: masked off
        # by action_mask(), for MaskablePPO-style agents. The env accepts them all the same.
        self.action_mask = np.ones(self.vocab_size, dtype=bool)
        masked = [i for i in sorted(self.special_ids | {self.pad_token_id})
                  if 0 <= i < self.vocab_size and i not in self.stop_token_ids]
        self.action_mask[masked] = False

    def _stop_ids(self, given: Sequence[int] | None) -> tuple[int, ...]:
        """EOS first, then the other ids that end an episode (checked: special tokens of the tokenizer)."""
        if given is None:
            given = self._model_stop_ids() if self.prompt_format == "chat" else ()
        elif isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
            raise InvalidArgumentError(f"Expected stop_token_ids to be a list of token ids, got {given!r}.")
        out = [self.eos_token_id]
        for token in given:
            integer = isinstance(token, (int, np.integer)) and not isinstance(token, bool)
            if not integer or int(token) not in self.special_ids:
                raise InvalidArgumentError(
                    f"stop_token_ids: {token!r} is not a special token id of the tokenizer (a response is decoded "
                    f"with special tokens dropped, so only those can end it cleanly). Its special ids: "
                    f"{sorted(self.special_ids)}."
                )
            if int(token) not in out:
                out.append(int(token))
        return tuple(out)

    def _model_stop_ids(self) -> list[int]:
        """The end-of-sequence ids of ``generation_config.json`` in the tokenizer's folder (an instruct model's)."""
        folder = Path(str(getattr(self.tokenizer, "name_or_path", "") or ""))
        path = folder / "generation_config.json"
        if not path.is_file():
            return []
        eos = json.loads(path.read_text()).get("eos_token_id")
        ids = eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else []
        return [i for i in ids if isinstance(i, int) and i in self.special_ids]

    def is_stop(self, token: Any) -> Any:
        """Whether ``token`` ends an episode by choice (EOS or another stop id): ints, numpy arrays, tensors."""
        if len(self.stop_token_ids) == 1:
            return token == self.eos_token_id
        if isinstance(token, (int, np.integer)):
            return int(token) in self.stop_token_ids
        if isinstance(token, np.ndarray):
            return np.isin(token, self.stop_token_ids)
        import torch

        device = token.device
        if device not in self._stop_tensors:
            self._stop_tensors[device] = torch.tensor(self.stop_token_ids, device=device)
        return torch.isin(token, self._stop_tensors[device])

    # -- prompts -----------------------------------------------------------------------------------------

    def prompt_ids(self, example: Example) -> np.ndarray:
        """The prompt's token ids, its last ``P`` kept.

        BOS (when the tokenizer has one) and the prompt, or the chat template's rendering of it
        (``prompt_format="chat"``).
        """
        if self.prompt_format == "chat":
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            messages.append({"role": "user", "content": example.prompt.rstrip("\n")})
            encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            ids = list(encoded["input_ids"] if isinstance(encoded, Mapping) else encoded)
        else:
            ids = self.tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
            if self.tokenizer.bos_token_id is not None:
                ids = [self.tokenizer.bos_token_id, *ids]
        P = self.max_prompt_tokens
        if len(ids) > P:
            if not self._warned_truncation:
                warnings.warn(
                    f"Prompt of example {example.id!r} has {len(ids)} tokens > max_prompt_tokens={P}; keeping the "
                    f"last {P}. Raise max_prompt_tokens to keep whole prompts.",
                    stacklevel=3,
                )
                self._warned_truncation = True
            ids = ids[-P:]
        return np.asarray(ids, dtype=np.int64)

    def place_prompt(self, prompt: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray) -> None:
        """Write a fresh observation into ``[..., P + T]`` buffers: the prompt left-padded, an empty response."""
        P = self.max_prompt_tokens
        input_ids[..., :] = self.pad_token_id
        attention_mask[..., :] = 0
        input_ids[..., P - len(prompt) : P] = prompt
        attention_mask[..., P - len(prompt) : P] = 1

    def prompt_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Every example's prompt placed: ``input_ids`` and ``attention_mask``, ``[E, P]`` each."""
        E, P = len(self.examples), self.max_prompt_tokens
        ids = np.empty((E, P), dtype=np.int64)
        mask = np.empty((E, P), dtype=np.int64)
        for i, example in enumerate(self.examples):
            self.place_prompt(self.prompt_ids(example), ids[i], mask[i])
        return ids, mask

    # -- references --------------------------------------------------------------------------------------

    def reference_ids(self, reference: str) -> list[int]:
        """A reference's token ids, cut to ``T - 1`` so that EOS still fits (no EOS)."""
        ids = self.tokenizer(reference, add_special_tokens=False)["input_ids"]
        return list(ids[: self.max_new_tokens - 1])

    def reference_actions(self, reference: str) -> list[int]:
        """The actions that spell ``reference``: its token ids, then EOS (the oracle's episode)."""
        return [*self.reference_ids(reference), self.eos_token_id]

    def reference_table(self) -> np.ndarray:
        """``[E, K, T - 1]`` reference token ids of every example (no EOS), -1 padded (K: most references)."""
        K = max(len(ex.references) for ex in self.examples)
        table = np.full((len(self.examples), K, self.max_new_tokens - 1), -1, dtype=np.int64)
        for i, example in enumerate(self.examples):
            for k, reference in enumerate(example.references):
                ids = self.reference_ids(reference)
                table[i, k, : len(ids)] = ids
        return table

    def reference_responses(self, references: Any) -> tuple[Any, Any]:
        """Rows of :meth:`reference_table` (``[B, T - 1]`` tensors) as full responses: tokens, EOS, then padding.

        Returns ``(tokens, mask)``, ``[B, T]`` each, on the references' device: what the oracle plays and what
        SFT is taught.
        """
        import torch

        T = self.max_new_tokens
        length = (references >= 0).sum(1)
        tokens = torch.full((len(references), T), self.pad_token_id, dtype=torch.long, device=references.device)
        tokens[:, : T - 1] = torch.where(references >= 0, references, self.pad_token_id)
        tokens[torch.arange(len(references), device=references.device), length] = self.eos_token_id
        mask = (torch.arange(T, device=references.device)[None, :] <= length[:, None]).long()
        return tokens, mask

    # -- the episode's end -------------------------------------------------------------------------------

    def ended(self, token: Any, num_generated: Any) -> Any:
        """Whether an episode ends with ``token`` after ``num_generated`` tokens (it included): a stop id or the cap.

        Works on Python ints, numpy arrays and tensors alike.
        """
        return self.is_stop(token) | (num_generated >= self.max_new_tokens)

    def example_index(self, index: Any, rows: int | None = None) -> Any:
        """Check a reset's ``example_index`` option: one int (``rows=None``) or ``rows`` ints in ``[0, E)``."""
        E = len(self.examples)
        array = np.asarray(index.detach().cpu() if hasattr(index, "detach") else index)
        ok: bool
        if rows is None:
            ok = array.shape == () and array.dtype.kind in "iu" and not isinstance(index, bool) and bool(0 <= array < E)
            wanted = f"an int in [0, {E})"
        else:
            ok = array.shape == (rows,) and array.dtype.kind in "iu" and bool(((array >= 0) & (array < E)).all())
            wanted = f"{rows} ints in [0, {E})"
        if not ok:
            raise InvalidArgumentError(
                f"Expected options['example_index'] to be {wanted} (the {self.split} split's examples"
                f"{', one per row' if rows is not None else ''}), got {index!r} ({type(index).__name__})."
            )
        return int(array) if rows is None else array.astype(np.int64)

    # -- scores and the final info -----------------------------------------------------------------------

    def score(self, responses: Sequence[str], examples: Sequence[Example],
              score: Callable[[Sequence[str], Sequence[Example]], Any] | None = None,
              metrics: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The task's reward scores of ``responses`` and, with ``metrics`` and ``info_metrics``, every metric.

        The reward goes through ``Task.score`` (or ``score``, a drop-in for it such as the vector env's worker
        pool). When the reward's scorer is one of the metrics and the task does not override ``Task.score``, it
        is computed once.
        """
        values = self.metrics(responses, examples) if metrics is not False else {}
        name = self.task.scorer.name
        if (name in values and self.task.metric_scorers.get(name) is self.task.scorer
                and type(self.task).score is Task.score):
            return values[name], values
        scorer = score if score is not None else self.task.score
        return np.asarray(scorer(responses, examples), dtype=np.float64), values

    def metrics(self, responses: Sequence[str], examples: Sequence[Example]) -> dict[str, np.ndarray]:
        """Every metric of the task for each response, ``{name: float64 array}``, if ``info_metrics`` (else {})."""
        if not self.info_metrics:
            return {}
        return {name: np.asarray(v, dtype=np.float64) for name, v in self.task.metrics(responses, examples).items()}

    def final_info(self, index: int, response: str, score: float, num_tokens: int,
                   metrics: dict[str, Any]) -> dict[str, Any]:
        """The ``info`` of a finished episode on example ``index`` (the keys of :data:`FINAL_INFO_KEYS`)."""
        example = self.examples[index]
        return {
            "response": response,
            "score": float(score),
            "metrics": {name: float(value) for name, value in metrics.items()},
            "references": list(example.references),
            "example_id": example.id,
            "example_index": int(index),
            "prompt": example.prompt,
            "num_tokens": int(num_tokens),
            **self.task.episode_info(response, example),
        }

    def text_info(self, num_rows: int, rows: np.ndarray, indices: np.ndarray, responses: Sequence[str],
                  metrics: dict[str, np.ndarray]) -> dict[str, Any]:
        """The non-numeric final-info entries of a vector env's finished ``rows`` (on examples ``indices``).

        Object arrays over all ``num_rows`` rows (None where no episode ended), ``metrics`` a dict of float
        arrays (0 elsewhere), and the task's :meth:`~textgym.tasks.base.Task.episode_info` entries: with
        :data:`NUMERIC_INFO_KEYS`, the keys of :meth:`final_info`.
        """
        out: dict[str, Any] = {key: np.full(num_rows, None, dtype=object)
                               for key in ("response", "references", "example_id", "prompt")}
        out["metrics"] = {name: np.zeros(num_rows) for name in metrics}
        examples = [self.examples[int(i)] for i in indices]
        for key, values in (("response", list(responses)), ("example_id", [ex.id for ex in examples]),
                            ("prompt", [ex.prompt for ex in examples])):
            out[key][rows] = values
        for row, example in zip(rows.tolist(), examples, strict=True):
            out["references"][row] = list(example.references)
        for name, value in metrics.items():
            out["metrics"][name][rows] = value
        if type(self.task).episode_info is not Task.episode_info:  # per-row task entries (the code task's outcome)
            for row, response, example in zip(rows.tolist(), responses, examples, strict=True):
                for key, value in self.task.episode_info(response, example).items():
                    out.setdefault(key, np.full(num_rows, None, dtype=object))[row] = value
        return out
