"""TextGenVectorEnv: many text-generation episodes stepped as a few tensor ops on any torch device (DESIGN §5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from textgym.envs.episode import Episode, check_options
from textgym.error import (
    InvalidActionError,
    InvalidArgumentError,
    ResetNeededError,
    TextGymError,
    UnsupportedRenderModeError,
    check_int,
    suggest,
)
from textgym.memory import tune_malloc
from textgym.scorers.parallel import ParallelScorer
from textgym.scorers.token_bleu import TokenBleuState
from textgym.seeding import MASK, episode_index
from textgym.spaces import action_space, observation_space
from textgym.tokenization import decode_responses

__all__ = ["TextGenVectorEnv"]

AUTORESET_MODES = {mode.value: mode for mode in AutoresetMode}


def _device(device: Any) -> torch.device:
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidArgumentError(
            f"Unknown device {device!r} ({type(device).__name__}); expected e.g. 'cpu', 'cuda' or 'cuda:0'."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError(f"Device {device!r} requested but torch.cuda.is_available() is False; use 'cpu'.")
    if resolved.type not in ("cpu", "cuda", "mps", "xpu"):
        raise InvalidArgumentError(f"Unsupported device type {resolved.type!r}; expected 'cpu' or 'cuda'.")
    return resolved


class TextGenVectorEnv(VectorEnv):
    """``num_envs`` copies of :class:`~textgym.envs.text_gen_env.TextGenEnv` whose whole state is torch tensors.

    ## Description

    Observations, rewards and flags are tensors on ``device``; the tokenized split (left-padded prompts and
    reference tokens) lives there too. A step writes the actions into the token buffer, updates the masks and
    counters and computes the done flags with batched ops; no Python loop runs over rows. Host work happens
    only for rows that finished when the reward is the task's scorer (sacreBLEU, the sandbox): those rows are
    decoded and scored in one batch and their rewards copied back once. With ``reward="token_bleu"`` the
    reward is computed on the device as well, and a step needs no host round trip at all (with
    ``check_actions=False`` for actions already on the device: range checks on a GPU tensor must sync).

    ## Spaces

    ``single_observation_space``/``single_action_space`` are the single env's; ``observation_space`` is
    ``Dict(input_ids=Box((num_envs, P+T)), attention_mask=...)`` and ``action_space`` is
    ``MultiDiscrete([V] * num_envs)``. Actions: a tensor (any device), numpy array or list of ``num_envs``
    integer ids.

    ## Autoreset

    ``autoreset_mode`` (``metadata["autoreset_mode"]``): ``SAME_STEP`` (default) returns the next episode's
    first observation for rows that finished and puts the finished ones in ``infos["final_obs"]`` and their
    scores in ``infos["final_info"]`` (masks ``_final_obs``/``_final_info``). As in ``SyncVectorEnv`` those keys
    are absent on steps where no row ended, on the CPU; on an accelerator they are always there (all-False masks
    when nothing ended), since knowing would cost a device-to-host sync every step. ``NEXT_STEP`` resets those rows
    on the following step, ignoring its action for them (reward 0); ``DISABLED`` freezes finished rows
    (their actions are ignored, ``terminated`` stays True) until ``reset(options={"reset_mask": mask})``.

    ## Seeding

    ``reset(seed=s)`` gives row ``i`` the seed ``s + i``; examples come from :func:`textgym.seeding.episode_index`
    of (seed, episode counter), computed for all rows at once on the device, so row ``i`` replays a single env
    seeded ``s + i`` step for step. ``reset(options={"example_index": idx})`` starts row ``i`` on example
    ``idx[i]`` of the split instead (the single env's option, batched; the episode counter does not advance),
    e.g. to evaluate on a fixed list of test examples.

    ## Arguments

    Those of ``TextGenEnv`` (``task``, ``split``, ``tokenizer``, ``max_prompt_tokens``, ``max_new_tokens``,
    ``reward_mode``, ``reward``, ``info_metrics``, task keywords; the episode's rules are the same object,
    :class:`textgym.envs.episode.Episode`) plus ``num_envs``, ``device``, ``autoreset_mode``, ``copy``
    (True: fresh tensors each step; False: views valid until the next step), ``check_actions`` and
    ``scoring_workers`` (processes that share the host scoring of the rows that finish in a step; default
    cores - 1, 0 to score in this process only; see :mod:`textgym.scorers.parallel`).

    ## Final info

    ``infos["final_info"]`` has the single env's final-info keys (:data:`textgym.envs.episode.FINAL_INFO_KEYS`
    and the task's own), batched over rows and valid where ``infos["_final_info"]`` is True: ``score``,
    ``num_tokens`` and ``example_index`` as tensors on ``device``; ``response``, ``references``, ``example_id``,
    ``prompt`` and the task's entries as object arrays; ``metrics`` a dict of float arrays. ``info_metrics``
    (default **False** here, True in the single env: every metric of every finished row is host work the
    throughput path does not want) fills ``metrics``. With ``reward="token_bleu"`` and ``info_metrics=False``
    nothing is decoded, so the text entries are absent and a step never leaves the device.
    ``max_episode_steps`` (injected by ``gym.make_vec``) is accepted and ignored: the length cap is
    ``max_new_tokens``. ``infos["env_id"]`` (the row numbers) is in every ``reset`` and ``step`` info, so the keys
    never change between calls (TorchRL's ``GymWrapper`` builds its info specs from the first call).

    ## Version History

    - v0: initial version.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        task: Any = "translate",
        num_envs: int = 1,
        *,
        device: Any = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        copy: bool = True,
        check_actions: bool = True,
        scoring_workers: int | None = None,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        check_int("num_envs", num_envs)
        mode = AUTORESET_MODES.get(str(getattr(autoreset_mode, "value", autoreset_mode)))
        if mode is None:
            raise InvalidArgumentError(
                f"Unknown autoreset_mode {autoreset_mode!r}. {suggest(str(autoreset_mode), AUTORESET_MODES)}"
            )
        if render_mode is not None:
            raise UnsupportedRenderModeError(
                f"TextGenVectorEnv does not render; got render_mode={render_mode!r}. Use None.")
        self.device = _device(device)
        tune_malloc()  # each step allocates megabytes: reuse them from the heap, not fresh pages (textgym.memory)
        env_kwargs.setdefault("info_metrics", False)
        self.episode = episode = Episode(task, **env_kwargs)  # builds and checks the task, tokenizer and split
        self.task, self.tokenizer, self.split = episode.task, episode.tokenizer, episode.split
        self.examples = episode.examples
        self.num_envs = int(num_envs)
        self.autoreset_mode = mode
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.copy, self.check_actions = bool(copy), bool(check_actions)
        self.reward, self.reward_mode, self.info_metrics = episode.reward, episode.reward_mode, episode.info_metrics
        self.max_prompt_tokens, self.max_new_tokens = episode.max_prompt_tokens, episode.max_new_tokens
        self.vocab_size, self.eos_token_id = episode.vocab_size, episode.eos_token_id
        self.pad_token_id = episode.pad_token_id
        self.single_observation_space = observation_space(self.vocab_size, self.max_prompt_tokens,
                                                          self.max_new_tokens)
        self.single_action_space = action_space(self.vocab_size)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self._action_mask: torch.Tensor | None = None
        self.closed = False
        self._scorer = ParallelScorer(self.task, scoring_workers)
        # final-info texts come from the host decode the task reward does anyway, or from info_metrics
        self._decodes = self.reward == "task" or self.info_metrics
        prompts, prompt_mask = episode.prompt_table()
        self.prompt_ids = torch.from_numpy(prompts).to(self.device)
        self.prompt_mask = torch.from_numpy(prompt_mask).to(self.device)
        self.reference_ids = torch.from_numpy(episode.reference_table()).to(self.device)
        self._allocate()

    # -- construction ------------------------------------------------------------------------------------

    def _allocate(self) -> None:
        N, L, dev = self.num_envs, self.max_prompt_tokens + self.max_new_tokens, self.device
        self.input_ids = torch.full((N, L), self.pad_token_id, dtype=torch.long, device=dev)
        self.attention_mask = torch.zeros((N, L), dtype=torch.long, device=dev)
        self.num_generated = torch.zeros(N, dtype=torch.long, device=dev)
        self.example_index = torch.zeros(N, dtype=torch.long, device=dev)
        self.seeds = torch.zeros(N, dtype=torch.long, device=dev)
        self.counters = torch.zeros(N, dtype=torch.long, device=dev)
        self.finished = torch.zeros(N, dtype=torch.bool, device=dev)  # DISABLED: frozen; NEXT_STEP: reset next
        self.prev_score = torch.zeros(N, dtype=torch.float64, device=dev)
        self.env_id = torch.arange(N, device=dev)
        self._started = False
        self._bleu = TokenBleuState(self.reference_ids, N) if self.reward == "token_bleu" else None
        # On the CPU, sparse token BLEU is computed from scratch for the rows that finish (a fixed number of
        # numpy ops per step); elsewhere, and for dense rewards, it is kept incrementally on the device.
        self._host = dev.type == "cpu"
        self._incremental_bleu = self._bleu is not None and (not self._host or self.reward_mode == "dense")
        self._row_numbers = np.arange(N)
        if self._host:
            self._prompt_ids, self._prompt_mask = self.prompt_ids.numpy(), self.prompt_mask.numpy()
        self._empty_texts: dict[str, Any] | None = None

    # -- API ---------------------------------------------------------------------------------------------

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Reset all rows (or ``options["reset_mask"]`` rows); ``seed`` may be an int (row i: seed + i) or a list."""
        self._check_open()
        options = check_options(options, ("reset_mask", "example_index"))
        mask = self._reset_mask(options["reset_mask"])
        chosen = options["example_index"]
        if chosen is not None:
            chosen = torch.from_numpy(self.episode.example_index(chosen, self.num_envs)).to(self.device)
        if seed is not None:
            seeds = self._seed_tensor(seed)
            self.seeds = torch.where(mask, seeds, self.seeds)
            self.counters = torch.where(mask, torch.zeros_like(self.counters), self.counters)
        elif not self._started:
            self.seeds = torch.randint(0, MASK, (self.num_envs,), device=self.device)
        self._started = True
        self._reset_rows(mask, chosen)
        return self._obs(), {"env_id": self.env_id}

    def step(self, actions: Any) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Append one token per row; see the class docstring for the autoreset modes."""
        self._check_open()
        if not self._started:
            raise ResetNeededError("Cannot call step() before reset(); call envs.reset(seed=...) first.")
        tokens = self._actions(actions)
        if self._host and self.autoreset_mode == AutoresetMode.SAME_STEP and self.reward_mode == "sparse":
            return self._step_host(tokens)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            resetting = self.finished.clone()
            self._reset_rows(resetting)
            active = ~resetting
        else:
            active = ~self.finished
        P, T = self.max_prompt_tokens, self.max_new_tokens
        position = (P + self.num_generated).clamp(max=P + T - 1)
        rows = self.env_id
        if self.autoreset_mode == AutoresetMode.SAME_STEP:  # every row is live: plain writes
            self.input_ids[rows, position] = tokens
            self.attention_mask[rows, position] = 1
            self.num_generated += 1
            ended = self.episode.ended(tokens, self.num_generated)
        else:
            self.input_ids[rows, position] = torch.where(active, tokens, self.input_ids[rows, position])
            self.attention_mask[rows, position] = torch.where(active, 1, self.attention_mask[rows, position])
            self.num_generated += active.long()
            ended = active & self.episode.ended(tokens, self.num_generated)
        any_ended = True if not self._host else bool(ended.any())
        if self._incremental_bleu and self._bleu is not None:
            self._bleu.update(tokens, active & ~self.episode.is_stop(tokens))
        rewards, infos = self._rewards(active, ended, any_ended)
        terminated = ended | (self.finished & (self.autoreset_mode == AutoresetMode.DISABLED))
        truncated = torch.zeros_like(terminated)
        # On the CPU a data-dependent branch costs nothing (any_ended), so the copies are skipped when no row
        # ended; on an accelerator the same work runs masked and branch-free, so no step waits for the device.
        # As SyncVectorEnv, the final keys come only on steps where a row ended (on the host, where that is known).
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            if any_ended:
                infos.update({"_final_obs": ended, "final_obs": self._obs(force_copy=True)})
                self._reset_rows(ended)
        else:
            self.finished |= ended
        obs = self._obs()
        infos["env_id"] = self.env_id  # as at reset: the same info keys on every call (TorchRL's reader needs that)
        return obs, rewards.to(torch.float32, copy=False), terminated, truncated, infos

    def _step_host(self, tokens: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor,
                                                         torch.Tensor, dict]:
        """``step`` on the CPU in ``SAME_STEP`` mode with sparse rewards.

        The state tensors live in host memory, so the step works on numpy views of them (the same memory; a
        numpy call costs a fraction of a torch op's dispatch at these sizes): a few ops over all rows, then
        index work on the rows that finished (scoring, final observations, reset). Same results as the general
        path (the alignment tests run both).
        """
        N, P = self.num_envs, self.max_prompt_tokens
        token = tokens.numpy()
        generated = self.num_generated.numpy()
        input_ids, attention_mask = self.input_ids.numpy(), self.attention_mask.numpy()
        position = generated + P  # < P + T: rows are reset when they reach the cap
        input_ids[self._row_numbers, position] = token
        attention_mask[self._row_numbers, position] = 1
        generated += 1
        ended = self.episode.ended(token, generated)
        rows = np.flatnonzero(ended)
        rewards = np.zeros(N, dtype=np.float32)
        score, num_tokens = np.zeros(N, dtype=np.float32), np.zeros(N, dtype=np.int64)
        example_index = np.full(N, -1, dtype=np.int64)
        final_obs, texts = None, None
        if len(rows):
            scores, texts = self._finished_scores(rows)
            rewards[rows] = score[rows] = scores
            num_tokens[rows] = generated[rows]
            example_index[rows] = self.example_index.numpy()[rows]
            final_obs = {"input_ids": torch.zeros_like(self.input_ids),
                         "attention_mask": torch.zeros_like(self.attention_mask)}
            final_obs["input_ids"].numpy()[rows] = input_ids[rows]
            final_obs["attention_mask"].numpy()[rows] = attention_mask[rows]
            self._reset_rows_indexed(rows)
        done = torch.from_numpy(ended)
        final = self._final_info({"score": torch.from_numpy(score), "num_tokens": torch.from_numpy(num_tokens),
                                  "example_index": torch.from_numpy(example_index)}, texts)
        infos = {"final_info": final, "_final_info": done, "final_obs": final_obs, "_final_obs": done}
        infos = infos if len(rows) else {}
        infos["env_id"] = self.env_id  # as at reset: the same info keys on every call (TorchRL's reader needs that)
        return self._obs(), torch.from_numpy(rewards), done.clone(), torch.zeros_like(done), infos

    def _finished_scores(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, Any] | None]:
        """Host scores (float64) of the finished ``rows`` and their final-info texts (None: not decoded).

        The task's reward (through ``Task.score``), or token BLEU from scratch: EOS is not part of the response;
        each row's last token is read from the token buffer.
        """
        mask = None
        if self._bleu is None or self._decodes:
            mask = torch.zeros(self.num_envs, dtype=torch.bool)
            mask[torch.from_numpy(rows)] = True
        if self._bleu is None:
            assert mask is not None
            score, texts = self._host_scores(mask, mask)
            return score.numpy()[rows], texts
        P = self.max_prompt_tokens
        generated = self.num_generated.numpy()[rows]
        last = self.input_ids.numpy()[rows, P + np.maximum(generated - 1, 0)]
        lengths = generated - (self.episode.is_stop(last) & (generated > 0))
        hypotheses = self.input_ids.numpy()[rows, P:]
        scores = self._bleu.host_scores(hypotheses, lengths, self.example_index.numpy()[rows])
        return scores, self._decoded_texts(mask) if mask is not None else None

    def action_masks(self) -> torch.Tensor:
        """Allowed actions per row, ``(num_envs, V)`` bool on the env's device: the single env's mask, every row."""
        if self._action_mask is None:
            self._action_mask = torch.from_numpy(self.episode.action_mask).to(self.device)
        return self._action_mask.expand(self.num_envs, -1)

    def close_extras(self, **kwargs: Any) -> None:
        """Free the device tensors and stop the scoring workers."""
        self._scorer.close()
        self.input_ids = self.attention_mask = self.prompt_ids = self.reference_ids = torch.empty(0)

    def close(self, **kwargs: Any) -> None:
        """Close the env; a later step or reset raises."""
        if not self.closed:
            self.close_extras(**kwargs)
        self.closed = True

    # -- internals ---------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise TextGymError("This TextGenVectorEnv is closed; make a new one with gym.make_vec(...).")

    def _seed_tensor(self, seed: Any) -> torch.Tensor:
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return (torch.arange(self.num_envs, device=self.device) + int(seed)) & MASK
        if isinstance(seed, (list, tuple)) and len(seed) == self.num_envs and all(isinstance(s, int) for s in seed):
            return torch.tensor(seed, dtype=torch.long, device=self.device) & MASK
        raise InvalidArgumentError(
            f"Expected seed to be an int or a list of {self.num_envs} ints, got {seed!r} ({type(seed).__name__})."
        )

    def _reset_mask(self, mask: Any) -> torch.Tensor:
        if mask is None:
            return torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        tensor = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
        if tensor.shape != (self.num_envs,) or tensor.dtype != torch.bool:
            raise InvalidArgumentError(
                f"Expected options['reset_mask'] to be a bool array of shape ({self.num_envs},), got shape "
                f"{tuple(tensor.shape)} and dtype {tensor.dtype}."
            )
        return tensor.to(self.device)

    def _reset_rows(self, mask: torch.Tensor, chosen: torch.Tensor | None = None) -> None:
        """Start a new episode in the rows of ``mask`` (on example ``chosen[i]`` where given).

        On an accelerator: masked writes over all rows, with no data-dependent branch, so nothing waits for the
        device. On the CPU, where reading the mask is free: index writes to the reset rows only. A chosen example
        does not advance the row's episode counter (as the single env's ``example_index`` option).
        """
        if self._host:
            self._reset_rows_indexed(mask.nonzero().flatten(), chosen)
            return
        if chosen is None:
            fresh = episode_index(self.seeds, self.counters, len(self.examples))
            self.counters = self.counters + mask.long()
        else:
            fresh = chosen
        self.example_index = torch.where(mask, fresh, self.example_index)
        P = self.max_prompt_tokens
        m = mask[:, None]
        self.input_ids[:, :P] = torch.where(m, self.prompt_ids[self.example_index], self.input_ids[:, :P])
        self.attention_mask[:, :P] = torch.where(m, self.prompt_mask[self.example_index], self.attention_mask[:, :P])
        self.input_ids[:, P:] = torch.where(m, self.pad_token_id, self.input_ids[:, P:])
        self.attention_mask[:, P:] = torch.where(m, 0, self.attention_mask[:, P:])
        self.num_generated = torch.where(mask, 0, self.num_generated)
        self.finished = self.finished & ~mask
        self.prev_score = torch.where(mask, 0.0, self.prev_score)
        if self._bleu is not None:
            self._bleu.reset(mask, self.example_index)

    def _reset_rows_indexed(self, rows: torch.Tensor | np.ndarray, chosen: torch.Tensor | None = None) -> None:
        """Host version of :meth:`_reset_rows`: index writes to the reset rows, through numpy views."""
        rows = rows.numpy() if isinstance(rows, torch.Tensor) else rows
        if not len(rows):
            return
        if chosen is None:
            counters = self.counters.numpy()
            index = episode_index(self.seeds.numpy()[rows], counters[rows], len(self.examples))
            counters[rows] += 1
        else:
            index = chosen.numpy()[rows]
        self.example_index.numpy()[rows] = index
        P = self.max_prompt_tokens
        input_ids, attention_mask = self.input_ids.numpy(), self.attention_mask.numpy()
        input_ids[rows, :P] = self._prompt_ids[index]
        attention_mask[rows, :P] = self._prompt_mask[index]
        input_ids[rows, P:] = self.pad_token_id
        attention_mask[rows, P:] = 0
        self.num_generated.numpy()[rows] = 0
        self.finished.numpy()[rows] = False
        self.prev_score.numpy()[rows] = 0.0
        if self._incremental_bleu and self._bleu is not None:
            index_tensor = torch.from_numpy(index)
            self._bleu.reset_rows(torch.from_numpy(rows), index_tensor)

    def _actions(self, actions: Any) -> torch.Tensor:
        if isinstance(actions, torch.Tensor):
            tensor = actions
        elif isinstance(actions, (np.ndarray, list, tuple)):
            array = np.asarray(actions)
            if array.dtype == object or not np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
                raise InvalidActionError(
                    f"Expected integer token ids, got an array of dtype {array.dtype}. Cast actions to int64."
                )
            tensor = torch.from_numpy(array.astype(np.int64, copy=False))
        else:
            raise InvalidActionError(
                f"Expected actions as a torch tensor, numpy array or list of {self.num_envs} token ids, got "
                f"{type(actions).__name__}."
            )
        if tensor.dtype in (torch.bool,) or tensor.is_floating_point() or tensor.is_complex():
            raise InvalidActionError(f"Expected integer token ids, got a tensor of dtype {tensor.dtype}. Use .long().")
        if tensor.shape != (self.num_envs,):
            raise InvalidActionError(
                f"Expected actions of shape ({self.num_envs},), one token id per env, got shape {tuple(tensor.shape)}."
            )
        if self.check_actions and tensor.numel() and self._out_of_range(tensor):
            bad = tensor[(tensor < 0) | (tensor >= self.vocab_size)][0].item()
            raise InvalidActionError(
                f"Token id {bad} is out of range: each action is in Discrete({self.vocab_size}), "
                f"ids 0..{self.vocab_size - 1}."
            )
        return tensor.to(self.device, dtype=torch.long, non_blocking=True)

    def _out_of_range(self, tensor: torch.Tensor) -> bool:
        """Whether any id is outside ``[0, vocab_size)`` (reads a host tensor through numpy: a quarter the cost)."""
        if tensor.device.type == "cpu" and not tensor.requires_grad:
            array = tensor.numpy()
            return bool(array.min() < 0 or array.max() >= self.vocab_size)
        low, high = torch.aminmax(tensor)
        return bool(low < 0 or high >= self.vocab_size)

    def _rewards(self, active: torch.Tensor, ended: torch.Tensor, any_ended: bool
                 ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Rewards and ``final_info``: token BLEU on the device, or the task scorer on the finished rows."""
        scored = ended if self.reward_mode == "sparse" else active
        texts = None
        if self.reward_mode == "sparse" and not any_ended:  # nothing to score, nothing to report
            score = torch.zeros(self.num_envs, dtype=torch.float64, device=self.device)
        elif self._bleu is None:
            score, texts = self._host_scores(scored, ended)
        elif not self._incremental_bleu:  # CPU, sparse: the finished rows, from scratch
            rows = scored.nonzero()[:, 0]
            score = torch.zeros(self.num_envs, dtype=torch.float64)
            scores, texts = self._finished_scores(rows.numpy())
            score[rows] = torch.from_numpy(scores)
        else:
            if self._host:  # score only the rows that need it (reading the mask is free here)
                rows = scored.nonzero().flatten()
                score = torch.zeros(self.num_envs, dtype=torch.float64)
                if len(rows):
                    score[rows] = self._bleu.score(self.example_index[rows], rows)
            else:
                score = self._bleu.score(self.example_index)
            if self._decodes and any_ended:  # info_metrics asked for the texts: a host round trip
                texts = self._decoded_texts(ended)
        if self.reward_mode == "sparse":
            rewards = torch.where(ended, score, torch.zeros_like(score))
        else:
            rewards = torch.where(active, score - self.prev_score, torch.zeros_like(score))
            self.prev_score = torch.where(active, score, self.prev_score)
        if not any_ended:
            return rewards, {}
        final = self._final_info({"score": torch.where(ended, score, torch.zeros_like(score)).to(torch.float32),
                                  "num_tokens": torch.where(ended, self.num_generated, 0),
                                  "example_index": torch.where(ended, self.example_index, -1)}, texts)
        return rewards, {"final_info": final, "_final_info": ended}

    def _final_info(self, numeric: dict[str, torch.Tensor], texts: dict[str, Any] | None) -> dict[str, Any]:
        """The step's ``final_info``: its numeric entries and, where this env decodes, the finished rows' texts."""
        final: dict[str, Any] = dict(numeric)
        if self._decodes:
            final.update(texts if texts is not None else self._no_texts() or {})
        return final

    def _no_texts(self) -> dict[str, Any] | None:
        """The text entries of a step where no row ended (built once, read-only)."""
        if not self._decodes:
            return None
        if self._empty_texts is None:
            metrics = {name: np.zeros(0) for name in self.task.metric_scorers} if self.info_metrics else {}
            empty = self.episode.text_info(self.num_envs, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                                           [], metrics)
            for array in [*empty.values(), *empty["metrics"].values()]:
                if isinstance(array, np.ndarray):
                    array.flags.writeable = False
            self._empty_texts = empty
        return self._empty_texts

    def _decode(self, rows_mask: torch.Tensor) -> tuple[np.ndarray, list[str], np.ndarray]:
        """The rows of ``rows_mask`` (host indices), their decoded responses and their example indices."""
        rows = rows_mask.nonzero().flatten().cpu().numpy()
        P = self.max_prompt_tokens
        tokens = self.input_ids[rows_mask, P:].cpu().numpy()
        lengths = self.num_generated[rows_mask].cpu().numpy()
        texts = decode_responses(self.tokenizer, [t[:n].tolist() for t, n in zip(tokens, lengths, strict=True)])
        return rows, texts, self.example_index[rows_mask].cpu().numpy()

    def _decoded_texts(self, ended: torch.Tensor) -> dict[str, Any]:
        """Final-info texts of the ``ended`` rows, decoded for the purpose (token BLEU with ``info_metrics``)."""
        rows, texts, indices = self._decode(ended)
        examples = [self.examples[int(i)] for i in indices]
        return self.episode.text_info(self.num_envs, rows, indices, texts, self.episode.metrics(texts, examples))

    def _host_scores(self, scored: torch.Tensor, ended: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any] | None]:
        """Decode and score the rows of ``scored`` in one batch (the one host round trip) through ``Task.score``.

        Returns the scores ``[N]`` (float64, on the device) and the final-info texts of the ``ended`` rows (None
        when none ended).
        """
        score = torch.zeros(self.num_envs, dtype=torch.float64, device=self.device)
        rows, texts, indices = self._decode(scored)
        if not len(rows):
            return score, None
        examples = [self.examples[int(i)] for i in indices]
        finished = ended[torch.from_numpy(rows).to(self.device)].cpu().numpy()
        every = bool(finished.all())  # sparse rewards: the scored rows are the finished ones
        values, metrics = self.episode.score(texts, examples, self._scorer.score, metrics=every)
        score[torch.from_numpy(rows).to(self.device)] = torch.as_tensor(values, dtype=torch.float64).to(self.device)
        if not finished.any():
            return score, None
        if not every:  # dense rewards: every live row was scored, the finished ones get their metrics now
            keep = np.flatnonzero(finished)
            rows, indices, texts = rows[keep], indices[keep], [texts[i] for i in keep]
            metrics = self.episode.metrics(texts, [examples[i] for i in keep])
        return score, self.episode.text_info(self.num_envs, rows, indices, texts, metrics)

    def _obs(self, force_copy: bool = False) -> dict[str, torch.Tensor]:
        if self.copy or force_copy:
            return {"input_ids": self.input_ids.clone(), "attention_mask": self.attention_mask.clone()}
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}

    def __repr__(self) -> str:
        return f"TextGenVectorEnv({self.task!r}, num_envs={self.num_envs}, device={str(self.device)!r})"
