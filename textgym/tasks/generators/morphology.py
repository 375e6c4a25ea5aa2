"""Inflection rules for the built-in translation grammar: articles, adjective endings, verbs, numbers.

German follows the standard tables (Duden, *Die Grammatik*): definite/indefinite/possessive articles by
case and gender, weak/mixed/strong adjective endings, present tense with stem-vowel changes, Perfekt
with haben/sein. French: articles, elision and contraction (le/la -> l', de le -> du, à le -> au),
pre/post-nominal adjectives with agreement, present tense and passé composé with être agreement.
"""

from __future__ import annotations

from textgym.tasks.generators.lexicon import Verb

__all__ = [
    "de_adjective",
    "de_article",
    "de_dative_plural",
    "de_finite",
    "de_number",
    "en_number",
    "fr_finite",
    "fr_join",
    "fr_numbers",
    "join_tokens",
]

# --- German -------------------------------------------------------------------------------------------

_DE_DEF = {
    "nom": {"m": "der", "f": "die", "n": "das", "pl": "die"},
    "acc": {"m": "den", "f": "die", "n": "das", "pl": "die"},
    "dat": {"m": "dem", "f": "der", "n": "dem", "pl": "den"},
}
# Endings of ein/kein/mein/unser (the plural only exists for kein and the possessives).
_DE_EIN_ENDINGS = {
    "nom": {"m": "", "f": "e", "n": "", "pl": "e"},
    "acc": {"m": "en", "f": "e", "n": "", "pl": "e"},
    "dat": {"m": "em", "f": "er", "n": "em", "pl": "en"},
}
_DE_WEAK = {
    "nom": {"m": "e", "f": "e", "n": "e", "pl": "en"},
    "acc": {"m": "en", "f": "e", "n": "e", "pl": "en"},
    "dat": {"m": "en", "f": "en", "n": "en", "pl": "en"},
}
_DE_MIXED = {
    "nom": {"m": "er", "f": "e", "n": "es", "pl": "en"},
    "acc": {"m": "en", "f": "e", "n": "es", "pl": "en"},
    "dat": {"m": "en", "f": "en", "n": "en", "pl": "en"},
}
_DE_STRONG = {
    "nom": {"m": "er", "f": "e", "n": "es", "pl": "e"},
    "acc": {"m": "en", "f": "e", "n": "es", "pl": "e"},
    "dat": {"m": "em", "f": "er", "n": "em", "pl": "en"},
}
_DE_ADJ_TABLES = {"weak": _DE_WEAK, "mixed": _DE_MIXED, "strong": _DE_STRONG}


def de_article(kind: str, case: str, slot: str) -> tuple[str | None, str]:
    """German determiner for ``kind`` (def, indef, kein, my, our, none) and the adjective declension it takes.

    ``slot`` is the gender (m, f, n) or ``pl``. Returns (article or None, declension name).
    """
    if kind == "def":
        return _DE_DEF[case][slot], "weak"
    if kind == "none" or (kind == "indef" and slot == "pl"):
        return None, "strong"
    stem = {"indef": "ein", "kein": "kein", "my": "mein", "our": "unser"}[kind]
    ending = _DE_EIN_ENDINGS[case][slot]
    return stem + ending, "mixed" if slot != "pl" else "weak"


def de_adjective(stem: str, declension: str, case: str, slot: str) -> str:
    """The attributive form of a German adjective stem."""
    return stem + _DE_ADJ_TABLES[declension][case][slot]


def de_dative_plural(plural: str) -> str:
    """Dative plural adds -n unless the plural already ends in -n or -s (Kindern, Autos, Frauen)."""
    return plural if plural.endswith(("n", "s")) else plural + "n"


_DE_HABEN = ("habe", "hast", "hat", "haben", "habt", "haben")
_DE_SEIN = ("bin", "bist", "ist", "sind", "seid", "sind")
_DE_AUX = {"haben": _DE_HABEN, "sein": _DE_SEIN}


def de_finite(verb: Verb, person: int) -> str:
    """German present-tense form for person index 0..5 (ich, du, er/sie, wir, ihr, sie/Sie)."""
    inf = verb.de_inf
    stem = inf[:-2] if inf.endswith("en") else inf[:-1]
    if person in (3, 5):
        return inf
    if person == 2:
        return verb.de_3sg
    if verb.de_inf == "mögen":  # the one modal verb in the lexicon: ich mag, ihr mögt
        return ("mag", "magst", "mag", "mögen", "mögt", "mögen")[person]
    epenthesis = stem.endswith(("t", "d")) or (stem.endswith(("n", "m")) and stem[-2] not in "aeiouälhr")
    if person == 0:
        return stem + "e"
    if person == 4:
        return stem + ("et" if epenthesis else "t")
    # du: derived from the er-form, which carries any stem-vowel change (liest, fährt, nimmt).
    if verb.de_2sg:
        return verb.de_2sg
    er_stem = verb.de_3sg[:-1]
    if er_stem.endswith(("s", "ß", "z", "x")):
        return er_stem + "t"
    return er_stem + "st"


def de_aux(aux: str, person: int) -> str:
    """Present tense of haben or sein."""
    return _DE_AUX[aux][person]


_DE_UNITS = (
    "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn "
    "sechzehn siebzehn achtzehn neunzehn"
).split()
_DE_TENS = {2: "zwanzig", 3: "dreißig", 4: "vierzig", 5: "fünfzig", 6: "sechzig", 7: "siebzig", 8: "achtzig",
            9: "neunzig"}


def de_number(n: int, attributive: bool = True) -> str:
    """German cardinal 0..99 (einundzwanzig); attributive 1 is 'ein' (um ein Uhr)."""
    if n == 1 and attributive:
        return "ein"
    if n < 20:
        return _DE_UNITS[n]
    tens, unit = divmod(n, 10)
    if unit == 0:
        return _DE_TENS[tens]
    return ("ein" if unit == 1 else _DE_UNITS[unit]) + "und" + _DE_TENS[tens]


# --- English ------------------------------------------------------------------------------------------

_EN_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_EN_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}


def en_number(n: int) -> str:
    """English cardinal 0..99 (twenty-one)."""
    if n < 20:
        return _EN_UNITS[n]
    tens, unit = divmod(n, 10)
    return _EN_TENS[tens] + (f"-{_EN_UNITS[unit]}" if unit else "")


# --- French -------------------------------------------------------------------------------------------

_FR_UNITS = (
    "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize "
    "dix-sept dix-huit dix-neuf"
).split()
_FR_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}


def _fr_number(n: int, feminine: bool, style: str) -> str:
    """One spelling of a French cardinal 0..99.

    ``style``: ``trad`` (vingt et un, soixante-dix), ``1990`` (the 1990 spelling reform: every part
    hyphenated, vingt-et-un) or ``be`` (Belgian/Swiss septante and nonante).
    """
    one = "une" if feminine else "un"
    if n == 1:
        return one
    if n < 20:
        return _FR_UNITS[n]
    tens, unit = divmod(n, 10)
    et = "-et-" if style == "1990" else " et "
    if style == "be" and tens in (7, 9):
        word = "septante" if tens == 7 else "nonante"
        return word + (et + one if unit == 1 else f"-{_FR_UNITS[unit]}" if unit else "")
    if tens in (7, 9):  # soixante-dix, quatre-vingt-dix: 60/80 plus 10..19
        base = "soixante" if tens == 7 else "quatre-vingt"
        rest = 10 + unit
        if tens == 7 and unit == 1:
            return base + et + "onze"
        return f"{base}-{_FR_UNITS[rest]}"
    if tens == 8:
        return "quatre-vingts" if unit == 0 else "quatre-vingt-" + (one if unit == 1 else _FR_UNITS[unit])
    word = _FR_TENS[tens]
    if unit == 0:
        return word
    if unit == 1:
        return word + et + one
    return f"{word}-{_FR_UNITS[unit]}"


def fr_numbers(n: int, feminine: bool = False) -> list[str]:
    """All accepted spellings of a French cardinal, traditional first, without duplicates."""
    out: list[str] = []
    for style in ("trad", "1990", "be"):
        word = _fr_number(n, feminine, style)
        if word not in out:
            out.append(word)
    return out


_FR_AVOIR = ("ai", "as", "a", "avons", "avez", "ont")
_FR_ETRE = ("suis", "es", "est", "sommes", "êtes", "sont")
_FR_AUX = {"avoir": _FR_AVOIR, "être": _FR_ETRE}
_FR_ER_ENDINGS = ("e", "es", "e", "ons", "ez", "ent")


def fr_finite(verb: Verb, person: int) -> str:
    """French present-tense form for person index 0..5."""
    if verb.fr_present is not None:
        return verb.fr_present[person]
    stem = verb.fr_inf[:-2]
    ending = _FR_ER_ENDINGS[person]
    if person == 3 and stem.endswith("g"):  # nous mangeons, nageons, voyageons
        return stem + "e" + ending
    return stem + ending


def fr_aux(aux: str, person: int) -> str:
    """Present tense of avoir or être."""
    return _FR_AUX[aux][person]


_FR_VOWEL_START = tuple("aeiouyàâéèêëîïôœùûh")
# Numerals that block elision (le huit, de onze) and the h aspiré words of the lexicon.
_FR_NO_ELISION = ("huit", "onze")
_FR_ELIDE = {
    "le": "l'", "la": "l'", "je": "j'", "ne": "n'", "de": "d'", "que": "qu'", "lorsque": "lorsqu'", "me": "m'",
    "te": "t'", "se": "s'",
}
_FR_CONTRACT = {("de", "le"): "du", ("de", "les"): "des", ("à", "le"): "au", ("à", "les"): "aux"}


def fr_join(tokens: list[str]) -> list[str]:
    """Apply French contraction (de le -> du) then elision (le homme -> l'homme) to a token list."""
    merged: list[str] = []
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        # "le" before a vowel elides (de l'hôtel) instead of contracting (du parc).
        if merged and (merged[-1], token) in _FR_CONTRACT and not (token == "le" and _fr_elides(following)):
            merged[-1] = _FR_CONTRACT[(merged[-1], token)]
        else:
            merged.append(token)
    out: list[str] = []
    for token in merged:
        if out and out[-1] in _FR_ELIDE and _fr_elides(token):
            out[-1] = _FR_ELIDE[out[-1]] + token
        else:
            out.append(token)
    return out


def _fr_elides(word: str) -> bool:
    """Whether a preceding le/de/que/... elides before ``word``."""
    return word[:1].lower().startswith(_FR_VOWEL_START) and not word.startswith(_FR_NO_ELISION)


_DE_CONTRACT = {
    ("in", "dem"): "im", ("bei", "dem"): "beim", ("in", "das"): "ins", ("an", "dem"): "am",
    ("von", "dem"): "vom", ("zu", "dem"): "zum", ("zu", "der"): "zur",
}


def de_join(tokens: list[str]) -> list[str]:
    """Apply the obligatory German preposition-article contractions (in dem -> im)."""
    out: list[str] = []
    for token in tokens:
        if out and (out[-1], token) in _DE_CONTRACT:
            out[-1] = _DE_CONTRACT[(out[-1], token)]
        else:
            out.append(token)
    return out


def join_tokens(tokens: list[str]) -> str:
    """Join word tokens into a sentence: no space before punctuation, no doubled or trailing commas."""
    cleaned: list[str] = []
    for token in tokens:
        if token == "," and (not cleaned or cleaned[-1] == ","):
            continue
        if token == "." and cleaned and cleaned[-1] == ",":
            cleaned.pop()
        cleaned.append(token)
    text = ""
    for token in cleaned:
        if not text or token in {",", "."} or text.endswith("'"):
            text += token
        else:
            text += " " + token
    return text[:1].upper() + text[1:]
