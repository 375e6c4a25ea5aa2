"""The procedural en/de/fr grammar: hand-checked sentences for each grammatical feature, and corpus properties."""

from __future__ import annotations

import random

import pytest

from textgym.tasks.generators import morphology as mo
from textgym.tasks.generators.lexicon import ADJECTIVES, NOUNS, VERBS
from textgym.tasks.generators.translate import (
    _FREQ,
    _PREPS,
    _TIMES,
    MAX_DIFFICULTY,
    NP,
    Clause,
    SentencePlan,
    realise,
    sample_plan,
)


def noun(en):
    return next(n for n in NOUNS if n.en_sg == en)


def adj(en):
    return next(a for a in ADJECTIVES if a.en == en)


def verb(en):
    return next(v for v in VERBS if v.en_base == en)


def prep(en):
    return next(p for p in _PREPS if p.en == en)


def time(en):
    return next(t for t in _TIMES if t.en == en)


def say(plan, lang):
    return realise(plan, lang)


def test_case_gender_and_weak_nouns():
    plan = SentencePlan(Clause(NP(noun("girl")), verb("see"), obj=NP(noun("boy"), det="indef")))
    assert say(plan, "en") == ["The girl sees a boy."]
    assert say(plan, "de") == ["Das Mädchen sieht einen Jungen."]  # accusative masculine, weak noun -n
    assert say(plan, "fr") == ["La fille voit un garçon."]


def test_adjective_agreement_all_three_declensions():
    big_dog = NP(noun("dog"), det="def", adj=adj("big"))
    plan = SentencePlan(Clause(NP(noun("woman"), det="indef", adj=adj("old")), verb("feed"), obj=big_dog,
                               pp=(prep("with"), NP(noun("child"), det="num", count=3, adj=adj("happy")))))
    assert say(plan, "en") == ["An old woman feeds the big dog with three happy children."]
    # mixed (eine alte), weak accusative (den großen), strong dative plural with -n (drei glücklichen Kindern)
    assert say(plan, "de") == ["Eine alte Frau füttert den großen Hund mit drei glücklichen Kindern."]
    # vieille before the noun, heureux after; elision none here
    assert say(plan, "fr") == ["Une vieille femme nourrit le grand chien avec trois enfants heureux."]


def test_french_elision_contraction_and_vowel_forms():
    plan = SentencePlan(Clause(NP(noun("man"), adj=adj("old")), verb("wait"),
                               pp=(prep("next to"), NP(noun("hotel"), det="def"))))
    assert say(plan, "fr") == ["Le vieil homme attend à côté de l'hôtel."]
    plan = SentencePlan(Clause(NP(noun("man")), verb("go"), pp=(prep("to"), NP(noun("park")))))
    assert say(plan, "fr") == ["L'homme va au parc."]
    assert say(plan, "de") == ["Der Mann geht zum Park."]  # zu dem -> zum


def test_german_verb_second_after_fronted_time_and_variants():
    plan = SentencePlan(Clause(NP(noun("man")), verb("read"), obj=NP(noun("book"), det="indef"),
                               time=time("today"), time_front=True))
    assert say(plan, "en") == ["Today, the man reads a book."]
    assert say(plan, "de") == ["Heute liest der Mann ein Buch.", "Der Mann liest heute ein Buch."]
    assert say(plan, "fr") == ["Aujourd'hui, l'homme lit un livre.", "L'homme lit un livre aujourd'hui."]


def test_past_tense_with_haben_sein_and_etre_agreement():
    plan = SentencePlan(Clause(NP(noun("woman")), verb("go"), pp=(prep("to"), NP(noun("station"))), past=True))
    assert say(plan, "en") == ["The woman went to the station."]
    assert say(plan, "de") == ["Die Frau ist zum Bahnhof gegangen."]  # sein + participle at the end
    assert say(plan, "fr") == ["La femme est allée à la gare."]  # être: participle agrees (allée)
    plan = SentencePlan(Clause(NP(noun("cook"), det="def", count=2), verb("eat"), obj=NP(noun("apple")), past=True))
    assert say(plan, "de") == ["Die Köche haben den Apfel gegessen."]
    assert say(plan, "fr") == ["Les cuisiniers ont mangé la pomme."]


def test_negation_kein_nicht_and_pas_de():
    plan = SentencePlan(Clause(NP(noun("child")), verb("drink"), obj=NP(noun("juice"), det="indef"), negated=True))
    assert say(plan, "en") == ["The child does not drink a juice."]
    assert say(plan, "de") == ["Das Kind trinkt keinen Saft."]
    assert say(plan, "fr") == ["L'enfant ne boit pas de jus."]
    plan = SentencePlan(Clause(NP(pronoun="I"), verb("open"), obj=NP(noun("door")), negated=True))
    assert say(plan, "de") == ["Ich öffne die Tür nicht."]
    assert say(plan, "fr") == ["Je n'ouvre pas la porte."]


def test_subordinate_clause_is_verb_final_and_relative_clause_agrees():
    rel = Clause(NP(noun("cat")), verb("sleep"), pp=(prep("on"), NP(noun("bed"))))
    main = Clause(NP(noun("cat"), rel=rel), verb("see"), obj=NP(noun("bird"), det="indef"))
    second = Clause(NP(pronoun="she"), verb("sing"), obj=NP(noun("song"), det="indef"))
    plan = SentencePlan(main, "because", second)
    assert say(plan, "en") == ["The cat that sleeps on the bed sees a bird because she sings a song."]
    assert say(plan, "de") == [
        "Die Katze, die auf dem Bett schläft, sieht einen Vogel, weil sie ein Lied singt.",
        "Die Katze, die auf dem Bett schläft, sieht einen Vogel, da sie ein Lied singt.",
    ]
    assert say(plan, "fr") == [
        "Le chat qui dort sur le lit voit un oiseau parce qu'elle chante une chanson.",
        "Le chat qui dort sur le lit voit un oiseau, car elle chante une chanson.",
    ]


def test_ambiguous_pronouns_give_several_references():
    plan = SentencePlan(Clause(NP(pronoun="you"), verb("buy"), obj=NP(noun("car"), det="indef")))
    assert say(plan, "de") == ["Du kaufst ein Auto.", "Du kaufst einen Wagen.", "Sie kaufen ein Auto.",
                               "Sie kaufen einen Wagen."]
    assert "Vous achetez une voiture." in say(plan, "fr")
    plan = SentencePlan(Clause(NP(pronoun="they"), verb("come"), pp=(prep("to"), NP(noun("school"))), past=True))
    assert say(plan, "fr") == ["Ils sont venus à l'école.", "Elles sont venues à l'école."]


@pytest.mark.parametrize(
    ("n", "en", "de", "fr"),
    [
        (2, "two", "zwei", ["deux"]),
        (17, "seventeen", "siebzehn", ["dix-sept"]),
        (21, "twenty-one", "einundzwanzig", ["vingt et un", "vingt-et-un"]),
        (71, "seventy-one", "einundsiebzig", ["soixante et onze", "soixante-et-onze", "septante et un"]),
        (80, "eighty", "achtzig", ["quatre-vingts"]),
        (92, "ninety-two", "zweiundneunzig", ["quatre-vingt-douze", "nonante-deux"]),
    ],
)
def test_numbers(n, en, de, fr):
    assert mo.en_number(n) == en
    assert mo.de_number(n) == de
    assert mo.fr_numbers(n) == fr


def test_german_present_tense_paradigms():
    forms = [mo.de_finite(verb("read"), p) for p in range(6)]
    assert forms == ["lese", "liest", "liest", "lesen", "lest", "lesen"]
    assert [mo.de_finite(verb("work"), p) for p in range(6)] == [
        "arbeite", "arbeitest", "arbeitet", "arbeiten", "arbeitet", "arbeiten"]
    assert mo.de_finite(verb("hold"), 1) == "hältst" and mo.de_finite(verb("like"), 0) == "mag"
    assert [mo.fr_finite(verb("eat"), p) for p in range(6)] == [
        "mange", "manges", "mange", "mangeons", "mangez", "mangent"]


def test_lexicon_is_several_hundred_words():
    words = {"en": set(), "de": set(), "fr": set()}
    for n in NOUNS:
        words["en"] |= {n.en_sg, n.en_pl}
        for f in n.de:
            words["de"] |= {f.sg, f.pl}
        for f in n.fr:
            words["fr"] |= {f.sg, f.pl}
    for v in VERBS:
        words["en"] |= {v.en_base, v.en_3sg, v.en_past}
        words["de"] |= {v.de_inf, v.de_3sg, v.de_participle}
        words["fr"] |= {v.fr_inf, v.fr_participle, *(v.fr_present or ())}
    for a in ADJECTIVES:
        words["en"].add(a.en)
        words["de"].add(a.de_stem)
        words["fr"] |= set(a.fr)
    assert len(NOUNS) >= 120 and len(VERBS) >= 45 and len(ADJECTIVES) >= 35
    assert all(len(w) >= 400 for w in words.values()), {k: len(v) for k, v in words.items()}


def test_generation_is_deterministic_and_lengths_grow_with_difficulty():
    means = []
    for difficulty in range(1, MAX_DIFFICULTY + 1):
        plans = [sample_plan(random.Random(f"t/{difficulty}/{i}"), difficulty) for i in range(300)]
        again = [sample_plan(random.Random(f"t/{difficulty}/{i}"), difficulty) for i in range(300)]
        assert plans == again
        means.append(sum(len(realise(p, "en")[0].split()) for p in plans) / len(plans))
    assert means == sorted(means) and means[0] < 7 and means[-1] > 18, means


def test_high_difficulty_has_clauses_and_multiple_references():
    plans = [sample_plan(random.Random(f"h/{i}"), MAX_DIFFICULTY) for i in range(200)]
    assert all(p.second is not None for p in plans)
    assert sum(p.main.subject.rel is not None for p in plans) > 40
    multi = sum(len(realise(p, "de")) > 1 for p in plans) / len(plans)
    assert multi > 0.5
    assert {f[0] for f in _FREQ} == {"often", "always", "sometimes"}
