"""Counter-based example draws shared by the single and the vector environment.

The example of an env's k-th episode since it was seeded with ``s`` is ``hash(s, k) mod num_examples``, with
``hash`` an integer mixer (the finaliser of MurmurHash3 reduced to 31 bits, whose products stay below 2**62).
The same function runs on Python ints (single env) and on int64 numpy arrays or tensors on any device (vector
env, one batched call for all rows, no per-row generator and no host round trip), so row ``i`` of a vector env
seeded ``s`` draws exactly what a single env seeded ``s + i`` draws.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MASK", "episode_index"]

MASK = 0x7FFFFFFF

def _mix(x: Any) -> Any:
    x = x & MASK
    x = ((x >> 16) ^ x) * 0x45D9F3B & MASK
    x = ((x >> 16) ^ x) * 0x45D9F3B & MASK
    return (x >> 16) ^ x


def episode_index(seed: Any, counter: Any, num_examples: int) -> Any:
    """Index of the example for episode ``counter`` of an env seeded ``seed`` (ints, int64 numpy arrays or tensors).

    Example:
        >>> episode_index(0, 0, 1000), episode_index(0, 1, 1000), episode_index(1, 0, 1000)
        (878, 178, 545)
    """
    mixed = _mix(_mix(seed) ^ (_mix(counter * 0x9E3779B + 0x632BE5A)))
    return mixed % num_examples
