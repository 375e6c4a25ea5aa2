"""Token BLEU: the incremental device state, the batched host path and the single env's counter version agree
with each other and with sacreBLEU's formula, for small and for Llama/Qwen-sized vocabularies."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from sacrebleu.metrics import BLEU

from textgym.error import InvalidArgumentError
from textgym.scorers.token_bleu import TokenBleuState, closest_reference_length, token_bleu


def _sacrebleu(hypothesis, references):
    def words(tokens):
        return " ".join(f"w{t}" for t in tokens)

    bleu = BLEU(effective_order=True, tokenize="none")  # tokens as words: the same statistic
    return bleu.sentence_score(words(hypothesis), [words(r) for r in references]).score / 100


def _episodes(vocab, vocab_size, E=30, K=3, R=12, N=30, T=16, seed=0):
    """References over a few ids of ``vocab`` (so n-grams repeat and match), hypotheses that copy them in part."""
    rng = random.Random(seed)
    refs = torch.full((E, K, R), -1)
    ref_lists = []
    for e in range(E):
        rows = []
        for k in range(rng.randint(1, K)):
            toks = [rng.choice(vocab) for _ in range(rng.randint(1, R))]
            refs[e, k, : len(toks)] = torch.tensor(toks)
            rows.append(toks)
        ref_lists.append(rows)
    state, index, hyps = TokenBleuState(refs, N), torch.arange(N), [[] for _ in range(N)]
    state.reset(torch.ones(N, dtype=torch.bool), index)
    for step in range(T):
        tokens = torch.tensor([ref_lists[i][0][step] if step < len(ref_lists[i][0]) and rng.random() < 0.6
                               else rng.choice(vocab) if rng.random() < 0.8 else rng.randrange(vocab_size)
                               for i in range(N)])
        add = torch.tensor([rng.random() < 0.9 for _ in range(N)])
        state.update(tokens, add)
        for i in range(N):
            if add[i]:
                hyps[i].append(int(tokens[i]))
    return state, index, hyps, ref_lists


@pytest.mark.parametrize("vocab_size", [9, 2048, 151_936, 1 << 20])
def test_incremental_host_single_and_sacrebleu_agree_for_any_vocabulary(vocab_size):
    rng = random.Random(vocab_size)
    vocab = [rng.randrange(vocab_size) for _ in range(9)] if vocab_size > 9 else list(range(9))
    state, index, hyps, ref_lists = _episodes(vocab, vocab_size)
    N, T = len(hyps), 16
    device_scores = state.score(index)
    single = [token_bleu(hyps[i], ref_lists[i]) for i in range(N)]
    # the CPU env's from-scratch batch: the same statistics and the same formula, so equal to the last bit
    padded = np.full((N, T), vocab[0], dtype=np.int64)  # cells past a row's length hold junk, never counted
    for i, hyp in enumerate(hyps):
        padded[i, : len(hyp)] = hyp
    lengths = np.array([len(h) for h in hyps])
    assert state.host_scores(padded, lengths, index.numpy()).tolist() == single
    assert state.host_scores(padded[:0], lengths[:0], index.numpy()[:0]).shape == (0,)
    sacre = [_sacrebleu(hyps[i], ref_lists[i]) for i in range(N)]
    np.testing.assert_allclose(device_scores.numpy(), single, atol=1e-12)
    np.testing.assert_allclose(single, sacre, atol=1e-12)
    assert min(single) >= 0 and max(single) < 1 and sum(s > 0.2 for s in single) > 5


def test_four_grams_of_a_150k_vocabulary_are_not_lost_to_key_overflow():
    """The first version keyed n-grams on raw ids in base V + 1: at V = 151,936 4-gram keys wrapped around int64,
    were dropped, and the device path scored 0.575 where sacreBLEU's formula gives 0.372."""
    V = 151_936
    reference = [151_000, 150_999, 151_935, 140_000, 151_001, 151_002]
    hypothesis = [151_000, 150_999, 151_935, 140_000, 3, 151_001]  # one shared 4-gram
    refs = torch.full((1, 1, 8), -1)
    refs[0, 0, : len(reference)] = torch.tensor(reference)
    state = TokenBleuState(refs, 1)
    state.reset(torch.ones(1, dtype=torch.bool), torch.zeros(1, dtype=torch.long))
    for token in hypothesis:
        state.update(torch.tensor([token]), torch.ones(1, dtype=torch.bool))
    expected = _sacrebleu(hypothesis, [reference])
    assert state.correct[0].tolist() == [5, 3, 2, 1]
    assert state.score(torch.zeros(1, dtype=torch.long)).item() == pytest.approx(expected, abs=1e-12)
    host = state.host_scores(np.array([hypothesis]), np.array([6]), np.array([0]))
    assert host[0] == pytest.approx(expected, abs=1e-12) and token_bleu(hypothesis, [reference]) == host[0]
    assert V > 55_000


def test_references_with_too_many_distinct_tokens_are_refused():
    refs = torch.arange(60_000)[None, None, :]
    with pytest.raises(InvalidArgumentError, match=r"an example's references hold 60000 distinct tokens"):
        TokenBleuState(refs, 1)


def test_the_closest_reference_is_the_nearest_then_the_shorter_and_missing_ones_never_win():
    ref_lens = np.array([[3, 7, 0], [4, 6, 0], [0, 9, 2]])
    assert closest_reference_length(ref_lens, np.array([5, 5, 1])).tolist() == [3, 4, 2]
    assert closest_reference_length(torch.from_numpy(ref_lens), torch.tensor([6, 5, 9])).tolist() == [7, 4, 9]
