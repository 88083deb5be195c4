"""Case codes: 16 random digits (53 bits), shown in groups of four, typed in any grouping.

The code is the reporter's only credential. It is never stored: only the lookup id derived from
it (see :func:`whistle.crypto.derive_case_access`) is.
"""

from __future__ import annotations

import re

from whistle import crypto

DIGITS = 16
_SEPARATORS = re.compile(r"[\s\-–—.]+")


class MalformedCode(ValueError):
    """Not 16 digits after removing spaces and dashes."""


def generate() -> str:
    return crypto.random_digits(DIGITS)


def normalise(typed: str) -> str:
    """Strip spaces, dashes and dots; require exactly 16 ASCII digits."""
    compact = _SEPARATORS.sub("", typed.strip())
    if len(compact) != DIGITS or not compact.isascii() or not compact.isdigit():
        raise MalformedCode("malformed case code")
    return compact


def grouped(code: str) -> str:
    """'1234567812345678' -> '1234 5678 1234 5678'."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))
