"""sacreBLEU's chrF n-gram statistics for a whole batch of sentences at once, in a few numpy calls.

sacreBLEU's ``CHRF.sentence_score`` builds six Python ``Counter`` objects of character n-grams per sentence
(~50-300 µs for 60-300 characters). Its score is a function of integer statistics only: per reference and per
order ``n``, the hypothesis' n-gram count (0 where the reference has no n-gram of that order), the reference's,
and the clipped matches ``sum(min(hyp count, ref count))``. :func:`chrf_statistics` computes exactly those
integers for many (hypothesis, reference) pairs with sorting instead of dictionaries:

- every sentence loses its whitespace as sacreBLEU's ``extract_all_char_ngrams`` does (``"".join(s.split())``);
- the batch's characters become dense ids ``1..A`` (a lookup table, or ``np.unique`` above U+FFFF), so an
  n-gram of ids ``c_1..c_n`` has the exact key ``sum(c_k * B ** (n - k))`` with ``B = A + 1``: keys of
  different orders never collide (an order-n key has exactly n base-B digits, none zero);
- a (pair, order, key, side) is one int64, ``((pair * 6 + n - 1) * B ** 6 + key) * 2 + side`` (side 0 for the
  reference, 1 for the hypothesis); after one sort, equal n-grams of a pair are adjacent with the reference's
  copies first, so the n-grams both sides hold are where a reference copy meets a hypothesis copy, and
  ``min(ref count, hyp count)`` of each follows from two ``searchsorted`` calls.

The statistics are equal to sacreBLEU's, so :meth:`sacrebleu.metrics.CHRF._compute_f_score` on them gives
sacreBLEU's score to the last bit. Batches whose numbers would not fit in an int64 (an alphabet of more than
600-900 distinct characters, e.g. much CJK text) return None, and the caller falls back to sacreBLEU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from textgym.error import InvalidArgumentError

__all__ = ["chrf_statistics"]

_INT64_MAX = (1 << 63) - 1


def _codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated code points of ``texts`` (whitespace removed) and each text's length."""
    stripped = ["".join(text.split()) for text in texts]
    lengths = np.fromiter((len(text) for text in stripped), dtype=np.int64, count=len(stripped))
    # surrogatepass: a str may hold lone surrogates, which sacreBLEU slices like any other character
    codes = np.frombuffer("".join(stripped).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return codes, lengths


def _dense_ids(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Ids ``1..A`` of the distinct code points, in code point order, and ``A``."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64), 0
    top = int(codes.max())
    if top < 1 << 16:  # a lookup table is cheaper than sorting the characters
        present = np.zeros(top + 1, dtype=np.int64)
        present[codes] = 1
        rank = np.cumsum(present)
        return rank[codes], int(rank[-1])
    alphabet, inverse = np.unique(codes, return_inverse=True)
    return inverse.astype(np.int64) + 1, len(alphabet)


def _triples(ids: np.ndarray, lengths: np.ndarray, pair: np.ndarray, source: np.ndarray, base: int,
             order: int) -> np.ndarray:
    """``((pair * order + n - 1) * base ** order + key) * 2 + source`` of every n-gram of every segment, -1 for none.

    ``ids`` holds the segments one after another (``lengths``); segment ``s`` belongs to ``pair[s]`` and is a
    hypothesis (``source[s]`` 1) or a reference (0). Row ``n - 1`` of the result holds the n-grams starting at
    each position, and -1 where fewer than ``n`` characters of the segment are left.
    """
    total = len(ids)
    scale = base**order
    room = np.repeat(np.cumsum(lengths), lengths) - np.arange(total)  # characters left in the segment
    head = np.repeat(pair * (order * scale * 2) + source, lengths)
    keys = np.empty((order, total), dtype=np.int64)
    keys[0] = ids
    for n in range(2, order + 1):
        np.multiply(keys[n - 2, : total - n + 1], base, out=keys[n - 1, : total - n + 1])
        keys[n - 1, : total - n + 1] += ids[n - 1 :]
    keys *= 2
    keys += head
    keys += (np.arange(order, dtype=np.int64) * (scale * 2))[:, None]
    np.putmask(keys, room < np.arange(1, order + 1, dtype=np.int64)[:, None], -1)
    return keys.ravel()


def chrf_statistics(hypotheses: Sequence[str], references: Sequence[str], order: int = 6) -> np.ndarray | None:
    """Character n-gram statistics of each ``(hypotheses[i], references[i])`` pair, as sacreBLEU counts them.

    Args:
        hypotheses: Preprocessed hypotheses, one per pair (repeat a hypothesis for each of its references).
        references: Preprocessed references, one per pair.
        order: The character n-gram order (sacreBLEU's ``char_order``, 6 for chrF).

    Returns:
        ``[pairs, order, 3]`` int64: per order ``n``, ``[hyp n-grams (0 if the reference has none), ref
        n-grams, clipped matches]``, the triplets of ``CHRF._compute_segment_statistics`` for one reference;
        or None when the batch's alphabet is too large for exact int64 keys.
    """
    pairs = len(hypotheses)
    if len(references) != pairs:
        raise InvalidArgumentError(
            f"Expected one reference per hypothesis, got {len(references)} references for {pairs} hypotheses."
        )
    codes, lengths = _codes([*hypotheses, *references])
    ids, size = _dense_ids(codes)
    base = size + 1
    if 2 * base**order * (pairs * order + 1) > _INT64_MAX:
        return None
    numbers = np.arange(pairs, dtype=np.int64)
    source = np.repeat(np.array([1, 0], dtype=np.int64), pairs)
    triples = np.sort(_triples(ids, lengths, np.concatenate([numbers, numbers]), source, base, order))
    triples = triples[np.searchsorted(triples, 0) :]  # drop the -1s
    matches = np.zeros(pairs * order, dtype=np.int64)
    if len(triples):
        # equal (pair, order, key) triples are adjacent, the reference's copies first: a key both sides hold
        # is where a reference copy is followed by a hypothesis copy
        key, hypothesis = triples >> 1, (triples & 1).astype(bool)
        last_ref = np.flatnonzero((key[1:] == key[:-1]) & hypothesis[1:] & ~hypothesis[:-1])
        shared = key[last_ref]
        in_ref = last_ref + 1 - np.searchsorted(key, shared, "left")
        in_hyp = np.searchsorted(key, shared, "right") - last_ref - 1
        matches = np.bincount(shared // base**order, weights=np.minimum(in_ref, in_hyp),
                              minlength=pairs * order).astype(np.int64)
    n = np.arange(1, order + 1)
    hyp_lengths, ref_lengths = lengths[:pairs], lengths[pairs:]
    hyp_total = np.maximum(hyp_lengths[:, None] - n + 1, 0)
    ref_total = np.maximum(ref_lengths[:, None] - n + 1, 0)
    stats = np.empty((pairs, order, 3), dtype=np.int64)
    stats[:, :, 0] = np.where(ref_total > 0, hyp_total, 0)
    stats[:, :, 1] = ref_total
    stats[:, :, 2] = matches.reshape(pairs, order)
    return stats
