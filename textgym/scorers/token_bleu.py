"""Token-level BLEU: sacreBLEU's sentence BLEU formula over token ids instead of 13a words.

An approximation of BLEU for rewards computed where the tokens are (the vector env computes it on the device,
incrementally, as :class:`textgym.vector.token_bleu.TokenBleuState`). Same sufficient statistics as sacreBLEU:
clipped n-gram matches against the maximum count over the references, n = 1..4, closest reference length for
the brevity penalty, ``exp`` smoothing and effective order. It differs from word BLEU because a word may be
several tokens; ``benchmarks/throughput/env.py`` reports its correlation with sacreBLEU's BLEU.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

__all__ = ["MAX_ORDER", "bleu_from_stats", "token_bleu"]

MAX_ORDER = 4


def bleu_from_stats(correct: Sequence[float], total: Sequence[float], hyp_len: int, ref_len: int) -> float:
    """Sentence BLEU in [0, 1] as sacreBLEU's ``compute_bleu`` gives it (exp smoothing, effective order)."""
    if hyp_len == 0 or not any(correct):
        return 0.0
    bp = 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)
    smooth, logs = 1.0, []
    for c, t in zip(correct, total, strict=True):
        if t == 0:
            break
        if c == 0:
            smooth *= 2
            logs.append(math.log(1.0 / (smooth * t)))
        else:
            logs.append(math.log(c / t))
    return bp * math.exp(sum(logs) / len(logs))


def _ngrams(tokens: Sequence[int], n: int) -> Counter[tuple[int, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def token_bleu(hypothesis: Sequence[int], references: Sequence[Sequence[int]]) -> float:
    """Sentence BLEU of a token sequence against reference token sequences (no EOS in either), in [0, 1].

    Example:
        >>> token_bleu([5, 6, 7, 8], [[5, 6, 7, 8]]), token_bleu([], [[1]])
        (1.0, 0.0)
    """
    correct, total = [], []
    for n in range(1, MAX_ORDER + 1):
        hyp = _ngrams(hypothesis, n)
        best: Counter[tuple[int, ...]] = Counter()
        for ref in references:
            best |= _ngrams(ref, n)  # the maximum count of each n-gram over the references
        correct.append(sum(min(c, best[g]) for g, c in hyp.items()))
        total.append(max(len(hypothesis) - n + 1, 0))
    # closest reference length, the shorter one on ties (as sacreBLEU)
    ref_len = min((abs(len(r) - len(hypothesis)), len(r)) for r in references)[1]
    return bleu_from_stats(correct, total, len(hypothesis), ref_len)
