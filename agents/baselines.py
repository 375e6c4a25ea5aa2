"""Baseline agents: a uniformly random policy and the reference oracle (the known optimum)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import _response_length
from textgym.error import InvalidArgumentError

__all__ = ["GreedyAgent", "RandomAgent", "ReferenceAgent"]


class RandomAgent:
    """Samples token ids uniformly from ``Discrete(V)``: the floor of every task.

    Args:
        action_space: The env's action space.
        seed: Seeds the agent's own generator.
    """

    def __init__(self, action_space: gym.spaces.Discrete, seed: int | None = None) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise InvalidArgumentError(
                f"RandomAgent needs a Discrete action space, got {action_space!r} ({type(action_space).__name__})."
            )
        self.action_space = action_space
        self._rng = np.random.default_rng(seed)

    def predict(self, observation: dict[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray | np.int64, None]:
        """A uniformly random token id, or one per row for a batch (``deterministic`` has no effect)."""
        ids = observation.get("input_ids") if isinstance(observation, dict) else None
        if ids is not None and np.ndim(ids) == 2:
            return self._rng.integers(self.action_space.n, size=len(ids)) + self.action_space.start, None
        return np.int64(self._rng.integers(self.action_space.n) + self.action_space.start), None


class ReferenceAgent:
    """Emits the canonical reference of the env's current example(s), token by token, then EOS.

    An upper bound: it reads the answer from the env. Its episodes score 1.0 on the built-in tasks.

    Args:
        env: A textgym env (wrappers are looked through with ``env.unwrapped``), or a
            :class:`~textgym.vector.torch_env.TextGenVectorEnv`: then ``predict`` takes its batched observation
            and answers one token per row.
    """

    def __init__(self, env: gym.Env | Any) -> None:
        from textgym.vector.torch_env import TextGenVectorEnv

        unwrapped = env.unwrapped
        self.vector = isinstance(unwrapped, TextGenVectorEnv)
        if not self.vector and not hasattr(unwrapped, "reference_actions"):
            raise InvalidArgumentError(
                f"ReferenceAgent needs a textgym env with reference_actions() or a TextGenVectorEnv, got "
                f"{type(unwrapped).__name__}."
            )
        self.env: Any = unwrapped

    def predict(self, observation: dict[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray | np.int64, None]:
        """The reference token at the position the observation has reached (per row for a vector env)."""
        if self.vector:
            return self._predict_rows(observation), None
        actions = self.env.reference_actions()  # type: ignore[attr-defined]
        position = _response_length(observation, self.env.max_prompt_tokens)  # type: ignore[attr-defined]
        return np.int64(actions[min(position, len(actions) - 1)]), None

    def _predict_rows(self, observation: dict[str, Any]) -> np.ndarray:
        import torch

        envs = self.env
        mask = torch.as_tensor(np.asarray(observation["attention_mask"]))[:, envs.max_prompt_tokens :]
        position = mask.sum(1).to(envs.example_index.device)
        # the canonical reference as the episode spells it: its tokens, EOS, then padding
        tokens, _ = envs.episode.reference_responses(envs.reference_ids[envs.example_index, 0])
        return tokens.gather(1, position.clamp(max=tokens.shape[1] - 1)[:, None])[:, 0].cpu().numpy()


class GreedyAgent:
    """Decodes greedily with a model: the most likely next token given the observation.

    With ``max_prompt_tokens`` (the env's ``P``), batches stepped in lockstep (a vector env's rows, all reset
    together) decode with the model's KV cache: the prompts are run once, then each call feeds only the tokens
    chosen at the previous call. Whenever the observation is not such a continuation (a row was reset, the
    batch changed), it falls back to a full forward over the prefixes, which gives the same argmax up to float
    rounding (the cache and the full forward agree to 1e-5, tested).

    Args:
        model: A :class:`~agents.policy.TransformerPolicy`.
        max_prompt_tokens: The env's prompt length ``P``; None: no cache.
    """

    def __init__(self, model: Any, max_prompt_tokens: int | None = None) -> None:
        from agents.rollout import Decoder

        self.model = model
        self.max_prompt_tokens = max_prompt_tokens
        self._decoder = Decoder(model)
        self._state: tuple[Any, ...] | None = None

    def predict(self, observation: dict[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Argmax of the next-token logits at each row's last real token (one observation or a batch)."""
        import torch

        from agents.policy import batch_observation

        device = next(self.model.parameters()).device
        ids, mask, single = batch_observation(observation, device)
        with torch.no_grad():
            if self.max_prompt_tokens is None or single:
                actions = self.model.next_token(ids, mask).logits.argmax(-1)
            else:
                actions = self._cached(ids, mask)
        out = actions.cpu().numpy()
        return (out[0] if single else out), None

    def _cached(self, ids: Any, mask: Any) -> Any:
        import torch

        P = int(self.max_prompt_tokens)  # type: ignore[arg-type]
        length = mask[:, P:].sum(1)
        if not bool(length.any()):  # fresh episodes: run the prompts once
            actions = self._decoder.start(ids[:, :P], mask[:, :P]).logits.argmax(-1)
            self._state = (ids[:, :P].clone(), length, actions)
            return actions
        if self._state is not None:
            prompt, previous, chosen = self._state
            advanced = length == previous + 1
            rows = torch.arange(len(ids), device=ids.device)
            continued = (prompt.shape == ids[:, :P].shape and bool((advanced | (length == previous)).all())
                         and torch.equal(prompt, ids[:, :P])
                         and bool((ids[rows, (P + previous).clamp(max=ids.shape[1] - 1)] == chosen)[advanced].all()))
            if continued:  # rows that did not advance are finished: their (ignored) answer costs nothing extra
                actions = self._decoder.advance(chosen).logits.argmax(-1)
                self._state = (prompt, length, actions)
                return actions
        self._state = None
        return self.model.next_token(ids, mask).logits.argmax(-1)
