"""Batched chrF statistics against sacreBLEU's own, on real translations and on awkward strings."""

from __future__ import annotations

import gzip
import random

import numpy as np
import pytest
from sacrebleu.metrics import CHRF

from tests.data import shared_data
from textgym.error import InvalidArgumentError
from textgym.scorers import SacreBLEUScorer
from textgym.scorers.batched_chrf import chrf_statistics
from textgym.tasks.base import Example

CHRF_METRIC = CHRF()
AWKWARD = [  # (hypothesis, reference)
    ("", "Das Kind spielt."), ("Das Kind spielt.", ""), ("", ""), ("   ", "a"), ("a", "a"), ("ab", "a"),
    ("abcdef", "abcdef"), ("abcdefg", "abcde"), ("aaaaaaa", "aaa"), ("a a a", "aaa"),  # whitespace is dropped
    ("tab\tnew\nline\u3000ideographic space", "tabnewline ideographic space"),
    ("é€😀 ñ", "😀ñ é"), ("\ud800 lone surrogate", "lone surrogate"), ("x" * 400, "x" * 3),
]


def _own_statistics(hypothesis: str, reference: str) -> list[int]:
    return CHRF_METRIC._compute_segment_statistics(hypothesis, CHRF_METRIC._extract_reference_info([reference]))


def _lines(path, count: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for _, line in zip(range(count), handle, strict=False)]


def _shuffled(rng: random.Random, sentence: str) -> str:
    """A partly right hypothesis: the words shuffled and some dropped."""
    words = sentence.split()
    rng.shuffle(words)
    return " ".join(words[: rng.randint(0, len(words))])


def test_statistics_equal_sacrebleus_on_awkward_strings():
    stats = chrf_statistics([h for h, _ in AWKWARD], [r for _, r in AWKWARD])
    assert stats is not None and stats.shape == (len(AWKWARD), 6, 3) and stats.dtype == np.int64
    for (hypothesis, reference), ours in zip(AWKWARD, stats, strict=True):
        assert ours.ravel().tolist() == _own_statistics(hypothesis, reference), (hypothesis, reference)
    assert chrf_statistics([], []).shape == (0, 6, 3)
    with pytest.raises(InvalidArgumentError, match="one reference per hypothesis, got 1 references for 2 hypotheses"):
        chrf_statistics(["a", "b"], ["a"])


def test_scores_equal_sacrebleu_sentence_scores_on_multi30k_and_tico19():
    """Every score to the last bit, for a batch of 700 partly right and plain wrong translations."""
    rng = random.Random(0)
    german = _lines(shared_data("multi30k") / "test_2016_flickr.de.gz", 400)
    french = _lines(shared_data("tico19-enfr") / "tico19-test.fr.gz", 300)
    references = [(s,) for s in german] + [(s, german[i]) for i, s in enumerate(french)]  # two references
    responses = [_shuffled(rng, s) for s in german] + [_shuffled(rng, s) for s in french[::-1]]
    examples = [Example(str(i), "", refs) for i, refs in enumerate(references)]
    scores = SacreBLEUScorer("chrf").score(responses, examples)
    expected = [CHRF_METRIC.sentence_score(r, list(refs)).score / 100 for r, refs in zip(responses, references,
                                                                                            strict=True)]
    assert scores.tolist() == expected
    assert 0.2 < scores.mean() < 0.9 and (scores == 1.0).sum() < 50  # partly right, as meant


def test_one_long_random_response_and_a_large_alphabet_give_sacrebleus_score():
    rng = random.Random(1)
    long_response = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzäöü .,") for _ in range(300))
    cjk = "".join(chr(0x4E00 + rng.randrange(20000)) for _ in range(3000))  # too many distinct ones for int64 keys
    assert chrf_statistics([cjk], [cjk[::2]]) is None
    scorer = SacreBLEUScorer("chrf")
    for response, reference in [(long_response, "ein kurzer Satz."), (cjk, cjk[::2]), ("kurz", "kurz.")]:
        score = scorer.score([response], [Example("0", "", (reference,))])
        assert score.tolist() == [CHRF_METRIC.sentence_score(response, [reference]).score / 100]
