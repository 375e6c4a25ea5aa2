"""The single token-level text generation environment (DESIGN.md §2)."""

from __future__ import annotations

import operator
import warnings
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from textgym.error import InvalidActionError, InvalidArgumentError, ResetNeededError, check_int, suggest
from textgym.scorers.token_bleu import token_bleu
from textgym.seeding import MASK, episode_index
from textgym.spaces import action_space, observation_space
from textgym.tasks import Example, Task, make_task
from textgym.tasks.base import check_split
from textgym.tokenization import decode_responses, load_tokenizer

__all__ = ["REWARDS", "REWARD_MODES", "TextGenEnv"]

REWARD_MODES = ("sparse", "dense")
REWARDS = ("task", "token_bleu")
ObsType = dict[str, np.ndarray]


class TextGenEnv(gym.Env[ObsType, np.int64]):
    """Text generation as a token-level MDP: observation = token prefix, action = next token id.

    ## Description

    Text generation as a token-level MDP. ``reset`` draws an example (a prompt and its references) from
    the task's split; every ``step`` appends one token id to the response. When the episode ends the
    decoded response is scored against the references by the task's scorer (sacreBLEU chrF by default
    for translation).

    ## Observation

    ``Dict(input_ids=Box(0, V-1, (P+T,), int64), attention_mask=Box(0, 1, (P+T,), int64))`` with
    ``P = max_prompt_tokens`` and ``T = max_new_tokens``. The prompt (BOS first, when the tokenizer has
    one) is left-padded to ``P`` cells; the response so far follows, right-padded to ``T`` cells. Padding
    cells hold the pad id and mask 0. A longer prompt keeps its last ``P`` tokens, with a warning.

    ## Action

    ``Discrete(V)`` with ``V = len(tokenizer)``: the next token id, as a Python or numpy integer (a 0-d
    integer array is accepted; floats, bools and arrays with a shape are not).

    ## Reward

    ``reward_mode="sparse"`` (default): 0 at every step but the last, where it is the task score in
    [0, 1]. ``reward_mode="dense"``: the score of the response so far minus the score of the previous
    prefix (the empty prefix counts 0), so the return of an episode equals its final score.
    ``reward="token_bleu"`` replaces the task's scorer by BLEU over token ids
    (:mod:`textgym.scorers.token_bleu`, an approximation of sacreBLEU's BLEU that needs no decoding).

    ## Episode End

    ``terminated=True`` when the action is the EOS id or when ``T`` tokens were generated: the length cap
    is part of the task and observable through the mask, so it is a true end and it is scored.
    ``truncated`` is always False (left to outside ``TimeLimit`` wrappers). At the end ``info`` holds
    ``response``, ``score``, ``metrics`` (every metric of the task, each in [0, 1]), ``references``,
    ``example_id`` and ``num_tokens``.

    ## Arguments

    - ``task``: a task family name (``"translate"``) or a :class:`~textgym.tasks.Task` instance.
    - ``split``: ``"train"`` (default), ``"validation"`` or ``"test"``.
    - ``tokenizer``: ``None`` for the task's default BPE tokenizer, or a Hugging Face tokenizer (name,
      local path or instance).
    - ``max_prompt_tokens`` (default 80), ``max_new_tokens`` (default 64).
    - ``reward_mode``: ``"sparse"`` or ``"dense"``.
    - ``reward``: ``"task"`` (the task's scorer, default) or ``"token_bleu"``.
    - ``info_metrics``: compute every metric of the task for the final ``info`` (default True; False leaves
      only the reward's own score, which is what a throughput comparison wants).
    - ``render_mode``: ``None``, ``"ansi"`` (``render()`` returns the text) or ``"human"`` (prints it).
    - any other keyword goes to the task, e.g. ``target_lang="fr"``, ``difficulty=4``, ``scorer="bleu"``.

    ``reset(options={"example_index": i})`` selects example ``i`` of the split instead of a random one.
    Examples are drawn by :func:`textgym.seeding.episode_index` from the seed and an episode counter, so row
    ``i`` of ``TextGenVectorEnv`` seeded ``s`` replays a single env seeded ``s + i``.

    ## Version History

    - v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"], "render_fps": 4}  # noqa: RUF012 - gym.Env API

    def __init__(
        self,
        task: str | Task = "translate",
        *,
        split: str = "train",
        tokenizer: Any = None,
        max_prompt_tokens: int = 80,
        max_new_tokens: int = 64,
        reward_mode: str = "sparse",
        reward: str = "task",
        info_metrics: bool = True,
        render_mode: str | None = None,
        **task_kwargs: Any,
    ) -> None:
        if reward_mode not in REWARD_MODES:
            raise InvalidArgumentError(
                f"Unknown reward_mode {reward_mode!r}. {suggest(str(reward_mode), REWARD_MODES)}"
            )
        if reward not in REWARDS:
            raise InvalidArgumentError(f"Unknown reward {reward!r}. {suggest(str(reward), REWARDS)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgumentError(
                f"Unknown render_mode {render_mode!r}. {suggest(str(render_mode), self.metadata['render_modes'])} "
                "Or None."
            )
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
        self.reward_mode = reward_mode
        self.reward = reward
        self.info_metrics = bool(info_metrics)
        self.render_mode = render_mode
        self.tokenizer = load_tokenizer(tokenizer, self.task)
        self.vocab_size = len(self.tokenizer)
        self.eos_token_id = int(self.tokenizer.eos_token_id)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else self.eos_token_id)
        # gym.Env types observation_space as Space[ObsType]; a Dict space is one, but mypy cannot see it.
        self.observation_space = observation_space(  # type: ignore[assignment]
            self.vocab_size, self.max_prompt_tokens, self.max_new_tokens
        )
        self.action_space = action_space(self.vocab_size)

        self._examples = self.task.examples(self.split)
        self._prompt_ids: dict[int, np.ndarray] = {}
        length = self.max_prompt_tokens + self.max_new_tokens
        self._input_ids = np.full(length, self.pad_token_id, dtype=np.int64)
        self._attention_mask = np.zeros(length, dtype=np.int64)
        self._example: Example | None = None
        self._num_generated = 0
        self._done = False
        self._prev_score = 0.0
        self._warned_truncation = False
        self._reference_ids: dict[tuple[str, int], list[int]] = {}
        self._episode_seed: int | None = None
        self._episode_counter = 0

    # -- public API --------------------------------------------------------------------------------------

    @property
    def example(self) -> Example | None:
        """The current episode's example (None before the first reset)."""
        return self._example

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[ObsType, dict]:
        """Start an episode.

        Args:
            seed: Seeds ``np_random``, which draws the example; the same seed gives the same episode.
            options: ``{"example_index": i}`` to take example ``i`` of the split instead of a random one.

        Returns:
            The observation (the prompt) and ``info`` with ``example_id`` and ``prompt``.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._episode_seed, self._episode_counter = seed & MASK, 0
        elif self._episode_seed is None:
            self._episode_seed, self._episode_counter = int(self.np_random.integers(MASK)), 0
        index = self._example_index(options)
        self._example = self._examples[index]
        prompt = self._encode_prompt(index, self._example)
        self._input_ids.fill(self.pad_token_id)
        self._attention_mask.fill(0)
        self._input_ids[self.max_prompt_tokens - len(prompt) : self.max_prompt_tokens] = prompt
        self._attention_mask[self.max_prompt_tokens - len(prompt) : self.max_prompt_tokens] = 1
        self._num_generated = 0
        self._done = False
        self._prev_score = 0.0
        if self.render_mode == "human":
            self.render()
        return self._obs(), {"example_id": self._example.id, "prompt": self._example.prompt}

    def step(self, action: Any) -> tuple[ObsType, SupportsFloat, bool, bool, dict[str, Any]]:
        """Append token ``action`` to the response.

        Returns:
            ``(obs, reward, terminated, truncated, info)``: reward a Python float, terminated True on EOS or
            at the length cap, truncated always False, info with the scored response at the end.

        Raises:
            ResetNeededError: before the first reset or after the episode ended.
            InvalidActionError: the action is not an integer token id in ``[0, V)``.
        """
        if self._example is None:
            raise ResetNeededError("Cannot call step() before reset(); call env.reset(seed=...) first.")
        if self._done:
            raise ResetNeededError("The episode has ended (terminated=True); call reset() before step() again.")
        token = self._check_action(action)
        position = self.max_prompt_tokens + self._num_generated
        self._input_ids[position] = token
        self._attention_mask[position] = 1
        self._num_generated += 1
        terminated = token == self.eos_token_id or self._num_generated == self.max_new_tokens
        reward, info = 0.0, {}
        if terminated:
            self._done = True
            info = self._final_info()
            reward = info["score"] - self._prev_score if self.reward_mode == "dense" else info["score"]
        elif self.reward_mode == "dense":
            score = self._score()
            reward, self._prev_score = score - self._prev_score, score
        if self.render_mode == "human":
            self.render()
        return self._obs(), float(reward), bool(terminated), False, info

    def render(self) -> str | None:
        """``"ansi"``: return the prompt and the response so far; ``"human"``: print them."""
        if self.render_mode is None or self._example is None:
            return None
        text = f"{self._example.prompt}{self.response()}"
        if self.render_mode == "ansi":
            return text
        print(text + ("  [end]" if self._done else ""))
        return None

    def response(self) -> str:
        """The decoded response so far (special tokens such as EOS dropped)."""
        start = self.max_prompt_tokens
        ids = self._input_ids[start : start + self._num_generated].tolist()
        return decode_responses(self.tokenizer, [ids])[0]

    def reference_actions(self, reference: int = 0) -> list[int]:
        """Token ids that spell reference ``reference`` of the current example, then EOS (the oracle's actions)."""
        if self._example is None:
            raise ResetNeededError("No current example; call reset() first.")
        key = (self._example.id, reference)
        if key not in self._reference_ids:
            if any(k[0] != self._example.id for k in self._reference_ids):
                self._reference_ids.clear()  # one example at a time
            ids = self.tokenizer(self._example.references[reference], add_special_tokens=False)["input_ids"]
            self._reference_ids[key] = [*ids[: self.max_new_tokens - 1], self.eos_token_id]
        return list(self._reference_ids[key])

    # -- internals ---------------------------------------------------------------------------------------

    def _next_counter(self) -> int:
        self._episode_counter += 1
        return self._episode_counter - 1

    def _obs(self) -> ObsType:
        return {"input_ids": self._input_ids.copy(), "attention_mask": self._attention_mask.copy()}

    def _example_index(self, options: dict[str, Any] | None) -> int:
        options = dict(options or {})
        index = options.pop("example_index", None)
        if options:
            raise InvalidArgumentError(f"Unknown reset option(s) {sorted(options)}. Accepted: 'example_index'.")
        if index is None:
            return int(episode_index(self._episode_seed, self._next_counter(), len(self._examples)))
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < len(self._examples):
            raise InvalidArgumentError(
                f"Expected options['example_index'] to be an int in [0, {len(self._examples)}) for the "
                f"{self.split} split, got {index!r} ({type(index).__name__})."
            )
        return int(index)

    def _encode_prompt(self, index: int, example: Example) -> np.ndarray:
        cached = self._prompt_ids.get(index)
        if cached is not None:
            return cached
        ids = self.tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
        if self.tokenizer.bos_token_id is not None:
            ids = [self.tokenizer.bos_token_id, *ids]
        if len(ids) > self.max_prompt_tokens:
            if not self._warned_truncation:
                warnings.warn(
                    f"Prompt of example {example.id!r} has {len(ids)} tokens > max_prompt_tokens="
                    f"{self.max_prompt_tokens}; keeping the last {self.max_prompt_tokens}. Raise max_prompt_tokens "
                    "to keep whole prompts.",
                    stacklevel=3,
                )
                self._warned_truncation = True
            ids = ids[-self.max_prompt_tokens :]
        self._prompt_ids[index] = cached = np.asarray(ids, dtype=np.int64)
        return cached

    def _check_action(self, action: Any) -> int:
        shape = getattr(action, "shape", ())
        if isinstance(action, (bool, np.bool_)) or shape != ():
            what = f"an array of shape {tuple(shape)}" if shape != () else repr(action)
            raise InvalidActionError(
                f"Expected one integer token id in [0, {self.vocab_size}), got {what} ({type(action).__name__}). "
                "Pass a scalar such as env.action_space.sample(); for batches use gym.make_vec."
            )
        try:
            token = operator.index(action)
        except TypeError:
            raise InvalidActionError(
                f"Expected an integer token id in [0, {self.vocab_size}), got {action!r} ({type(action).__name__}). "
                "Token ids are ints; round or cast float actions explicitly."
            ) from None
        if not 0 <= token < self.vocab_size:
            raise InvalidActionError(
                f"Token id {token} is out of range: the action space is Discrete({self.vocab_size}), "
                f"ids 0..{self.vocab_size - 1}."
            )
        return token

    def _score(self) -> float:
        """The reward's score of the response so far."""
        assert self._example is not None
        if self.reward == "token_bleu":
            start = self.max_prompt_tokens
            hyp = [t for t in self._input_ids[start : start + self._num_generated].tolist() if t != self.eos_token_id]
            refs = [self.reference_actions(i)[:-1] for i in range(len(self._example.references))]
            return token_bleu(hyp, refs)
        return float(self.task.score([self.response()], [self._example])[0])

    def _final_info(self) -> dict[str, Any]:
        assert self._example is not None
        response = self.response()
        metrics: dict[str, float] = {}
        if self.info_metrics:
            metrics = {name: float(v[0]) for name, v in self.task.metrics([response], [self._example]).items()}
        name = self.task.scorer.name
        if self.reward == "task" and name in metrics and self.task.metric_scorers.get(name) is self.task.scorer:
            score = metrics[name]
        else:
            score = self._score()
        return {
            "response": response,
            "score": score,
            "metrics": metrics,
            "references": list(self._example.references),
            "example_id": self._example.id,
            "num_tokens": self._num_generated,
            **self.task.episode_info(response, self._example),
        }
