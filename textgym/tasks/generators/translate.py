"""Procedural English/German/French parallel corpus: a sentence planner and three realisers.

A :class:`SentencePlan` is sampled from the lexicon under a difficulty level, then realised in each
language. English yields one sentence; German and French yield every accepted variant the grammar
allows (up to :data:`MAX_REFERENCES`), canonical first: synonyms (Auto/Wagen), the ambiguous English
"you" and "they" (du/Sie, tu/vous, ils/elles), fronted or mid-field time adverbials, number spellings
(soixante-dix/septante), conjunction choices (parce que/car) and so on.

Difficulty levels (sentence length grows from ~4 to ~20+ words):

1. subject, verb, object or place; present tense; third person.
2. + adjectives with agreement, pronoun subjects, plurals and numbers up to 12, possessives, prepositions.
3. + time adverbials (German verb-second inversion), past tense (Perfekt / passé composé, être agreement),
   negation (kein / nicht, ne ... pas de), frequency adverbs; numbers up to 20.
4. + a second clause (subordinate: verb-final in German; or coordinated), relative clauses; numbers to 99.
5. always two clauses, more relative clauses, adjectives and prepositional phrases.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from textgym.tasks.generators import morphology as mo
from textgym.tasks.generators.lexicon import ADJECTIVES, NOUNS, VERBS, Adjective, Noun, Verb

__all__ = ["LANGUAGES", "MAX_DIFFICULTY", "MAX_REFERENCES", "SentencePlan", "realise", "sample_plan"]

LANGUAGES = ("en", "de", "fr")
MAX_DIFFICULTY = 5
MAX_REFERENCES = 4

# (probabilities of each feature, largest number) per difficulty level.
_LEVELS: dict[int, dict[str, float]] = {
    1: dict(adj=0.0, pron=0.0, plural=0.0, num=0.0, poss=0.0, pp=0.3, time=0.0, freq=0.0, past=0.0, neg=0.0,
            second=0.0, rel=0.0, max_num=1),
    2: dict(adj=0.3, pron=0.2, plural=0.25, num=0.5, poss=0.1, pp=0.45, time=0.0, freq=0.0, past=0.0, neg=0.0,
            second=0.0, rel=0.0, max_num=12),
    3: dict(adj=0.35, pron=0.2, plural=0.25, num=0.5, poss=0.15, pp=0.5, time=0.4, freq=0.15, past=0.4, neg=0.25,
            second=0.0, rel=0.0, max_num=20),
    4: dict(adj=0.4, pron=0.2, plural=0.25, num=0.5, poss=0.15, pp=0.55, time=0.4, freq=0.15, past=0.4, neg=0.25,
            second=0.6, rel=0.25, max_num=99),
    5: dict(adj=0.5, pron=0.15, plural=0.25, num=0.5, poss=0.15, pp=0.7, time=0.5, freq=0.15, past=0.4, neg=0.25,
            second=1.0, rel=0.5, max_num=99),
}

_ANIMAL_VERBS = frozenset("eat drink see find carry like watch hear sleep play run swim go come stay wait".split())
_MOTION_VERBS = frozenset({"go", "come", "travel", "run"})
_NEEDS_PLACE = frozenset({"go", "come", "stay", "travel"})


@dataclass(frozen=True)
class Prep:
    """A preposition: English form, German form and case, French tokens, accepted noun tags, kind."""

    en: str
    de: str
    case: str
    fr: tuple[str, ...]
    tags: frozenset[str]
    kind: str


_PREPS = (
    Prep("in", "in", "dat", ("dans",), frozenset({"place"}), "loc"),
    Prep("near", "bei", "dat", ("près", "de"), frozenset({"landmark"}), "loc"),
    Prep("next to", "neben", "dat", ("à", "côté", "de"), frozenset({"landmark", "furniture", "vehicle"}), "loc"),
    Prep("behind", "hinter", "dat", ("derrière",), frozenset({"landmark", "structure", "vehicle"}), "loc"),
    Prep("in front of", "vor", "dat", ("devant",), frozenset({"landmark", "structure"}), "loc"),
    Prep("under", "unter", "dat", ("sous",), frozenset({"surface"}), "loc"),
    Prep("on", "auf", "dat", ("sur",), frozenset({"surface"}), "loc"),
    Prep("with", "mit", "dat", ("avec",), frozenset({"person", "animal"}), "with"),
    Prep("without", "ohne", "acc", ("sans",), frozenset({"person", "animal"}), "with"),
    Prep("for", "für", "acc", ("pour",), frozenset({"person", "animal"}), "with"),
    Prep("to", "zu", "dat", ("à",), frozenset({"place", "landmark"}), "dir"),
)


@dataclass(frozen=True)
class TimeExpr:
    """A time adverbial with its accepted German and French forms and the tense it requires."""

    en: str
    de: tuple[str, ...]
    fr: tuple[str, ...]
    tense: str | None = None


_DAYS = [("Monday", "Montag", "lundi"), ("Tuesday", "Dienstag", "mardi"), ("Wednesday", "Mittwoch", "mercredi"),
         ("Thursday", "Donnerstag", "jeudi"), ("Friday", "Freitag", "vendredi"), ("Saturday", "Samstag", "samedi"),
         ("Sunday", "Sonntag", "dimanche")]
_TIMES = (
    TimeExpr("today", ("heute",), ("aujourd'hui",)),
    TimeExpr("yesterday", ("gestern",), ("hier",), "past"),
    TimeExpr("now", ("jetzt",), ("maintenant",), "present"),
    TimeExpr("every day", ("jeden Tag", "täglich"), ("chaque jour", "tous les jours"), "present"),
    TimeExpr("in the morning", ("am Morgen", "morgens"), ("le matin",)),
    TimeExpr("in the evening", ("am Abend", "abends"), ("le soir",)),
    TimeExpr("last week", ("letzte Woche",), ("la semaine dernière",), "past"),
    *(TimeExpr(f"on {en}", (f"am {de}",), (fr,)) for en, de, fr in _DAYS),
    *(TimeExpr(f"at {mo.en_number(h)} o'clock", (f"um {mo.de_number(h)} Uhr",),
               tuple(f"à {n} heure{'s' if h > 1 else ''}" for n in mo.fr_numbers(h, feminine=True)))
      for h in range(1, 13)),
)
# Frequency adverbs: English before the verb, German in the middle field, French after the finite verb.
_FREQ = (("often", ("oft",), ("souvent",)), ("always", ("immer",), ("toujours",)),
         ("sometimes", ("manchmal",), ("parfois", "quelquefois")))
# (English, German with its verb order, French variants); coordinators keep German verb-second order.
_CONJ = {
    "because": (("weil", "sub"), ("da", "sub")),
    "when": (("wenn", "sub"),),
    "while": (("während", "sub"),),
    "and": (("und", "main"),),
    "but": (("aber", "main"),),
}
_FR_CONJ = {"because": (("parce", "que"), (",", "car")), "when": (("quand",), ("lorsque",)),
            "while": (("pendant", "que"),), "and": (("et",),), "but": ((",", "mais"),)}
_EN_CONJ = {"because": ("because",), "when": ("when",), "while": ("while",), "and": ("and",), "but": (",", "but")}

# Pronoun subjects: English form, whether English takes the -s form, German (form, person) and French
# (form, person, gender) alternatives; person indexes 0..5 = 1sg, 2sg, 3sg, 1pl, 2pl, 3pl.
_PRONOUNS = {
    "I": (False, (("ich", 0),), (("je", 0, "m"), ("je", 0, "f"))),
    "you": (False, (("du", 1), ("Sie", 5)), (("tu", 1, "m"), ("vous", 4, "m"), ("tu", 1, "f"))),
    "he": (True, (("er", 2),), (("il", 2, "m"),)),
    "she": (True, (("sie", 2),), (("elle", 2, "f"),)),
    "we": (False, (("wir", 3),), (("nous", 3, "m"), ("nous", 3, "f"))),
    "they": (False, (("sie", 5),), (("ils", 5, "m"), ("elles", 5, "f"))),
}


@dataclass(frozen=True)
class NP:
    """A noun phrase plan: a pronoun, or determiner + optional number/adjective + noun (+ relative clause)."""

    noun: Noun | None = None
    pronoun: str | None = None
    det: str = "def"  # def, indef, my, our, num
    count: int = 1
    adj: Adjective | None = None
    rel: Clause | None = None

    @property
    def plural(self) -> bool:
        """Whether the phrase is grammatically plural."""
        return self.count > 1 or (self.pronoun in {"we", "they"})


@dataclass(frozen=True)
class Clause:
    """A clause plan."""

    subject: NP
    verb: Verb
    obj: NP | None = None
    pp: tuple[Prep, NP] | None = None
    time: TimeExpr | None = None
    time_front: bool = False
    freq: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None
    past: bool = False
    negated: bool = False


@dataclass(frozen=True)
class SentencePlan:
    """A whole sentence: a main clause and an optional conjunction and second clause."""

    main: Clause
    conj: str | None = None
    second: Clause | None = None


# --- planning -------------------------------------------------------------------------------------------


class _Planner:
    def __init__(self, rng: random.Random, difficulty: int) -> None:
        self.rng = rng
        self.p = _LEVELS[difficulty]

    def chance(self, key: str) -> bool:
        return self.rng.random() < self.p[key]

    def noun_phrase(self, tags: frozenset[str], allow_rel: bool = False, det_choices: tuple[str, ...] = ()) -> NP:
        noun = self.rng.choice([n for n in NOUNS if n.tags & tags])
        if noun.mass:
            return NP(noun=noun, det="def")
        plural = self.chance("plural")
        det = self.rng.choice(det_choices or ("def", "indef"))
        if self.chance("poss"):
            det = self.rng.choice(("my", "our"))
        count = 1
        if plural:
            if det == "indef" and self.chance("num") and self.p["max_num"] > 1:
                det, count = "num", self.rng.randint(2, int(self.p["max_num"]))
            else:
                count = 2 if self.p["max_num"] > 1 else 1
        adj = None
        if self.chance("adj"):
            adj_tags = {"all", *noun.tags}
            if noun.tags & {"person", "animal"}:
                adj_tags.add("animate")
            elif not noun.tags & {"food", "drink", "place", "landmark"}:
                adj_tags.add("thing")
            options = [a for a in ADJECTIVES if a.tags & adj_tags]
            adj = self.rng.choice(options) if options else None
        rel = self.clause(NP(noun=noun), relative=True) if allow_rel and self.chance("rel") else None
        return NP(noun=noun, det=det, count=count, adj=adj, rel=rel)

    def subject(self, allow_rel: bool) -> NP:
        if self.chance("pron"):
            return NP(pronoun=self.rng.choice(tuple(_PRONOUNS)))
        return self.noun_phrase(frozenset({"person", "animal"}), allow_rel=allow_rel)

    def clause(self, subject: NP | None = None, relative: bool = False, past: bool | None = None) -> Clause:
        subject = subject or self.subject(allow_rel=True)
        animal = subject.noun is not None and "animal" in subject.noun.tags
        verbs = [v for v in VERBS if not animal or v.en_base in _ANIMAL_VERBS]
        verb = self.rng.choice(verbs)
        obj = self.noun_phrase(verb.objects) if verb.transitive else None
        pp = None
        if verb.transitive:
            want_pp = not relative and self.chance("pp")
        else:
            needs_pp = relative or verb.en_base in _NEEDS_PLACE
            want_pp = needs_pp or self.rng.random() < max(self.p["pp"], 0.6)
        if want_pp:
            kinds = {"dir"} if verb.en_base in _MOTION_VERBS else {"loc", "with"}
            prep = self.rng.choice([p for p in _PREPS if p.kind in kinds])
            pp = (prep, self.noun_phrase(prep.tags, det_choices=("def", "def", "indef")))
        if relative:
            return Clause(subject=subject, verb=verb, obj=obj, pp=pp)
        past = self.chance("past") if past is None else past
        time = freq = None
        if self.chance("time"):
            time = self.rng.choice([t for t in _TIMES if t.tense in (None, "past" if past else "present")])
        elif self.chance("freq"):
            freq = self.rng.choice(_FREQ)
        negated = freq is None and self.chance("neg") and (obj is None or obj.det != "num")
        return Clause(subject, verb, obj, pp, time, self.rng.random() < 0.5, freq, past, negated)


def sample_plan(rng: random.Random, difficulty: int) -> SentencePlan:
    """Sample one sentence plan at ``difficulty`` (1..MAX_DIFFICULTY)."""
    planner = _Planner(rng, difficulty)
    main = planner.clause()
    if not planner.chance("second"):
        return SentencePlan(main)
    conj = rng.choice(tuple(_CONJ))
    second = planner.clause(past=main.past)
    return SentencePlan(main, conj, second)


# --- realisation ----------------------------------------------------------------------------------------

Alts = list[list[str]]


def _product(*parts: Alts) -> Alts:
    """Concatenate alternatives of each part; the first result is the all-canonical one."""
    out = [list(itertools.chain.from_iterable(combo)) for combo in itertools.islice(itertools.product(*parts), 64)]
    return out


def _en_np(np: NP) -> list[str]:
    if np.pronoun:
        return [np.pronoun]
    assert np.noun is not None
    words = [np.noun.en_pl if np.plural else np.noun.en_sg]
    if np.adj:
        words.insert(0, np.adj.en)
    if np.det == "num":
        words.insert(0, mo.en_number(np.count))
    det = {"def": "the", "my": "my", "our": "our"}.get(np.det)
    if np.det == "indef" and not np.plural:
        det = "an" if words[0][0] in "aeiou" else "a"
    tokens = ([det] if det else []) + " ".join(words).split()
    if np.rel:
        who = "who" if "person" in np.noun.tags else "that"
        tokens += [who, *_en_clause(np.rel, subject_tokens=[], third_singular=not np.plural)]
    return tokens


def _en_verb(c: Clause, third_singular: bool) -> list[str]:
    if c.negated:
        aux = "did" if c.past else ("does" if third_singular else "do")
        return [aux, "not", c.verb.en_base]
    if c.past:
        return [c.verb.en_past]
    return [c.verb.en_3sg if third_singular else c.verb.en_base]


def _en_clause(c: Clause, subject_tokens: list[str] | None = None, third_singular: bool | None = None,
               allow_front: bool = False) -> list[str]:
    if subject_tokens is None:
        subject_tokens = _en_np(c.subject)
        pronoun = c.subject.pronoun
        third_singular = _PRONOUNS[pronoun][0] if pronoun else not c.subject.plural
    tokens = list(subject_tokens)
    if c.freq:
        tokens.append(c.freq[0])
    tokens += _en_verb(c, bool(third_singular))
    if c.obj:
        tokens += _en_np(c.obj)
    if c.pp:
        tokens += [c.pp[0].en, *_en_np(c.pp[1])]
    if c.time and allow_front and c.time_front:
        return [c.time.en, ",", *tokens]
    if c.time:
        tokens.append(c.time.en)
    return tokens


def _realise_en(plan: SentencePlan) -> Alts:
    tokens = _en_clause(plan.main, allow_front=True)
    if plan.conj and plan.second:
        tokens += [*_EN_CONJ[plan.conj], *_en_clause(plan.second, allow_front=plan.conj in {"and", "but"})]
    return [[*tokens, "."]]


# German -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Agr:
    person: int
    gender: str
    plural: bool


def _de_np(np: NP, case: str, negate_indef: bool = False) -> list[tuple[list[str], _Agr]]:
    if np.pronoun:
        return [([form], _Agr(person, "m", np.plural)) for form, person in _PRONOUNS[np.pronoun][1]]
    assert np.noun is not None
    out = []
    for forms in np.noun.de:
        slot = "pl" if np.plural else forms.gender
        kind = "none" if np.det == "num" else np.det
        if negate_indef and np.det == "indef":
            kind = "kein"
        article, declension = mo.de_article(kind, case, slot)
        if np.plural:
            noun = mo.de_dative_plural(forms.pl) if case == "dat" else forms.pl
        else:
            noun = forms.oblique if forms.oblique and case != "nom" else forms.sg
        tokens = [article] if article else []
        if np.det == "num":
            tokens.append(mo.de_number(np.count))
        if np.adj:
            tokens.append(mo.de_adjective(np.adj.de_stem, declension, case, slot))
        tokens.append(noun)
        if np.rel:
            pronoun = mo.de_article("def", "nom", slot)[0]
            assert pronoun is not None
            for rel in _de_clause(np.rel, "rel", subject_alts=[([pronoun], _Agr(2 if not np.plural else 5, slot,
                                                                                np.plural))]):
                out.append(([*tokens, ",", *rel, ","], _Agr(2 if not np.plural else 5, forms.gender, np.plural)))
            continue
        out.append((tokens, _Agr(2 if not np.plural else 5, forms.gender, np.plural)))
    return out


def _de_middle(c: Clause, with_time: bool) -> Alts:
    """The German middle field: time, frequency, object, negation, prepositional phrase."""
    parts: list[Alts] = []
    if c.time and with_time:
        parts.append([[w for w in t.split()] for t in c.time.de])
    if c.freq:
        parts.append([[w] for w in c.freq[1]])
    kein = c.negated and c.obj is not None and c.obj.det == "indef"
    if c.obj:
        parts.append([t for t, _ in _de_np(c.obj, "acc", negate_indef=kein)])
    if c.negated and not kein:
        parts.append([["nicht"]])
    if c.pp:
        prep, np = c.pp
        parts.append([[prep.de, *t] for t, _ in _de_np(np, prep.case)])
    return _product(*parts) if parts else [[]]


def _de_clause(c: Clause, order: str, subject_alts: list[tuple[list[str], _Agr]] | None = None,
               front: bool | None = None) -> Alts:
    """German clause in ``order``: ``main`` (verb second), ``sub`` and ``rel`` (verb final)."""
    subject_alts = subject_alts or _de_np(c.subject, "nom")
    out: Alts = []
    for subject, agr in subject_alts:
        if c.past:
            finite, participle = mo.de_aux(c.verb.de_aux, agr.person), [c.verb.de_participle]
        else:
            finite, participle = mo.de_finite(c.verb, agr.person), []
        if order != "main":
            for middle in _de_middle(c, with_time=True):
                out.append([*subject, *middle, *participle, finite])
            continue
        fronts = [c.time_front, not c.time_front] if c.time and front is None else [bool(c.time and front)]
        for fronted in fronts:
            for middle in _de_middle(c, with_time=not fronted):
                if fronted:
                    assert c.time is not None
                    for t in c.time.de:
                        out.append([*t.split(), finite, *subject, *middle, *participle])
                else:
                    out.append([*subject, finite, *middle, *participle])
    return out


def _realise_de(plan: SentencePlan) -> Alts:
    main = _de_clause(plan.main, "main")
    if not (plan.conj and plan.second):
        return [mo.de_join([*t, "."]) for t in main]
    conj_alts: Alts = []
    for word, order in _CONJ[plan.conj]:
        if word == "wenn" and plan.second.past:
            word = "als"  # one-off event in the past: als, not wenn
        comma = [] if word == "und" else [","]
        conj_alts += [[*comma, word, *clause] for clause in _de_clause(plan.second, order, front=False)]
    return [mo.de_join([*t, "."]) for t in _product(main, conj_alts)]


# French -------------------------------------------------------------------------------------------------


def _fr_adjective(adj: Adjective, gender: str, plural: bool, next_word: str) -> str:
    form = adj.fr[(2 if plural else 0) + (gender == "f")]
    if adj.fr_ms_vowel and gender == "m" and not plural and next_word[:1] in "aeiouyéèêh":
        return adj.fr_ms_vowel
    return form


def _fr_np(np: NP, negate_indef: bool = False) -> list[tuple[list[str], _Agr]]:
    if np.pronoun:
        return [([form], _Agr(person, gender, np.plural)) for form, person, gender in _PRONOUNS[np.pronoun][2]]
    assert np.noun is not None
    out = []
    for forms in np.noun.fr:
        g, pl = forms.gender, np.plural
        noun = (forms.pl if pl else forms.sg).split()
        core_alts: Alts = [noun]
        if np.adj:
            adj = _fr_adjective(np.adj, g, pl, noun[0])
            core_alts = [[adj, *noun]] if np.adj.fr_prenominal else [[*noun, adj]]
        pre_adj = bool(np.adj and np.adj.fr_prenominal)
        first = core_alts[0][0]
        dets: Alts
        if np.det == "def":
            dets = [["les" if pl else ("la" if g == "f" else "le")]]
        elif np.det == "indef" and negate_indef:
            dets = [["de"]]
        elif np.det == "indef":
            dets = ([["de"], ["des"]] if pre_adj else [["des"]]) if pl else [["une" if g == "f" else "un"]]
        elif np.det == "num":
            dets = [n.split() for n in mo.fr_numbers(np.count, feminine=g == "f")]
        elif np.det == "my":
            vowel = first[:1] in "aeiouyéèêh"
            dets = [["mes" if pl else ("ma" if g == "f" and not vowel else "mon")]]
        else:
            dets = [["nos" if pl else "notre"]]
        agr = _Agr(2 if not pl else 5, g, pl)
        rels: Alts = [[]]
        if np.rel:
            rels = [["qui", *r] for r in _fr_clause(np.rel, [(["qui"], agr)], relative=True)]
        out += [(t, agr) for t in _product(dets, core_alts, rels)]
    return out


def _fr_clause(c: Clause, subject_alts: list[tuple[list[str], _Agr]] | None = None, relative: bool = False,
               front: bool | None = None) -> Alts:
    subject_alts = subject_alts or _fr_np(c.subject)
    out: Alts = []
    kein = c.negated and c.obj is not None and c.obj.det == "indef"
    rest_parts: list[Alts] = []
    if c.obj:
        rest_parts.append([t for t, _ in _fr_np(c.obj, negate_indef=kein)])
    if c.pp:
        prep, np = c.pp
        rest_parts.append([[*prep.fr, *t] for t, _ in _fr_np(np)])
    rests = _product(*rest_parts) if rest_parts else [[]]
    for subject, agr in subject_alts:
        subject = [] if relative else subject
        if c.past:
            finite = mo.fr_aux(c.verb.fr_aux, agr.person)
            participle = c.verb.fr_participle
            if c.verb.fr_aux == "être":
                participle += ("e" if agr.gender == "f" else "") + ("s" if agr.plural else "")
            tail = [participle]
        else:
            finite, tail = mo.fr_finite(c.verb, agr.person), []
        verb = ["ne", finite, "pas"] if c.negated else [finite]
        freqs: Alts = [[f] for f in c.freq[2]] if c.freq else [[]]
        for freq, rest in itertools.product(freqs, rests):
            body = [*subject, *verb, *freq, *tail, *rest]
            if not c.time:
                out.append(body)
                continue
            fronts = [c.time_front, not c.time_front] if front is None else [front]
            for fronted, t in itertools.product(fronts, c.time.fr):
                out.append([*t.split(), ",", *body] if fronted else [*body, *t.split()])
    return out


def _realise_fr(plan: SentencePlan) -> Alts:
    main = _fr_clause(plan.main)
    if plan.conj and plan.second:
        second = _fr_clause(plan.second, front=False if plan.conj not in {"and", "but"} else None)
        conj_alts = [list(c) for c in _FR_CONJ[plan.conj]]
        main = _product(main, conj_alts, second)
    return [mo.fr_join([*t, "."]) for t in main]


_REALISERS = {"en": _realise_en, "de": _realise_de, "fr": _realise_fr}


def realise(plan: SentencePlan, lang: str, max_variants: int = MAX_REFERENCES) -> list[str]:
    """Every accepted sentence for ``plan`` in ``lang``, canonical first, at most ``max_variants``."""
    out: list[str] = []
    for tokens in _REALISERS[lang](plan):
        text = mo.join_tokens(tokens)
        if text not in out:
            out.append(text)
            if len(out) == max_variants:
                break
    return out
