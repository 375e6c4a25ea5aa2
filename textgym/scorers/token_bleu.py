"""Token-level BLEU: sacreBLEU's sentence BLEU formula over token ids instead of 13a words.

An approximation of BLEU for rewards computed where the tokens are. Same sufficient statistics as sacreBLEU:
clipped n-gram matches against the maximum count over the references, n = 1..4, closest reference length for
the brevity penalty, ``exp`` smoothing and effective order. It differs from word BLEU because a word may be
several tokens; ``benchmarks/throughput/env.py`` reports its correlation with sacreBLEU's BLEU.

Three ways to get the statistics, one formula (:func:`bleu_from_stats`, which also holds the one
closest-reference rule):

- :func:`token_bleu`: one hypothesis from scratch, with n-gram counters (the single env).
- :meth:`TokenBleuState.update`: kept incrementally, one new token per row per step, on any device.
- :meth:`TokenBleuState.host_scores`: whole hypotheses from scratch, batched, on the host (a CPU vector env
  scores only the rows that finished).

**Exact keys for any vocabulary.** Keys are not built from token ids (four ids of a 150k vocabulary need 69
bits) but from each example's *local* ids: its references' distinct tokens, numbered 1..U in sorted order. A
token absent from the references (local id 0) can be part of no matching n-gram, so it is never looked up. An
n-gram's key is its local ids as digits in base ``U_max + 1`` (digits are never 0, so different lengths never
collide): exact in int64 while ``(U_max + 1) ** 4 < 2 ** 63``, i.e. up to 55,108 distinct reference tokens per
example, whatever the vocabulary size. (The first version keyed on ``token + 1`` in base ``V + 1``: for
V > 55,000, 4-gram keys wrapped around int64 and the device path over-scored.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from array_api_compat import device
from array_api_compat import numpy as array_api_numpy
from array_api_compat import torch as array_api_torch

from textgym.error import InvalidArgumentError

__all__ = ["MAX_ORDER", "TokenBleuState", "bleu_from_stats", "closest_reference_length", "token_bleu"]

MAX_ORDER = 4
_SENTINEL = (1 << 63) - 1  # pads the tables; sorts last, and no query equals it
_ORDERS = [float(n) for n in range(MAX_ORDER)]
Array = Any  # a numpy array or a torch tensor (the array API has no static type)


def _namespace(array: Array) -> Any:
    """The array-API namespace of a numpy array or a torch tensor (``array_namespace`` costs ~100 us a call)."""
    return array_api_numpy if isinstance(array, np.ndarray) else array_api_torch


def closest_reference_length(ref_lens: Array, hyp_len: Array) -> Array:
    """The reference length closest to each hypothesis length, the shorter on ties (sacreBLEU's rule).

    Args:
        ref_lens: ``[R, K]`` reference lengths (ints below 2**20); 0 marks a missing reference (it never wins).
        hyp_len: ``[R]`` hypothesis lengths (ints).
    """
    xp = _namespace(ref_lens)
    distance = xp.where(ref_lens > 0, xp.abs(ref_lens - hyp_len[:, None]), 1 << 21)
    # one integer per reference that orders by distance, then length; the length is its low 20 bits
    return xp.min(distance * (1 << 20) + ref_lens, axis=1) % (1 << 20)


def bleu_from_stats(correct: Array, hyp_len: Array, ref_lens: Array) -> Array:
    """Sentence BLEU in [0, 1] (float64) as sacreBLEU's ``compute_bleu`` gives it: exp smoothing, effective order.

    Written once against the array API, so the same lines score numpy arrays on the host and torch tensors on
    any device.

    Args:
        correct: ``[R, 4]`` clipped n-gram matches per order (float64).
        hyp_len: ``[R]`` hypothesis lengths (ints; the n-gram totals follow from them).
        ref_lens: ``[R, K]`` reference lengths (ints), 0 for a missing reference.

    Example:
        >>> bleu_from_stats(np.array([[4.0, 3, 2, 1]]), np.array([4]), np.array([[4]])).tolist()
        [1.0]
    """
    xp = _namespace(correct)
    hyp = xp.astype(hyp_len, xp.float64)
    ref = xp.astype(closest_reference_length(ref_lens, hyp_len), xp.float64)
    bp = xp.where(hyp >= ref, 1.0, xp.exp(1 - ref / xp.maximum(hyp, 1.0)))
    total = hyp[:, None] - xp.asarray(_ORDERS, dtype=xp.float64, device=device(correct))  # n-grams per order
    orders = total > 0
    smooth = 2.0 ** xp.cumulative_sum(xp.astype((correct == 0) & orders, xp.float64), axis=1)
    total = xp.maximum(total, 1.0)
    precision = xp.where(correct > 0, correct / total, 1 / (smooth * total))
    logs = xp.where(orders, xp.log(precision), 0.0)
    # summed in order, as sacreBLEU's Python sum: the same bits for a batch of one row or of thousands
    log_sum = logs[:, 0] + logs[:, 1] + logs[:, 2] + logs[:, 3]
    score = bp * xp.exp(log_sum / xp.maximum(xp.minimum(hyp, float(MAX_ORDER)), 1.0))  # effective order
    return xp.where((hyp > 0) & (xp.sum(correct, axis=1) > 0), score, 0.0)


def _ngrams(tokens: Sequence[int], n: int) -> Counter[tuple[int, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def token_bleu(hypothesis: Sequence[int], references: Sequence[Sequence[int]]) -> float:
    """Sentence BLEU of a token sequence against reference token sequences (no EOS in either), in [0, 1].

    Example:
        >>> token_bleu([5, 6, 7, 8], [[5, 6, 7, 8]]), token_bleu([], [[1]])
        (1.0, 0.0)
    """
    correct = []
    for n in range(1, MAX_ORDER + 1):
        hyp = _ngrams(hypothesis, n)
        best: Counter[tuple[int, ...]] = Counter()
        for ref in references:
            best |= _ngrams(ref, n)  # the maximum count of each n-gram over the references
        correct.append(float(sum(min(c, best[g]) for g, c in hyp.items())))
    ref_lens = np.array([[len(r) for r in references]])
    return float(bleu_from_stats(np.array([correct]), np.array([len(hypothesis)]), ref_lens)[0])


def _local_vocabularies(references: np.ndarray) -> np.ndarray:
    """``[E, U]``: each example's distinct reference tokens, sorted, padded with ``_SENTINEL``."""
    vocabularies = [np.unique(refs[refs >= 0]) for refs in references]
    width = max(1, max(len(v) for v in vocabularies))
    table = np.full((len(vocabularies), width), _SENTINEL, dtype=np.int64)
    for i, vocabulary in enumerate(vocabularies):
        table[i, : len(vocabulary)] = vocabulary
    return table


def _reference_tables(references: np.ndarray, vocabularies: np.ndarray, base: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per example: the sorted keys of its reference n-grams (all orders) and their maximum count over the refs."""
    tables: list[list[tuple[int, int]]] = []
    for refs, vocabulary in zip(references, vocabularies, strict=True):
        best: Counter[int] = Counter()
        for ref in refs:
            local = (np.searchsorted(vocabulary, ref[ref >= 0]) + 1).tolist()
            counts: Counter[int] = Counter()
            for n in range(1, MAX_ORDER + 1):
                for i in range(len(local) - n + 1):
                    key = 0
                    for digit in local[i : i + n]:
                        key = key * base + digit
                    counts[key] += 1
            best |= counts
        tables.append(sorted(best.items()))
    width = max(1, max(len(t) for t in tables))
    keys = np.full((len(tables), width), _SENTINEL, dtype=np.int64)
    counts_table = np.zeros((len(tables), width), dtype=np.int64)
    for i, table in enumerate(tables):
        if table:
            keys[i, : len(table)], counts_table[i, : len(table)] = zip(*table, strict=True)
    return keys, counts_table


class TokenBleuState:
    """Per-row sufficient statistics of token BLEU against each row's references, on the references' device.

    Args:
        references: ``[num_examples, K, R]`` reference token ids (no EOS), -1 padded.
        num_envs: Rows.

    Raises:
        InvalidArgumentError: an example's references hold more than 55,108 distinct tokens (keys would not
            fit in int64; see the module docstring).
    """

    def __init__(self, references: torch.Tensor, num_envs: int) -> None:
        device = references.device
        host = references.cpu().numpy()
        vocabularies = _local_vocabularies(host)
        distinct = int((vocabularies != _SENTINEL).sum(1).max())
        self.base = distinct + 1
        if self.base**MAX_ORDER >= 1 << 63:
            raise InvalidArgumentError(
                f"Token BLEU keys would overflow int64: an example's references hold {distinct} distinct tokens "
                "(at most 55,108). Use shorter references (max_new_tokens) or reward='task'."
            )
        keys, counts = _reference_tables(host, vocabularies, self.base)
        self.vocabularies = torch.from_numpy(vocabularies).to(device)
        self.table_keys = torch.from_numpy(keys).to(device)
        self.table_counts = torch.from_numpy(counts).to(device)
        self.ref_lens = (references >= 0).sum(-1)  # [E, K]; 0 for a missing reference
        width = keys.shape[1]
        self.row_vocabularies = torch.full((num_envs, vocabularies.shape[1]), _SENTINEL, dtype=torch.long,
                                           device=device)
        self.row_keys = torch.full((num_envs, width), _SENTINEL, dtype=torch.long, device=device)
        self.row_counts = torch.zeros((num_envs, width), dtype=torch.long, device=device)
        self.row_used = torch.zeros_like(self.row_counts)  # matches already credited to each table entry
        self.last = torch.full((num_envs, MAX_ORDER), -1, dtype=torch.long, device=device)  # keys ending last
        self.correct = torch.zeros(num_envs, MAX_ORDER, dtype=torch.float64, device=device)
        self.hyp_len = torch.zeros(num_envs, dtype=torch.long, device=device)

    def reset(self, mask: torch.Tensor, example_index: torch.Tensor) -> None:
        """Clear the rows where ``mask`` is True and load their examples' reference tables."""
        self.row_vocabularies = torch.where(mask[:, None], self.vocabularies[example_index], self.row_vocabularies)
        self.row_keys = torch.where(mask[:, None], self.table_keys[example_index], self.row_keys)
        self.row_counts = torch.where(mask[:, None], self.table_counts[example_index], self.row_counts)
        self.row_used.masked_fill_(mask[:, None], 0)
        self.last.masked_fill_(mask[:, None], -1)
        self.correct.masked_fill_(mask[:, None], 0)
        self.hyp_len.masked_fill_(mask, 0)

    def reset_rows(self, rows: torch.Tensor, example_index: torch.Tensor) -> None:
        """:meth:`reset` by row indices (``example_index`` holds the new examples of those rows)."""
        self.row_vocabularies[rows] = self.vocabularies[example_index]
        self.row_keys[rows] = self.table_keys[example_index]
        self.row_counts[rows] = self.table_counts[example_index]
        self.row_used[rows] = 0
        self.last[rows] = -1
        self.correct[rows] = 0
        self.hyp_len[rows] = 0

    @staticmethod
    def _local_ids(vocabularies: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Each token's local id in its row's reference vocabulary (1..U), 0 where the references lack it."""
        slot = torch.searchsorted(vocabularies, tokens).clamp_(max=vocabularies.shape[1] - 1)
        return torch.where(vocabularies.gather(1, slot) == tokens, slot + 1, 0)

    def _host_local_ids(self, tokens: np.ndarray, example_index: np.ndarray) -> np.ndarray:
        """:meth:`_local_ids` on the host, for ``[R, T]`` tokens of examples ``example_index``.

        One flat binary search over all examples' vocabularies, each shifted by ``example * span`` (one numpy
        call per batch: a fraction of a batched torch search's dispatch cost at these sizes).
        """
        if not hasattr(self, "_flat"):
            vocabularies = self.vocabularies.numpy()
            self._span = int(vocabularies[vocabularies != _SENTINEL].max(initial=0)) + 2
            padded = np.where(vocabularies == _SENTINEL, self._span - 1, vocabularies)  # sorts last in its row
            self._flat = (padded + np.arange(len(padded))[:, None] * self._span).ravel()
        width = self.vocabularies.shape[1]
        # tokens beyond every reference token map to the padding value, which is never found
        query = np.minimum(tokens, self._span - 1) + example_index[:, None] * self._span
        slot = np.minimum(np.searchsorted(self._flat, query), len(self._flat) - 1)
        held = (self._flat[slot] == query) & (tokens < self._span - 1)
        return np.where(held, slot - example_index[:, None] * width + 1, 0)

    def update(self, tokens: torch.Tensor, add: torch.Tensor) -> None:
        """Append ``tokens`` to the rows where ``add`` is True (the caller excludes EOS and finished rows)."""
        local = self._local_ids(self.row_vocabularies, tokens[:, None])  # [N, 1]
        held = local > 0
        new = torch.empty_like(self.last)
        new[:, :1] = torch.where(held, local, -1)
        new[:, 1:] = torch.where(held & (self.last[:, :-1] >= 0), self.last[:, :-1] * self.base + local, -1)
        new = torch.where(add[:, None], new, -1)
        slot = torch.searchsorted(self.row_keys, new).clamp(max=self.row_keys.shape[1] - 1)
        found = (new >= 0) & (self.row_keys.gather(1, slot) == new)
        match = found & (self.row_used.gather(1, slot) < self.row_counts.gather(1, slot))
        # the four orders have distinct keys (different lengths), so one row never hits one slot twice
        self.row_used.scatter_add_(1, slot, match.long())
        self.correct += match.to(self.correct.dtype)
        self.last = torch.where(add[:, None], new, self.last)
        self.hyp_len += add.long()

    def score(self, example_index: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Sentence BLEU in [0, 1] (float64) of every row, or of ``rows`` (``example_index`` given for those)."""
        hyp_len = self.hyp_len if rows is None else self.hyp_len[rows]
        correct = self.correct if rows is None else self.correct[rows]
        return bleu_from_stats(correct, hyp_len, self.ref_lens[example_index])

    def host_scores(self, tokens: np.ndarray, lengths: np.ndarray, example_index: np.ndarray) -> np.ndarray:
        """Sentence BLEU of whole hypotheses computed from scratch on the host (CPU tensors only).

        Args:
            tokens: ``[R, T]`` token ids; row ``r`` is its first ``lengths[r]`` tokens (no EOS).
            lengths: ``[R]`` hypothesis lengths.
            example_index: ``[R]`` the rows' examples.

        For a CPU vector env in sparse mode this replaces the per-step :meth:`update`: only the rows that
        finished are scored, with a fixed number of numpy ops whatever ``R`` is. Tokens are mapped to their
        example's local ids in one batched lookup; only the n-grams made of tokens the references hold are
        keyed and looked up in their row's table, in a second one (a random 64-token hypothesis has a handful).
        The hits are counted per table entry, and the clipped matches are ``min(hypothesis count, reference
        count)`` summed per order, as sacreBLEU clips.
        """
        R, T = tokens.shape
        if R == 0:
            return np.zeros(0, dtype=np.float64)
        lengths = np.asarray(lengths, dtype=np.int64)
        example_index = np.asarray(example_index, dtype=np.int64)
        local = self._host_local_ids(tokens, example_index)
        live = (np.arange(T) < lengths[:, None]) & (local > 0)
        # keys [R, order, start] of the n-grams whose tokens all occur in the references
        keys = np.zeros((R, MAX_ORDER, T), dtype=np.int64)
        usable = np.zeros((R, MAX_ORDER, T), dtype=bool)
        keys[:, 0], usable[:, 0] = local, live
        for n in range(1, MAX_ORDER):
            np.multiply(keys[:, n - 1, : T - n], self.base, out=keys[:, n, : T - n])
            keys[:, n, : T - n] += local[:, n:]
            np.logical_and(usable[:, n - 1, : T - n], live[:, n:], out=usable[:, n, : T - n])
        rows, orders, starts = np.nonzero(usable)  # grouped by row
        correct: np.ndarray = np.zeros((R, MAX_ORDER), dtype=np.float64)
        if len(rows):
            query = keys[rows, orders, starts]
            # one padded query row per hypothesis, looked up in its table with one batched binary search
            rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # position within its row
            queries = np.full((R, int(rank.max()) + 1), _SENTINEL, dtype=np.int64)
            queries[rows, rank] = query
            table_keys = self.table_keys.numpy()[example_index]  # [R, W]
            width = table_keys.shape[1]
            slot = torch.searchsorted(torch.from_numpy(table_keys), torch.from_numpy(queries)).numpy()[rows, rank]
            np.minimum(slot, width - 1, out=slot)
            found = table_keys[rows, slot] == query
            entries = rows[found] * width + slot[found]  # table entries (row-major over [R, W]) held, with repeats
            counts = np.bincount(entries, minlength=R * width)  # the hypothesis count of each entry
            order = np.zeros(R * width, dtype=np.int64)
            order[entries] = orders[found]
            held = np.flatnonzero(counts)
            clipped = np.minimum(counts[held], self.table_counts.numpy()[example_index[held // width], held % width])
            correct = np.bincount(held // width * MAX_ORDER + order[held], weights=clipped,
                                  minlength=R * MAX_ORDER).reshape(R, MAX_ORDER)
        return bleu_from_stats(correct, lengths, self.ref_lens.numpy()[example_index])
