"""Rules for the text a claim takes in, and the bounds of what it keeps.

Plain Python (no pydantic, no Temporal), used by the message models
(workflows.messages), so a portal request and a raw Temporal caller meet the
same rules, and by the workflow's bounds (workflows.bounds).

Why single-line fields refuse control and format characters: a name goes
into mail headers, subjects, CSV cells and log lines. A line break there
made building a mail raise on every try (the claim's mail queue stuck for
good); U+2028/2029 break lines in other readers; NUL and other controls end
or corrupt strings downstream; format characters (bidi overrides, zero-width
joiners) let a name read differently from what it is.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import UTC
from datetime import datetime

NAME_MAX_CHARS = 200
"""Names and other single-line fields (user, party and contact names, workshop, reference)."""
FREE_TEXT_MAX_CHARS = 4000
"""Comments, questions, notes and reasons."""
MAX_CONTACTS = 10
"""Partner contacts of a claim."""
MAX_COMMENTS = 100
"""Comments a claim keeps; the next one is refused, saying so."""
MAX_QUESTIONS = 50
"""Questions (requests for information) a claim keeps."""
MAX_ANSWERS = 50
"""Answers in one survey (a flat map of question id to a short string or a number)."""
ANSWER_MAX_CHARS = 2000
"""The longest answer."""
ANSWERS_MAX_BYTES = 100_000
"""All of one survey's answers, in UTF-8: 50 answers of 2,000 characters of one byte each."""
COMMENTS_MAX_BYTES = 300_000
"""All of a claim's comments, in UTF-8 (at most MAX_COMMENTS of them)."""
QUESTIONS_MAX_BYTES = 100_000
"""All of a claim's questions, in UTF-8 (at most MAX_QUESTIONS of them)."""

EARLIEST_CONSENT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_CONSENT = datetime(2999, 12, 31, tzinfo=UTC)
"""A consent outside these is a mistake (year 9999 plus the submission window overflows)."""

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format, surrogate, private-use and unassigned characters, line and paragraph
separators: nothing a person types in a name or a comment."""
_FREE_TEXT_ALLOWED = frozenset({"\n", "\t"})


def allowed_in_line(char: str) -> bool:
    """Whether a one-line field may hold `char` (file names are cleaned with this)."""
    return unicodedata.category(char) not in _REFUSED_CATEGORIES


def _first_refused(value: str, allowed: frozenset[str]) -> str | None:
    for char in value:
        if char not in allowed and not allowed_in_line(char):
            return char
    return None


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def single_line(value: str) -> str:
    """A name or other one-line field: no line breaks, no control or format characters."""
    return _refuse_unless_text(
        value, frozenset(), "must be a single line of text without control or format characters"
    )


def free_text(value: str) -> str:
    """A comment, question, note, reason or answer: line breaks (CR LF is read as LF) and
    tabs are fine; other control and format characters are not."""
    return _refuse_unless_text(
        value.replace("\r\n", "\n"),
        _FREE_TEXT_ALLOWED,
        "may contain line breaks and tabs but no other control or format characters",
    )


def _refuse_unless_text(value: str, allowed: frozenset[str], rule: str) -> str:
    """`value` if it holds nothing its rule refuses, else a ValueError naming the character."""
    found = _first_refused(value, allowed)
    if found is not None:
        raise ValueError(f"{rule} (found {_describe(found)})")
    return value


def utf8_size(texts: Iterable[str]) -> int:
    """Bytes these texts take in a payload (UTF-8): what Temporal's limits count."""
    return sum(len(text.encode()) for text in texts)


def bounded_answers(answers: dict[str, str | int | float]) -> dict[str, str | int | float]:
    """A survey's answers within ANSWERS_MAX_BYTES, whatever script they are written in."""
    if utf8_size(value for value in answers.values() if isinstance(value, str)) > ANSWERS_MAX_BYTES:
        raise ValueError(f"the answers together must take at most {ANSWERS_MAX_BYTES} bytes")
    return answers


def plausible_consent(value: datetime) -> datetime:
    """A consent between the program's start and a far future that still computes."""
    if not EARLIEST_CONSENT <= value <= LATEST_CONSENT:
        raise ValueError(
            f"must be between {EARLIEST_CONSENT:%Y-%m-%d} and {LATEST_CONSENT:%Y-%m-%d}"
        )
    return value
