"""Masking: the one rule for every masked version (document requests, redaction, handover).

A masked version is the original text with spans removed and, in the place of each, a visible
mark naming the legal ground, e.g. ``[maskerat, 32:3 b OSL]``. Nothing else may differ: no
character added, altered or moved. The server never trusts a masked text it is given; it works
out which spans of the original were removed and renders the masked version itself from the
original and those spans, so what is released is always ``render(original, spans)``.

Without JavaScript the investigator edits a textarea pre-filled with the original: they delete
what must be hidden and type a marker ``[[32:3b]]`` (or keep a rendered mark) in its place.
:func:`verify` reads the markers, and checks that the text between them is the original's text,
in order, with something non-empty removed where each marker stands. Only the marks' wording is
Swedish and fixed: an official document is released in Swedish whatever the page's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from whistle.errors import DomainError
from whistle.i18n import N_

# Ground code -> (citation in the mark, what it covers, for the menus).
GROUNDS: dict[str, tuple[str, str]] = {
    "32:3b": ("32:3 b OSL", N_("The reporter's identity (OSL 32 kap. 3 b §, no harm test)")),
    "17:3b": ("17:3 b OSL", N_("Other people in the follow-up, if harm (OSL 17 kap. 3 b §)")),
    "21:1": ("21:1 OSL", N_("Health or private life of an individual (OSL 21 kap. 1 §)")),
    "7:7": ("7:7 LVV", N_("Irrelevant personal data removed (7 kap. 7 § Lag 2021:890)")),
}
IDENTITY_GROUND = "32:3b"
MAX_TEXT = 100_000
# Markers as typed ([[32:3b]]) or as rendered ([maskerat, 32:3 b OSL]).
_CITATIONS = {citation: code for code, (citation, _) in GROUNDS.items()}
_MARKER = re.compile(
    r"\[\[\s*(?P<code>[^\[\]\n]{1,16}?)\s*\]\]|\[maskerat, (?P<citation>[^\[\]\n]{1,24})\]"
)


class MaskingError(DomainError):
    """A masked version that is not the original with spans removed (``code`` says why)."""


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    ground: str


def mark(ground: str) -> str:
    """The visible mark that stands where a span was removed."""
    return f"[maskerat, {GROUNDS[ground][0]}]"


def check_spans(text: str, spans: Iterable[Span]) -> list[Span]:
    """Sorted, in bounds, non-empty, not overlapping, with a known ground; or MaskingError."""
    ordered = sorted(spans)
    previous_end = 0
    for span in ordered:
        if span.ground not in GROUNDS:
            raise MaskingError("unknown-ground")
        if not (previous_end <= span.start < span.end <= len(text)):
            raise MaskingError("bad-span")
        previous_end = span.end
    return ordered


def render(text: str, spans: Iterable[Span]) -> str:
    """The masked version: the original with every span replaced by its mark."""
    out: list[str] = []
    position = 0
    for span in check_spans(text, spans):
        out.append(text[position : span.start])
        out.append(mark(span.ground))
        position = span.end
    out.append(text[position:])
    return "".join(out)


def normalise(text: str) -> str:
    """Browsers send a textarea with CRLF line ends; the rule compares LF text."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse(submitted: str) -> tuple[list[str], list[str]]:
    """Split a submitted version into literal pieces and the ground codes between them."""
    literals: list[str] = []
    grounds: list[str] = []
    position = 0
    for found in _MARKER.finditer(submitted):
        code = found.group("code")
        if code is None:
            code = _CITATIONS.get(found.group("citation").strip(), "")
        code = code.replace(" ", "")
        if code not in GROUNDS:
            raise MaskingError("unknown-ground")
        literals.append(submitted[position : found.start()])
        grounds.append(code)
        position = found.end()
    literals.append(submitted[position:])
    return literals, grounds


def verify(original: str, submitted: str) -> list[Span]:
    """The spans that turn ``original`` into ``submitted``, or MaskingError("altered").

    The pieces of literal text between markers must be found in the original in order, the
    first at its start and the last at its end, with at least one character removed at each
    marker. Placing each middle piece at its leftmost possible position finds an alignment
    whenever one exists; where several exist, they all render the same released text.
    """
    original, submitted = normalise(original), normalise(submitted)
    if len(original) > MAX_TEXT or len(submitted) > MAX_TEXT:
        raise MaskingError("too-long")
    literals, grounds = _parse(submitted)
    if not grounds:
        if submitted != original:
            raise MaskingError("altered")
        return []
    first, last = literals[0], literals[-1]
    if not original.startswith(first):
        raise MaskingError("altered")
    tail_start = len(original) - len(last)
    if not original.endswith(last) or tail_start < len(first):
        raise MaskingError("altered")
    spans: list[Span] = []
    position = len(first)
    for piece, ground in zip(literals[1:-1], grounds[:-1], strict=True):
        found = original.find(piece, position + 1, max(tail_start - 1, 0))
        # The piece must leave room for the next span (at least one character) before the tail.
        if found < 0 or found + len(piece) >= tail_start:
            raise MaskingError("altered")
        spans.append(Span(position, found, ground))
        position = found + len(piece)
    if tail_start <= position:
        raise MaskingError("altered")
    spans.append(Span(position, tail_start, grounds[-1]))
    return spans


def prefill(original: str, spans: Sequence[Span]) -> str:
    """What the textarea shows for an existing masking: the rendered version, editable again."""
    return render(original, spans)
