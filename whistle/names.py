"""Display names: when two of them would look the same to a reader.

A reporter excludes investigators by name (jäv), and an investigator approves a new reader by
name; two accounts that look alike on screen would let an administrator slip a second
"Bertil Berg" in (security review, issue 12, finding 2). :func:`name_key` folds a display name
to a key that is the same for names a person cannot tell apart: Unicode compatibility forms
(NFKC: full-width and styled letters), case, invisible characters, runs of white space, and the
common Latin look-alikes from the Cyrillic and Greek alphabets. The key is stored with a unique
index, so a look-alike name is refused when the account is created.

This is a small table, not all of Unicode's confusables: it covers the letters that render as
the Latin ones in the fonts staff use. Diacritics are kept: "Åsa" and "Asa" are different
people with visibly different names.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Protocol

# Capital Greek and Cyrillic letters that look like Latin capitals, mapped before casefolding
# (their small forms look different: Greek capital eta is an H, small eta an n).
_CAPITALS = str.maketrans(
    {
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
        "С": "C", "Т": "T", "Х": "X", "У": "Y", "Ѕ": "S", "І": "I", "Ј": "J",
    }
)  # fmt: skip
# After casefolding: small look-alikes, and the Latin and digit shapes that are hard to tell
# apart in a sans-serif font (I/l/1, O/0; "rn" and "m" below).
_SMALL = str.maketrans(
    {
        "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "ј": "j", "о": "o", "р": "p",
        "ԛ": "q", "ѕ": "s", "у": "y", "х": "x", "ү": "y", "ԝ": "w",
        "α": "a", "ο": "o", "ρ": "p", "κ": "k", "ν": "v", "υ": "u", "ω": "w",
        "i": "l", "і": "l", "ι": "l", "ı": "l", "1": "l", "|": "l", "0": "o",
    }
)  # fmt: skip


def name_key(display_name: str) -> str:
    """The form two display names share when a person could not tell them apart."""
    text = unicodedata.normalize("NFKC", display_name).translate(_CAPITALS).casefold()
    # Format characters (zero-width space, joiners, soft hyphen, direction marks) are invisible.
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = " ".join(text.split())
    return text.translate(_SMALL).replace("rn", "m")


class Named(Protocol):
    id: str
    username: str
    display_name: str


def labels(people: Iterable[Named]) -> dict[str, str]:
    """How to show each person so that no two look the same: the display name, and the
    username too where two display names share a key (accounts created before the unique
    key existed)."""
    people = list(people)
    seen: dict[str, int] = {}
    for person in people:
        key = name_key(person.display_name)
        seen[key] = seen.get(key, 0) + 1
    return {
        p.id: p.display_name
        if seen[name_key(p.display_name)] == 1
        else f"{p.display_name} ({p.username})"
        for p in people
    }
