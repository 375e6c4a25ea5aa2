"""Observation and action spaces shared by the single and the vector environments (DESIGN.md §2)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

__all__ = ["action_space", "observation_space"]


def observation_space(vocab_size: int, max_prompt_tokens: int, max_new_tokens: int) -> spaces.Dict:
    """``Dict(input_ids, attention_mask)``, each a ``Box`` of int64 with ``max_prompt_tokens + max_new_tokens`` cells.

    Named after Hugging Face model inputs so that ``model(**obs)`` works. Not ``MultiDiscrete`` (SB3
    one-hot encodes it) nor ``Sequence``/``Text`` (SB3 rejects them).
    """
    length = max_prompt_tokens + max_new_tokens
    return spaces.Dict(
        {
            "input_ids": spaces.Box(0, vocab_size - 1, shape=(length,), dtype=np.int64),
            "attention_mask": spaces.Box(0, 1, shape=(length,), dtype=np.int64),
        }
    )


def action_space(vocab_size: int) -> spaces.Discrete:
    """``Discrete(vocab_size)``: the next token id."""
    return spaces.Discrete(vocab_size)
