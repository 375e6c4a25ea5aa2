"""Test helpers shared across the suite (STYLE §7): an env with injectable step/reset, a character-level
tokenizer and a tiny random transformer, plus ``play`` (one episode of an agent).

None of them stands in for the real thing where the real thing is cheap: the tokenizer is a real Hugging Face
fast tokenizer over a character vocabulary, the transformer a real (tiny) GPT-2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import gymnasium as gym
import numpy as np

from textgym.spaces import action_space, observation_space

__all__ = ["GenericTextEnv", "char_tokenizer", "play", "record_log_ratios", "tiny_policy"]

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


def char_tokenizer(texts: Iterable[str]) -> Any:
    """A ``PreTrainedTokenizerFast`` with one id per character of ``texts`` (ids 0-3: pad, BOS, EOS, unk).

    Decoding joins characters back exactly, so a response's text is its ids' characters.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    characters = sorted({c for text in texts for c in text})
    vocab = {token: i for i, token in enumerate([*SPECIALS, *characters])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", clean_up_tokenization_spaces=False)


def tiny_policy(vocab_size: int, max_positions: int = 128, eos_token_id: int | None = 2, seed: int = 0,
                width: int = 32) -> Any:
    """A one-layer GPT-2 of ``width`` with a value head (:class:`agents.policy.TransformerPolicy`), seeded."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from agents.policy import TransformerPolicy

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=max_positions, n_layer=1, n_head=2, n_embd=width,
                        bos_token_id=1, eos_token_id=eos_token_id, pad_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0)
    return TransformerPolicy(GPT2LMHeadModel(config), vocab_size)


class GenericTextEnv(gym.Env):
    """A text env with textgym's spaces whose ``reset`` and ``step`` are the functions given (Gymnasium's
    ``GenericTestEnv``): for testing what consumes envs without a task behind it.

    Args:
        vocab_size, max_prompt_tokens, max_new_tokens: The spaces' sizes.
        reset_func: ``(env, seed, options) -> (obs, info)``; default: an empty prompt, 0 generated.
        step_func: ``(env, action) -> (obs, reward, terminated, truncated, info)``; default: append the token,
            end at EOS (id 2) or the cap, reward 1.0 at the end.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gym.Env API

    def __init__(self, vocab_size: int = 16, max_prompt_tokens: int = 4, max_new_tokens: int = 4,
                 reset_func: Callable[..., Any] | None = None, step_func: Callable[..., Any] | None = None) -> None:
        self.vocab_size, self.max_prompt_tokens, self.max_new_tokens = vocab_size, max_prompt_tokens, max_new_tokens
        self.observation_space = observation_space(vocab_size, max_prompt_tokens, max_new_tokens)
        self.action_space = action_space(vocab_size)
        self._reset_func, self._step_func = reset_func, step_func
        self.input_ids = np.zeros(max_prompt_tokens + max_new_tokens, dtype=np.int64)
        self.attention_mask = np.zeros_like(self.input_ids)
        self.generated = 0

    def obs(self) -> dict[str, np.ndarray]:
        """The current observation (copies)."""
        return {"input_ids": self.input_ids.copy(), "attention_mask": self.attention_mask.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """``reset_func``'s answer, or an empty episode whose prompt is one BOS token."""
        super().reset(seed=seed)
        if self._reset_func is not None:
            return self._reset_func(self, seed, options)
        self.input_ids[:], self.attention_mask[:], self.generated = 0, 0, 0
        self.input_ids[self.max_prompt_tokens - 1] = 1
        self.attention_mask[self.max_prompt_tokens - 1] = 1
        return self.obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """``step_func``'s answer, or: append the token; the episode ends at EOS (2) or the cap with reward 1."""
        if self._step_func is not None:
            return self._step_func(self, action)
        position = self.max_prompt_tokens + self.generated
        self.input_ids[position], self.attention_mask[position] = int(action), 1
        self.generated += 1
        done = int(action) == 2 or self.generated == self.max_new_tokens
        return self.obs(), float(done), done, False, {}


def play(env: Any, agent: Any, seed: int | None = None, options: dict[str, Any] | None = None
         ) -> tuple[list[float], list[int], dict[str, Any], dict[str, Any]]:
    """One episode of ``agent`` on a single env: (rewards, actions, final info, final obs)."""
    obs, _ = env.reset(seed=seed, options=options)
    rewards, actions = [], []
    while True:
        action, _ = agent.predict(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        actions.append(int(action))
        assert not truncated
        if terminated:
            return rewards, actions, info, obs


def record_log_ratios(monkeypatch: Any) -> list[float]:
    """Spy on PPO's clipped surrogate: the list fills with each minibatch's ``max |log pi - log pi_old|``."""
    import agents.ppo.ppo as ppo_module

    seen: list[float] = []
    surrogate = ppo_module.clipped_surrogate_loss

    def recording(logprobs: Any, old_logprobs: Any, *args: Any) -> Any:
        seen.append(float((logprobs - old_logprobs).abs().max().detach()))
        return surrogate(logprobs, old_logprobs, *args)

    monkeypatch.setattr(ppo_module, "clipped_surrogate_loss", recording)
    return seen


def easy_translation(seed: int = 0, num_envs: int = 32) -> tuple[Any, Any, Any]:
    """The learning tests' easy task: eight embedded sentences (difficulty 1), a character tokenizer, 12-token
    answers scored by token BLEU. Returns ``(training envs, an 8-row scoring env, a one-layer policy)``."""
    from textgym.tasks import make_task

    task = make_task("translate", difficulty=1, num_examples={"train": 8, "validation": 8, "test": 8})
    texts = [t for split in ("train", "validation") for e in task.examples(split) for t in (e.prompt, *e.references)]
    tokenizer = char_tokenizer(texts)
    kwargs = {"task": task, "tokenizer": tokenizer, "max_prompt_tokens": 64, "max_new_tokens": 12,
              "reward": "token_bleu"}
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=num_envs, autoreset_mode="Disabled", **kwargs)
    scored = gym.make_vec("TextGen-Translate-v0", num_envs=8, autoreset_mode="Disabled", **kwargs)
    return envs, scored, tiny_policy(len(tokenizer), eos_token_id=tokenizer.eos_token_id, seed=seed)
