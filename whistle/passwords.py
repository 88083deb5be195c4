"""Which staff passwords are too common to accept.

An investigator's password protects every case that investigator holds, and the first thing an
attacker tries — online, or offline against a stolen database together with ``keys/`` — is a
list of common and breached passwords. So activation, password change and recovery refuse:

* any password on the bundled list of the 20,000 most common passwords (``data/
  common-passwords.txt.gz``, Royce Williams's list as shipped by Django, BSD licence) or on the
  Swedish supplement (``data/common-passwords-sv.txt``: Swedish words, names, places, seasons);
* the same after normalising: Unicode NFKC, case folded, whitespace removed, å/ä/ö folded to
  a/a/o, and common "leet" substitutions undone (``P@ssw0rd``);
* a listed word with only a short run of digits or symbols before or after it
  (``Password123!``, ``sommar2024``), or with a run that is itself on the list
  (``dragon12345678``).

Checked in memory against a set loaded once; nothing about a refused password is stored or
logged.
"""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
COMMON_FILE = DATA_DIR / "common-passwords.txt.gz"
SWEDISH_FILE = DATA_DIR / "common-passwords-sv.txt"
# A listed word padded with this many digits/symbols or fewer is still the listed word.
SHORT_AFFIX = 6

_AFFIXES = re.compile(r"^([\W\d_]*)(.*?)([\W\d_]*)$")
_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", "ü": "u"})
_LEET = (
    str.maketrans({"@": "a", "4": "a", "3": "e", "0": "o", "1": "i", "!": "i", "$": "s", "5": "s"}),
    str.maketrans({"@": "a", "4": "a", "3": "e", "0": "o", "1": "l", "!": "l", "$": "s", "7": "t"}),
)


@functools.cache
def common_passwords() -> frozenset[str]:
    """Every listed password, normalised the way candidates are."""
    with gzip.open(COMMON_FILE, "rt", encoding="utf-8") as fh:
        english = fh.read().split("\n")
    swedish = SWEDISH_FILE.read_text(encoding="utf-8").split("\n")
    words = {_squash(w) for w in english + swedish if w.strip() and not w.startswith("#")}
    return frozenset(w for variant in words for w in (variant, variant.translate(_FOLD)))


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _variants(text: str) -> set[str]:
    folded = text.translate(_FOLD)
    return {text, folded, *(folded.translate(table) for table in _LEET)}


def is_common(password: str) -> bool:
    """True when ``password`` is, or is a lightly padded form of, a listed password."""
    listed = common_passwords()
    squashed = _squash(password)
    if _variants(squashed) & listed:
        return True
    match = _AFFIXES.match(squashed)
    if match is None:  # pragma: no cover - the pattern matches every string
        return False
    head, core, tail = match.groups()
    if not core or not _variants(core) & listed:
        return False
    # Both affixes short, or each one itself a listed password ("12345678"): no real secret.
    return all(len(part) <= SHORT_AFFIX or part in listed for part in (head, tail))
