"""Whole numbers typed into forms and URLs (ids, page numbers, versions): ASCII digits only.

``str.isdigit()`` is true for "²", "١" and "１", and ``int()`` turns the last two into 1 while
it raises on the first: a check with one and a conversion with the other either crashes (a 500
with a traceback) or silently reads a different value than was typed. Every number the web side
parses goes through :func:`parse`, which accepts only ``[0-9]``.
"""

from __future__ import annotations

MAX_DIGITS = 9  # ids and counters stay far below 10**9; longer input is not a number we use


def parse(raw: str, *, max_digits: int = MAX_DIGITS) -> int | None:
    """The number ``raw`` spells in ASCII digits, or None for anything else (sign, space,
    another script's digits, superscripts, an empty string, more than ``max_digits``)."""
    if not raw or len(raw) > max_digits or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)
