"""Procedural function-writing problems: arithmetic, strings, lists and conditionals, with generated tests.

Each family is a docstring template, a signature, a reference body and an input sampler. A problem fixes the
family's constants (``k``, ``a``, ...), renders the HumanEval-style prompt (signature + docstring + one
example), and computes the expected outputs of its tests by running the reference body (our own code, in
this process). The reference therefore passes every test by construction.

Difficulty 1: one-line arithmetic and string functions. 2: filters, maps and counts over lists and strings.
3: loops and conditionals with several cases (FizzBuzz variants, running sums, Caesar shifts, ...).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FAMILIES", "CodeProblem", "sample_problem"]

WORDS = ("apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "sugar", "eagle", "ocean", "maple", "north")


def _ints(rng: random.Random) -> list[int]:
    return [rng.randint(-9, 20) for _ in range(rng.randint(0, 7))]


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS)


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice((*WORDS, "a", "to", "is")) for _ in range(rng.randint(1, 6)))


def _text(rng: random.Random) -> str:
    return "".join(rng.choice("abcdeiouxyz ") for _ in range(rng.randint(0, 12)))


@dataclass(frozen=True)
class Family:
    """A problem family: ``consts`` samples the constants, ``args`` one test's arguments."""

    name: str
    level: int
    signature: str
    doc: str
    body: str
    consts: Callable[[random.Random], dict[str, Any]]
    args: Callable[[random.Random], tuple[Any, ...]]


FAMILIES = (
    Family("add_constant", 1, "x", "Return x plus {k}.", "return x + {k}",
           lambda r: {"k": r.randint(1, 50)}, lambda r: (r.randint(-100, 100),)),
    Family("scale_and_shift", 1, "x", "Return x multiplied by {a}, plus {b}.", "return x * {a} + {b}",
           lambda r: {"a": r.randint(2, 9), "b": r.randint(-20, 20)}, lambda r: (r.randint(-50, 50),)),
    Family("is_multiple", 1, "n", "Return True if n is divisible by {k}, otherwise False.", "return n % {k} == 0",
           lambda r: {"k": r.randint(2, 9)}, lambda r: (r.randint(-30, 60),)),
    Family("repeat_word", 1, "s", "Return the string s repeated {n} times, separated by '{sep}'.",
           "return '{sep}'.join([s] * {n})", lambda r: {"n": r.randint(2, 4), "sep": r.choice("-+/ ")},
           lambda r: (_word(r),)),
    Family("prefix", 1, "s", "Return the first {n} characters of s (all of s if it is shorter).", "return s[:{n}]",
           lambda r: {"n": r.randint(1, 6)}, lambda r: (_text(r),)),
    Family("shout", 1, "s", "Return s in upper case followed by {n} exclamation marks.",
           "return s.upper() + '!' * {n}", lambda r: {"n": r.randint(1, 3)}, lambda r: (_sentence(r),)),
    Family("distance", 1, "a, b", "Return the absolute difference between a and b, times {k}.",
           "return abs(a - b) * {k}", lambda r: {"k": r.randint(1, 5)},
           lambda r: (r.randint(-40, 40), r.randint(-40, 40))),
    Family("sum_above", 2, "xs", "Return the sum of the numbers in xs that are greater than {k}.",
           "return sum(x for x in xs if x > {k})", lambda r: {"k": r.randint(-3, 10)}, lambda r: (_ints(r),)),
    Family("count_value", 2, "xs", "Return how many elements of xs are equal to {k}.", "return xs.count({k})",
           lambda r: {"k": r.randint(0, 4)}, lambda r: ([r.randint(0, 4) for _ in range(r.randint(0, 8))],)),
    Family("scale_list", 2, "xs", "Return a new list with every element of xs multiplied by {k}.",
           "return [x * {k} for x in xs]", lambda r: {"k": r.randint(-3, 5)}, lambda r: (_ints(r),)),
    Family("keep_parity", 2, "xs", "Return the {which} numbers of xs, in their original order.",
           "return [x for x in xs if x % 2 == {rem}]",
           lambda r: dict(zip(("which", "rem"), r.choice((("even", 0), ("odd", 1))), strict=True)),
           lambda r: (_ints(r),)),
    Family("count_letters", 2, "s", "Return the number of characters of s that are one of '{letters}'.",
           "return sum(1 for c in s if c in '{letters}')", lambda r: {"letters": "".join(r.sample("aeiouxyz", 3))},
           lambda r: (_text(r),)),
    Family("digit_sum", 2, "n", "Return the sum of the decimal digits of the non-negative integer n, plus {k}.",
           "return sum(int(d) for d in str(n)) + {k}", lambda r: {"k": r.randint(0, 9)},
           lambda r: (r.randint(0, 99999),)),
    Family("longest_word", 2, "s",
           "Return the longest word of s (the first one on ties), or '{empty}' if s has none.",
           "words = s.split()\n    return max(words, key=len) if words else '{empty}'",
           lambda r: {"empty": r.choice(("none", "", "?"))}, lambda r: (_sentence(r) if r.random() < 0.8 else "",)),
    Family("fizz_word", 3, "n",
           "Return '{w1}' if n is divisible by {a}, '{w2}' if by {b}, '{w1}{w2}' if by both, else str(n).",
           "if n % {a} == 0 and n % {b} == 0:\n        return '{w1}{w2}'\n    if n % {a} == 0:\n        return '{w1}'\n"
           "    if n % {b} == 0:\n        return '{w2}'\n    return str(n)",
           lambda r: {"a": r.choice((2, 3)), "b": r.choice((5, 7)), "w1": r.choice(("Fizz", "Ping")),
                      "w2": r.choice(("Buzz", "Pong"))}, lambda r: (r.randint(1, 60),)),
    Family("running_total", 3, "xs", "Return the running totals of xs, starting from {start}.",
           "total = {start}\n    out = []\n    for x in xs:\n        total += x\n        out.append(total)\n"
           "    return out", lambda r: {"start": r.randint(0, 10)}, lambda r: (_ints(r),)),
    Family("clamp_all", 3, "xs", "Return xs with every element clamped to the range [{lo}, {hi}].",
           "return [min(max(x, {lo}), {hi}) for x in xs]",
           lambda r: {"lo": r.randint(-5, 2), "hi": r.randint(5, 12)}, lambda r: (_ints(r),)),
    Family("caesar", 3, "s", "Shift every lower-case letter of s forward by {k} places in the alphabet, "
           "wrapping from z to a; leave other characters unchanged.",
           "return ''.join(chr((ord(c) - 97 + {k}) % 26 + 97) if 'a' <= c <= 'z' else c for c in s)",
           lambda r: {"k": r.randint(1, 25)}, lambda r: (_text(r),)),
    Family("collatz_steps", 3, "n", "Return how many steps the Collatz rule (n/2 if even, 3n+1 if odd) takes "
           "to reach 1 from n, plus {k}.",
           "steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += 1\n"
           "    return steps + {k}", lambda r: {"k": r.randint(0, 3)}, lambda r: (r.randint(1, 60),)),
    Family("dedupe", 3, "xs", "Return the elements of xs without repeats, keeping first occurrences, "
           "then append {k}.",
           "seen = []\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n"
           "    return seen + [{k}]",
           lambda r: {"k": r.randint(0, 9)}, lambda r: ([r.randint(0, 5) for _ in range(r.randint(0, 8))],)),
    Family("second_largest", 3, "xs", "Return the second largest distinct value of xs, or {default} if there "
           "is none.", "values = sorted(set(xs))\n    return values[-2] if len(values) > 1 else {default}",
           lambda r: {"default": r.choice((None, -1, 0))}, lambda r: (_ints(r),)),
)


@dataclass(frozen=True)
class CodeProblem:
    """A generated problem: prompt (signature + docstring), reference body, tests as (call, expected repr)."""

    name: str
    prompt: str
    body: str
    tests: tuple[tuple[str, str], ...]


def sample_problem(rng: random.Random, difficulty: int, num_tests: int = 5) -> CodeProblem:
    """Sample a problem from the families of level <= ``difficulty`` (1..3)."""
    family = rng.choice([f for f in FAMILIES if f.level <= difficulty])
    consts = family.consts(rng)
    doc = family.doc.format(**consts)
    body = "    " + family.body.format(**consts) + "\n"
    namespace: dict[str, Any] = {}
    exec(f"def {family.name}({family.signature}):\n{body}", namespace)  # our own reference code, not a response
    function = namespace[family.name]
    calls: list[tuple[str, str]] = []
    while len(calls) < num_tests:
        args = family.args(rng)
        call = f"{family.name}({', '.join(repr(a) for a in args)})"
        # tiny input spaces may repeat a call; accept a repeat now and then so the loop ends
        if call not in (c for c, _ in calls) or rng.random() < 0.05:
            calls.append((call, repr(function(*args))))
    example_call, example_value = calls[0]
    prompt = (f"def {family.name}({family.signature}):\n    \"\"\"{doc}\n    >>> {example_call}\n    {example_value}\n"
              "    \"\"\"\n")
    return CodeProblem(family.name, prompt, body, tuple(calls))
