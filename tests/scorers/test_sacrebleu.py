"""SacreBLEU scorers against sacreBLEU's own numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF, TER

from textgym.error import UnknownScorerError
from textgym.scorers import SacreBLEUScorer, make_scorer
from textgym.tasks.base import Example

HYPS = ["Der Mann liest ein Buch im Garten.", "Die Frau schläft.", "", "Katze Hund Maus Haus Baum Auto Tür"]
REFS = [("Der Mann liest das Buch im Garten.", "Ein Mann liest ein Buch im Garten."), ("Die Frau schläft.",),
        ("Das Kind spielt.",), ("Die Katze sieht den Hund.",)]
EXAMPLES = [Example(str(i), "", refs) for i, refs in enumerate(REFS)]
OWN = {"bleu": BLEU(effective_order=True), "chrf": CHRF(), "chrf++": CHRF(word_order=2), "ter": TER()}


@pytest.mark.parametrize("name", ["bleu", "chrf", "chrf++", "ter"])
def test_sentence_scores_match_sacrebleu(name):
    scores = make_scorer(name).score(HYPS, EXAMPLES)
    assert scores.dtype == np.float64 and scores.shape == (4,)
    for score, hyp, refs in zip(scores, HYPS, REFS, strict=True):
        raw = OWN[name].sentence_score(hyp, list(refs)).score
        expected = 1 - raw / 100 if name == "ter" else raw / 100
        assert score == pytest.approx(min(max(expected, 0.0), 1.0), abs=1e-12)
    assert scores[1] == 1.0 and 0.0 < scores[0] < 1.0 and ((scores >= 0) & (scores <= 1)).all()


def test_ter_is_clipped_for_long_wrong_hypotheses():
    raw = TER().sentence_score("a b c d e f g h", ["x"]).score
    assert raw > 100
    assert make_scorer("ter").score(["a b c d e f g h"], [Example("0", "", ("x",))]).tolist() == [0.0]


@pytest.mark.parametrize("name", ["bleu", "chrf", "chrf++", "ter"])
def test_corpus_score_with_variable_reference_counts(name):
    result = make_scorer(name).corpus_score(HYPS, EXAMPLES)
    streams = [[r[0] for r in REFS], [r[1] if len(r) > 1 else None for r in REFS]]
    own = OWN[name].corpus_score(HYPS, streams)
    assert result.raw == pytest.approx(own.score)
    assert result.signature == str(OWN[name].get_signature()) and result.signature.startswith("nrefs:var|")
    assert 0.0 <= result.value <= 1.0


def test_unknown_scorer_names():
    with pytest.raises(UnknownScorerError, match=r"Unknown scorer 'chrf\+'. Did you mean 'chrf\+\+'\?"):
        make_scorer("chrf+")
    with pytest.raises(UnknownScorerError, match=r"Unknown sacreBLEU metric 'rouge'"):
        SacreBLEUScorer("rouge")
    with pytest.raises(UnknownScorerError, match=r"Expected a scorer name or a Scorer object, got 3 \(int\)"):
        make_scorer(3)
    with pytest.raises(LookupError):  # UnknownScorerError is also a LookupError
        make_scorer("meteor")
