"""The single token-level text generation environment (DESIGN.md §2)."""

from __future__ import annotations

import operator
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from textgym.envs.episode import REWARD_MODES, REWARDS, Episode, check_options
from textgym.error import (
    InvalidActionError,
    ResetNeededError,
    UnsupportedRenderModeError,
    suggest,
)
from textgym.scorers.token_bleu import token_bleu
from textgym.seeding import MASK, episode_index
from textgym.spaces import action_space, observation_space
from textgym.tasks import Example, Task
from textgym.tokenization import decode_responses

__all__ = ["REWARDS", "REWARD_MODES", "TextGenEnv"]

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
    ``truncated`` is always False. ``gym.make(..., max_episode_steps=K)`` wraps the env in Gymnasium's
    ``TimeLimit``, which the env cannot see: at step ``K`` it sets ``truncated=True`` on a step that pays 0 with
    an empty ``info``, since the unfinished response was never scored. To cap the response *and* score it, pass
    ``max_new_tokens=K`` instead (the cap above). At the end ``info`` holds
    ``response``, ``score``, ``metrics`` (every metric of the task, each in [0, 1]; empty with
    ``info_metrics=False``), ``references``, ``example_id``, ``example_index``, ``prompt``, ``num_tokens`` and the
    task's own entries (the code task's ``outcome``): :data:`textgym.envs.episode.FINAL_INFO_KEYS`, the same
    keys as a vector env's ``final_info``. The rules of the episode live in :class:`textgym.envs.episode.Episode`.

    ## Arguments

    - ``task``: a task family name (``"translate"``) or a :class:`~textgym.tasks.Task` instance.
    - ``split``: ``"train"`` (default), ``"validation"`` or ``"test"``.
    - ``tokenizer``: ``None`` for the task's default BPE tokenizer, or a Hugging Face tokenizer (name,
      local path or instance).
    - ``split_digits``: the default BPE tokenizer keeps every digit a token of its own, so numbers are never
      merged (default False; with ``tokenizer=None`` only). A small label budget then still trains every token a
      constant is made of (the code task's ``return x + 13``).
    - ``max_prompt_tokens`` (default 80), ``max_new_tokens`` (default 64).
    - ``reward_mode``: ``"sparse"`` or ``"dense"``.
    - ``reward``: ``"task"`` (the task's scorer, default) or ``"token_bleu"``.
    - ``info_metrics``: compute every metric of the task for the final ``info`` (default True; False leaves
      only the reward's own score, which is what a throughput comparison wants).
    - ``render_mode``: ``None``, ``"ansi"`` (``render()`` returns the text) or ``"human"`` (prints it).
    - ``prompt_format``: ``"plain"`` (default: BOS, then the task's prompt) or ``"chat"`` (the tokenizer's chat
      template with the prompt as the user turn and the generation prompt; for instruct models), with an
      optional ``system_prompt``.
    - ``stop_token_ids``: more special token ids that end an episode as EOS does (default: EOS; with ``"chat"``
      also the model's end-of-sequence ids from a ``generation_config.json`` beside the tokenizer).
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
        prompt_format: str = "plain",
        system_prompt: str | None = None,
        **task_kwargs: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise UnsupportedRenderModeError(
                f"Unknown render_mode {render_mode!r}. {suggest(str(render_mode), self.metadata['render_modes'])} "
                "Or None."
            )
        self.episode = Episode(task, split=split, tokenizer=tokenizer, max_prompt_tokens=max_prompt_tokens,
                               max_new_tokens=max_new_tokens, reward_mode=reward_mode, reward=reward,
                               info_metrics=info_metrics, prompt_format=prompt_format,
                               system_prompt=system_prompt, **task_kwargs)
        episode = self.episode
        self.task, self.split, self.tokenizer = episode.task, episode.split, episode.tokenizer
        self.max_prompt_tokens, self.max_new_tokens = episode.max_prompt_tokens, episode.max_new_tokens
        self.reward_mode, self.reward, self.info_metrics = episode.reward_mode, episode.reward, episode.info_metrics
        self.vocab_size, self.eos_token_id, self.pad_token_id = (episode.vocab_size, episode.eos_token_id,
                                                                 episode.pad_token_id)
        self.render_mode = render_mode
        # gym.Env types observation_space as Space[ObsType]; a Dict space is one, but mypy cannot see it.
        self.observation_space = observation_space(  # type: ignore[assignment]
            self.vocab_size, self.max_prompt_tokens, self.max_new_tokens
        )
        self.action_space = action_space(self.vocab_size)

        self._prompt_ids: dict[int, np.ndarray] = {}
        length = self.max_prompt_tokens + self.max_new_tokens
        self._input_ids = np.full(length, self.pad_token_id, dtype=np.int64)
        self._attention_mask = np.zeros(length, dtype=np.int64)
        self._example: Example | None = None
        self._index = -1
        self._num_generated = 0
        self._done = False
        self._prev_score = 0.0
        self._reference_ids: dict[tuple[int, int], list[int]] = {}
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
        chosen = check_options(options, ("example_index",))["example_index"]
        if chosen is None:
            index = int(episode_index(self._episode_seed, self._next_counter(), len(self.episode.examples)))
        else:
            index = self.episode.example_index(chosen)
        self._index, self._example = index, self.episode.examples[index]
        if index not in self._prompt_ids:
            self._prompt_ids[index] = self.episode.prompt_ids(self._example)
        self.episode.place_prompt(self._prompt_ids[index], self._input_ids, self._attention_mask)
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
        terminated = bool(self.episode.ended(token, self._num_generated))
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

    def action_masks(self) -> np.ndarray:
        """Allowed actions, shape ``(V,)``: every id but the special tokens other than EOS (padding, BOS, ...).

        sb3-contrib's ``MaskablePPO`` reads it (``env_method("action_masks")``); stepping a masked id is still legal.
        """
        return self.episode.action_mask.copy()

    def reference_actions(self, reference: int = 0) -> list[int]:
        """Token ids that spell reference ``reference`` of the current example, then EOS (the oracle's actions)."""
        if self._example is None:
            raise ResetNeededError("No current example; call reset() first.")
        key = (self._index, reference)
        if key not in self._reference_ids:
            if any(k[0] != self._index for k in self._reference_ids):
                self._reference_ids.clear()  # one example at a time
            self._reference_ids[key] = self.episode.reference_actions(self._example.references[reference])
        return list(self._reference_ids[key])

    # -- internals ---------------------------------------------------------------------------------------

    def _next_counter(self) -> int:
        self._episode_counter += 1
        return self._episode_counter - 1

    def _obs(self) -> ObsType:
        return {"input_ids": self._input_ids.copy(), "attention_mask": self._attention_mask.copy()}

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
            generated = self._input_ids[start : start + self._num_generated].tolist()
            hyp = [t for t in generated if not self.episode.is_stop(t)]
            refs = [self.reference_actions(i)[:-1] for i in range(len(self._example.references))]
            return token_bleu(hyp, refs)
        return float(self.episode.score([self.response()], [self._example], metrics=False)[0][0])

    def _final_info(self) -> dict[str, Any]:
        assert self._example is not None
        response = self.response()
        if self.reward == "task":
            scores, metrics = self.episode.score([response], [self._example])
            score = float(scores[0])
        else:
            score, metrics = self._score(), self.episode.metrics([response], [self._example])
        return self.episode.final_info(self._index, response, score, self._num_generated,
                                       {name: value[0] for name, value in metrics.items()})
