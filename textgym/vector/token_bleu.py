"""Token-level BLEU kept incrementally on the device, one new token per row per step.

Each step adds, for n = 1..4, the n-gram ending at the new token: it is a clipped match if the hypothesis
held it fewer times so far than the reference that holds it most. The statistics then give sacreBLEU's
sentence BLEU (exp smoothing, effective order, closest reference length) exactly as
:func:`textgym.scorers.token_bleu.token_bleu` computes it from scratch on the host.

The references' n-grams are counted once, at construction: per example, a sorted table of n-gram keys with
their maximum count over the references. A step looks its four new keys up with ``searchsorted``; a new
n-gram is a clipped match while the row has used that table entry fewer times than its count, which is the
same clipped count as sacreBLEU's ``min(hyp count, max ref count)`` summed over n-grams. Only the keys of
the last n-grams are kept for chaining: a few batched ops over ``[num_envs, 4]`` and ``[num_envs, M]``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from textgym.scorers.token_bleu import MAX_ORDER, bleu_from_stats

__all__ = ["TokenBleuState", "ngram_key"]

_SENTINEL = (1 << 63) - 1  # sorts last; its count is 0, so even a real key equal to it adds no match


def _wrap64(value: int) -> int:
    """Python int -> the int64 that torch arithmetic produces (two's complement wrap-around)."""
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


def ngram_key(tokens: tuple[int, ...], base: int) -> int:
    """The key of an n-gram, computed the way the device computes it incrementally."""
    key = 0
    for token in tokens:
        key = _wrap64(key * base + token + 1)
    return key


def _reference_tables(references: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Per example: sorted n-gram keys (all orders) and their maximum count over the references."""
    tables: list[list[tuple[int, int]]] = []
    for refs in references:
        best: Counter[int] = Counter()
        for ref in refs:
            tokens = [int(t) for t in ref if t >= 0]
            ref_counts: Counter[int] = Counter(
                ngram_key(tuple(tokens[i : i + n]), base)
                for n in range(1, MAX_ORDER + 1)
                for i in range(len(tokens) - n + 1)
            )
            best |= ref_counts
        tables.append(sorted(best.items()))
    width = max(1, max(len(t) for t in tables))
    keys = np.full((len(tables), width), _SENTINEL, dtype=np.int64)
    counts = np.zeros((len(tables), width), dtype=np.int64)
    for i, table in enumerate(tables):
        if table:
            keys[i, : len(table)], counts[i, : len(table)] = zip(*table, strict=True)
    return keys, counts


class TokenBleuState:
    """Per-row sufficient statistics of token BLEU against each row's references.

    Args:
        references: ``[num_examples, K, R]`` reference token ids (no EOS), -1 padded.
        num_envs: Rows.
        vocab_size: Size of the id space (sets the n-gram key base; keys are exact while ``(V+1)**4`` fits in
            int64, i.e. V < 55,000, and wrap around above, which only adds rare false matches).
    """

    def __init__(self, references: torch.Tensor, num_envs: int, vocab_size: int) -> None:
        device = references.device
        self.base = vocab_size + 1
        keys, counts = _reference_tables(references.cpu().numpy(), self.base)
        self.table_keys = torch.from_numpy(keys).to(device)
        self.table_counts = torch.from_numpy(counts).to(device)
        self.ref_lens = (references >= 0).sum(-1)  # [E, K]; 0 for a missing reference
        self.reference_ids = references
        self._bits: np.ndarray | None = None  # see _reference_bits (host scoring only, built on first use)
        self._bits_checked = False
        self.row_keys = torch.full((num_envs, keys.shape[1]), _SENTINEL, dtype=torch.long, device=device)
        self.row_counts = torch.zeros((num_envs, keys.shape[1]), dtype=torch.long, device=device)
        self.row_used = torch.zeros_like(self.row_counts)  # matches already credited to each table entry
        self.last = torch.full((num_envs, MAX_ORDER), -1, dtype=torch.long, device=device)  # keys ending last
        self.correct = torch.zeros(num_envs, MAX_ORDER, dtype=torch.float64, device=device)
        self.total = torch.zeros_like(self.correct)
        self.hyp_len = torch.zeros(num_envs, dtype=torch.long, device=device)
        self._rows = torch.arange(num_envs, device=device)

    def reset(self, mask: torch.Tensor, example_index: torch.Tensor) -> None:
        """Clear the rows where ``mask`` is True and load their examples' reference tables."""
        self.row_keys = torch.where(mask[:, None], self.table_keys[example_index], self.row_keys)
        self.row_counts = torch.where(mask[:, None], self.table_counts[example_index], self.row_counts)
        self.row_used.masked_fill_(mask[:, None], 0)
        self.last.masked_fill_(mask[:, None], -1)
        self.correct.masked_fill_(mask[:, None], 0)
        self.total.masked_fill_(mask[:, None], 0)
        self.hyp_len.masked_fill_(mask, 0)

    def reset_rows(self, rows: torch.Tensor, example_index: torch.Tensor) -> None:
        """:meth:`reset` by row indices (``example_index`` holds the new examples of those rows)."""
        self.row_keys[rows] = self.table_keys[example_index]
        self.row_counts[rows] = self.table_counts[example_index]
        self.row_used[rows] = 0
        self.last[rows] = -1
        self.correct[rows] = 0
        self.total[rows] = 0
        self.hyp_len[rows] = 0

    def update(self, tokens: torch.Tensor, add: torch.Tensor) -> None:
        """Append ``tokens`` to the rows where ``add`` is True (the caller excludes EOS and finished rows)."""
        previous = self.last
        new = torch.empty_like(previous)
        new[:, 0] = tokens + 1
        chained = previous[:, :-1] * self.base + (tokens + 1)[:, None]
        new[:, 1:] = torch.where(previous[:, :-1] >= 0, chained, -1)
        new = torch.where(add[:, None], new, -1)
        valid = new >= 0
        slot = torch.searchsorted(self.row_keys, new).clamp(max=self.row_keys.shape[1] - 1)
        found = valid & (self.row_keys.gather(1, slot) == new)
        match = found & (self.row_used.gather(1, slot) < self.row_counts.gather(1, slot))
        # the four orders have distinct keys (different lengths), so one row never hits one slot twice
        self.row_used.scatter_add_(1, slot, match.long())
        self.correct += match.to(self.correct.dtype)
        self.total += valid.to(self.total.dtype)
        self.last = torch.where(add[:, None], new, previous)
        self.hyp_len += add.long()

    def score(self, example_index: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Sentence BLEU in [0, 1] (float64) of every row, or of ``rows`` (``example_index`` given for those)."""
        hyp_len = self.hyp_len if rows is None else self.hyp_len[rows]
        correct = self.correct if rows is None else self.correct[rows]
        total = self.total if rows is None else self.total[rows]
        return self._bleu(correct, total, hyp_len, example_index)

    def host_scores(self, tokens: np.ndarray, lengths: np.ndarray, example_index: np.ndarray) -> np.ndarray:
        """Sentence BLEU of whole hypotheses computed from scratch on the host (CPU tensors only).

        Args:
            tokens: ``[R, T]`` token ids; row ``r`` is its first ``lengths[r]`` tokens (no EOS).
            lengths: ``[R]`` hypothesis lengths.
            example_index: ``[R]`` the rows' examples.

        For a CPU vector env in sparse mode this replaces the per-step :meth:`update`: only the rows that
        finished are scored, with a fixed number of numpy ops whatever ``R`` is. A token that occurs in none of
        its example's references can be part of no matching n-gram, so only the n-grams made of tokens that do
        (one bit per (example, token), looked up at once) are looked up in their row's reference table; a
        random 64-token hypothesis has a handful. The hits are counted per table entry, and the clipped
        matches are ``min(hypothesis count, reference count)`` summed per order, as sacreBLEU clips. The score
        is :func:`~textgym.scorers.token_bleu.bleu_from_stats`, the single env's own formula, for the rows
        with a match (0 for the others, as there).
        """
        R, T = tokens.shape
        if R == 0:
            return np.zeros(0, dtype=np.float64)
        lengths = np.asarray(lengths, dtype=np.int64)
        shifted = tokens.astype(np.int64) + 1
        live = np.arange(T) < lengths[:, None]
        bits = self._reference_bits()
        if bits is not None:
            held_bits = bits[example_index[:, None], tokens >> 3] >> (tokens & 7).astype(np.uint8)
            live &= (held_bits & 1).astype(bool)
        # keys [R, order, start] of the n-grams whose tokens all occur in the references
        keys = np.zeros((R, MAX_ORDER, T), dtype=np.int64)
        usable = np.zeros((R, MAX_ORDER, T), dtype=bool)
        keys[:, 0], usable[:, 0] = shifted, live
        for n in range(1, MAX_ORDER):
            np.multiply(keys[:, n - 1, : T - n], self.base, out=keys[:, n, : T - n])
            keys[:, n, : T - n] += shifted[:, n:]
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
        total = np.maximum(lengths[:, None] - np.arange(MAX_ORDER), 0)
        ref_lens = self.ref_lens.numpy()[example_index]  # [R, K]
        distance = np.where(ref_lens > 0, np.abs(ref_lens - lengths[:, None]), 1 << 40)  # missing refs never win
        closest = ref_lens[np.arange(R), (distance * 4096 + ref_lens).argmin(1)]
        scores = np.zeros(R, dtype=np.float64)
        scored = np.flatnonzero(correct.any(1) & (lengths > 0))
        scores[scored] = [bleu_from_stats(c, t, h, r) for c, t, h, r in zip(
            correct[scored].tolist(), total[scored].tolist(), lengths[scored].tolist(), closest[scored].tolist(),
            strict=True)]
        return scores

    def _reference_bits(self) -> np.ndarray | None:
        """``[E, ceil(V / 8)]`` bits: whether token ``v`` occurs in a reference of example ``e`` (built once).

        None where it would take more than 64 MB (a large vocabulary and many examples): then every token is
        looked up.
        """
        if not self._bits_checked:
            self._bits_checked = True
            references = self.reference_ids.numpy().reshape(len(self.reference_ids), -1)
            width = (self.base - 1 + 7) // 8
            if references.shape[0] * width > 64 << 20:
                return None
            bits = np.zeros((references.shape[0], width), dtype=np.uint8)
            example, column = np.nonzero(references >= 0)
            token = references[example, column]
            np.bitwise_or.at(bits, (example, token >> 3), (1 << (token & 7)).astype(np.uint8))
            self._bits = bits
        return self._bits

    def _bleu(self, correct: torch.Tensor, total_all: torch.Tensor, hyp_len_int: torch.Tensor,
              example_index: torch.Tensor) -> torch.Tensor:
        """Sentence BLEU as sacreBLEU computes it from the statistics (exp smoothing, effective order)."""
        hyp_len = hyp_len_int.to(torch.float64)
        ref_lens = self.ref_lens[example_index]  # [N, K]
        distance = (ref_lens - hyp_len_int[:, None]).abs()
        distance = torch.where(ref_lens > 0, distance, 1 << 40)  # missing references never win
        closest = (distance * 4096 + ref_lens).argmin(1)  # nearest, the shorter on ties
        ref_len = ref_lens.gather(1, closest[:, None])[:, 0].to(torch.float64)
        bp = torch.where(hyp_len >= ref_len, torch.ones_like(hyp_len), torch.exp(1 - ref_len / hyp_len.clamp(min=1)))
        orders = total_all > 0
        zero = (correct == 0) & orders
        smooth = torch.pow(2.0, torch.cumsum(zero.to(torch.float64), dim=1))
        total = total_all.clamp(min=1)
        precision = torch.where(correct > 0, correct / total, 1 / (smooth * total))
        logs = torch.where(orders, torch.log(precision), torch.zeros_like(precision))
        score = bp * torch.exp(logs.sum(1) / orders.sum(1).clamp(min=1))
        return torch.where((hyp_len_int > 0) & (correct.sum(1) > 0), score, torch.zeros_like(score))
