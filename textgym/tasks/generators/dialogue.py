"""Procedural booking dialogues whose next reply is determined by the context.

A user books something (a restaurant table, a hotel room, a taxi, cinema tickets), giving the details —
the *slots* — across earlier turns, sometimes correcting one. The assistant's next reply must either confirm
every detail with its latest value or, if one was never given, ask for it. The reference is a templated
reply (two or three phrasings are accepted); :class:`DialogueSample` also lists, per slot, the strings that
count as mentioning its value, and the superseded values that must not be repeated.

Difficulty 1: all details in one user turn. 2: details spread over several turns, the assistant asking for
each. 3: plus corrections ("actually, make it five") and small talk in between.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["DOMAINS", "DialogueSample", "sample_dialogue"]

NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TIMES = ("8 am", "9:30 am", "noon", "1 pm", "2:30 pm", "5 pm", "6 pm", "6:30 pm", "7 pm", "7:45 pm", "8 pm", "9 pm")


@dataclass(frozen=True)
class Slot:
    """A detail to collect: name, how the assistant asks for it, how a user gives it, possible values."""

    name: str
    ask: tuple[str, ...]
    give: tuple[str, ...]
    values: tuple[str, ...]
    keywords: tuple[str, ...]  # every way of asking for the slot uses one of these words


def _number_slot(name: str, ask: tuple[str, ...], give: tuple[str, ...], keywords: tuple[str, ...]) -> Slot:
    return Slot(name, ask, give, NUMBERS[1:], keywords)


DAY = Slot("day", ("Which day would you like?", "For which day?"), ("on {v}", "for {v}"), DAYS, ("day",))
TIME = Slot("time", ("What time would suit you?", "At what time?"), ("at {v}",), TIMES, ("time",))


@dataclass(frozen=True)
class Domain:
    """A booking domain: its slots (in confirmation order), openers and confirmation templates."""

    name: str
    slots: tuple[Slot, ...]
    openers: tuple[str, ...]
    confirm: tuple[str, ...]


DOMAINS = (
    Domain(
        "restaurant",
        (
            _number_slot("people", ("How many people will there be?", "For how many people?"),
                         ("for {v} people", "there will be {v} of us"), ("people",)),
            Slot("place", ("Which restaurant would you like?", "Where would you like to eat?"), ("at {v}",),
                 ("Luigi's", "Sakura", "The Blue Door", "Casa Verde", "Le Petit Four", "The Golden Fork"),
                 ("restaurant", "where")),
            DAY, TIME,
        ),
        ("Hi, I'd like to book a table.", "Hello, can I reserve a table?", "I want to make a dinner reservation."),
        ("Great, a table for {people} at {place} on {day} at {time}. Shall I confirm?",
         "Booked: a table for {people} people at {place}, {day} at {time}.",
         "All set: {place}, {day} at {time}, table for {people}."),
    ),
    Domain(
        "hotel",
        (
            Slot("place", ("Which hotel would you like?", "Where would you like to stay?"), ("at {v}",),
                 ("the Grand Hotel", "Hotel Astoria", "the Seaview Inn", "the Maple Lodge", "Hotel Central"),
                 ("hotel", "where")),
            _number_slot("guests", ("How many guests?", "For how many guests?"), ("for {v} guests",), ("guests",)),
            _number_slot("nights", ("How many nights will you stay?", "For how many nights?"),
                         ("for {v} nights", "staying {v} nights"), ("nights",)),
            Slot("day", ("Which day do you arrive?", "When do you check in?"), ("arriving on {v}", "from {v}"), DAYS,
                 ("day", "check in")),
        ),
        ("Hello, I need a hotel room.", "Hi, can you book me a room?", "I'd like to reserve a room, please."),
        ("Great, a room at {place} for {guests} guests, {nights} nights from {day}. Shall I confirm?",
         "Booked: {place}, {guests} guests, {nights} nights from {day}.",
         "All set: {nights} nights at {place} from {day} for {guests} guests."),
    ),
    Domain(
        "taxi",
        (
            Slot("origin", ("Where should the taxi pick you up?", "Where are you leaving from?"), ("from {v}",),
                 ("the station", "the airport", "Market Street", "the museum", "Oak Avenue", "the harbour"),
                 ("pick you up", "leaving from")),
            Slot("destination", ("Where are you going?", "What is your destination?"), ("to {v}",),
                 ("the cinema", "the university", "the hospital", "Park Road", "the old town", "the stadium"),
                 ("going", "destination")),
            TIME,
            _number_slot("passengers", ("How many passengers?", "For how many people?"),
                         ("for {v} passengers", "we are {v}"), ("passengers", "people")),
        ),
        ("Hi, I need a taxi.", "Can you book a cab for me?", "Hello, I'd like to order a taxi."),
        ("Great, a taxi from {origin} to {destination} at {time} for {passengers}. Shall I confirm?",
         "Booked: taxi at {time} from {origin} to {destination}, {passengers} passengers.",
         "All set: {passengers} passengers from {origin} to {destination} at {time}."),
    ),
    Domain(
        "cinema",
        (
            _number_slot("tickets", ("How many tickets?", "How many seats do you need?"), ("{v} tickets",),
                         ("tickets", "seats")),
            Slot("film", ("Which film would you like to see?", "What would you like to watch?"), ("for {v}",),
                 ("The Last Voyage", "Midnight Garden", "Silver Lake", "Paper Moon", "The Long Road"),
                 ("film", "watch")),
            DAY, TIME,
        ),
        ("Hi, I'd like cinema tickets.", "Can I book some movie tickets?", "Hello, I want to see a film."),
        ("Great, {tickets} tickets for {film} on {day} at {time}. Shall I confirm?",
         "Booked: {film}, {day} at {time}, {tickets} tickets.",
         "All set: {tickets} seats for {film} on {day} at {time}."),
    ),
)

SMALL_TALK = (
    ("By the way, the weather is lovely today.", "It really is!"),
    ("Sorry, I'm a bit in a hurry.", "No problem, I'll be quick."),
    ("This is for a birthday.", "How nice!"),
    ("My friend recommended you.", "That's kind of them."),
)
ACKS = ("Sure.", "Noted.", "Got it.")


@dataclass(frozen=True)
class DialogueSample:
    """A generated dialogue: the context turns, the reference replies and what the reply must contain.

    ``required`` maps each slot (or, for a question, ``"ask:<slot>"``) to the strings that count as
    mentioning it; ``stale`` lists superseded values that a correct reply does not repeat.
    """

    domain: str
    turns: tuple[tuple[str, str], ...]
    references: tuple[str, ...]
    required: tuple[tuple[str, tuple[str, ...]], ...]
    stale: tuple[str, ...]


def _aliases(slot: Slot, value: str) -> tuple[str, ...]:
    if value in NUMBERS:
        return (value, str(NUMBERS.index(value) + 1))
    return (value,)


def _mention(rng: random.Random, slot: Slot, value: str) -> str:
    return rng.choice(slot.give).format(v=value)


def sample_dialogue(rng: random.Random, difficulty: int) -> DialogueSample:
    """Sample one dialogue at ``difficulty`` (1..3)."""
    domain = rng.choice(DOMAINS)
    values = {s.name: rng.choice(s.values) for s in domain.slots}
    missing = rng.choice(domain.slots) if rng.random() < 0.3 else None
    to_give = [s for s in domain.slots if s is not missing]
    rng.shuffle(to_give)
    turns: list[tuple[str, str]] = []
    opener = rng.choice(domain.openers)
    stale: list[str] = []
    pending = ""  # what the assistant says before its next question (an answer to small talk)
    first = to_give if difficulty == 1 else to_give[: rng.randint(0, min(2, len(to_give)))]
    details = ", ".join(_mention(rng, s, values[s.name]) for s in first)
    turns.append(("User", opener + (f" {_upper_first(details)}." if details else "")))
    for slot in to_give[len(first) :]:
        turns.append(("Assistant", f"{pending} {rng.choice(slot.ask)}".strip()))
        answer, pending = _upper_first(_mention(rng, slot, values[slot.name])), ""
        if difficulty >= 3 and rng.random() < 0.3:
            chat, pending = rng.choice(SMALL_TALK)
            turns.append(("User", f"{answer}. {chat}"))
        else:
            turns.append(("User", f"{answer}, please."))
    if difficulty >= 3 and to_give and rng.random() < 0.5:
        slot = rng.choice(to_give)
        old = values[slot.name]
        values[slot.name] = rng.choice([v for v in slot.values if v != old])
        stale += _aliases(slot, old)
        turns += [("Assistant", pending or rng.choice(ACKS)),
                  ("User", f"Actually, make that {_mention(rng, slot, values[slot.name])} instead.")]
        pending = ""
    if missing is not None:
        references = missing.ask
        required: tuple[tuple[str, tuple[str, ...]], ...] = ((f"ask:{missing.name}", missing.keywords),)
        stale_values: tuple[str, ...] = ()
    else:
        references = tuple(t.format(**values) for t in domain.confirm)
        required = tuple((s.name, _aliases(s, values[s.name])) for s in domain.slots)
        current = {alias for _, aliases in required for alias in aliases}
        stale_values = tuple(v for v in stale if v not in current)  # a value another slot still has is fine
    if pending:  # the user's last turn had small talk: the reply answers it first
        references = tuple(f"{pending} {r}" for r in references)
    return DialogueSample(domain.name, tuple(turns), tuple(references), required, stale_values)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]
