"""Small-cell suppression that holds across tables and overlapping periods.

The statistics publish, for every period of a year (the year, its quarters, its months), one
table per dimension (unit, category, channel...). All these numbers obey sums: a table's total
is the sum of its cells; a year's cell is the sum of the same cell in its quarters, a quarter's
of its months; several tables share one total (the cases of the period). Whoever sees every
published number can combine those sums — the year minus three quarters gives the fourth, and
longer chains of sums can isolate a single month's cell. So suppression is decided for the
whole year at once, on every sum:

1. *Primary.* Every number with ``0 < n < threshold`` is hidden; a table whose total is small
   is hidden whole (zeros too: they would say which groups had anyone).
2. *No lone hidden part.* A sum that is shown never has exactly one hidden part: the smallest
   shown part (the first on ties) is hidden with it. A sum that is hidden never has all its
   parts shown (they would add up to it): the smallest part is hidden.
3. *Audit.* Rule 2 makes each sum safe on its own, not every combination of sums. So the hidden
   numbers are then solved for as an outsider would — Gauss–Jordan elimination over the
   rationals, on every sum with the shown numbers filled in — and while any hidden number comes
   out determined, one more number next to it is hidden and rules 2 and 3 run again.

Only ever hiding more, this ends. What it guarantees: no hidden number can be computed from
the published ones by any combination of the sums. Bounds remain: a hidden number is known to
be at least 0 and at most the sums it is part of (docs/statistics.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)
TOTAL = "\x00total"  # the total's row (no key can be this)
SHARED = "\x00shared"  # the family name under which shared totals live
Slot = tuple[str, Hashable, str]  # (family or SHARED, period, key or TOTAL)
Group = tuple[Slot, tuple[Slot, ...]]  # a sum: (the sum, its parts)


@dataclass(frozen=True)
class Family(Generic[P]):
    """One dimension's counts for every period: period -> [(key, count)], the same keys in
    every period. ``shares_total``: its total is the one other sharing families have."""

    name: str
    counts: dict[P, list[tuple[str, int]]]
    shares_total: bool = True


@dataclass(frozen=True)
class Shown:
    cells: tuple[tuple[str, int | None], ...]  # None: hidden
    total: int | None


def _total(family: Family[P], period: P) -> Slot:
    return (SHARED if family.shares_total else family.name, period, TOTAL)


def _groups(families: Sequence[Family[P]], children: Callable[[P], Sequence[P]]) -> list[Group]:
    groups: dict[Group, None] = {}  # ordered and without duplicates (shared totals' sums)
    for family in families:
        periods = list(family.counts)
        keys = [k for k, _ in family.counts[periods[0]]]
        for p in periods:
            groups[(_total(family, p), tuple((family.name, p, k) for k in keys))] = None
        for p in periods:
            parts = [c for c in children(p) if c in family.counts]
            if not parts:
                continue
            for k in keys:
                groups[((family.name, p, k), tuple((family.name, c, k) for c in parts))] = None
            groups[(_total(family, p), tuple(_total(family, c) for c in parts))] = None
    return list(groups)


def _values(families: Sequence[Family[P]]) -> dict[Slot, int]:
    value: dict[Slot, int] = {}
    for family in families:
        for p, counts in family.counts.items():
            value |= {(family.name, p, k): n for k, n in counts}
            total = _total(family, p)
            if value.setdefault(total, sum(n for _, n in counts)) != sum(n for _, n in counts):
                raise ValueError(f"{family.name} does not add up to the shared total of {p}")
    return value


def _lone_parts(groups: list[Group], value: dict[Slot, int], hidden: set[Slot]) -> None:
    """Rule 2, until no sum has a lone hidden part (or a hidden sum all parts shown)."""
    changed = True
    while changed:
        changed = False
        for parent, parts in groups:
            shown = [s for s in parts if s not in hidden]
            hidden_parts = len(parts) - len(shown)
            if hidden_parts > 1 or (parent in hidden) != (hidden_parts == 0):
                continue  # already safe on its own
            if shown:
                hidden.add(min(shown, key=lambda s: (value[s], parts.index(s))))
            else:  # a sum of one part, which is hidden: the sum is that part
                hidden.add(parent)
            changed = True


def determined(groups: list[Group], hidden: set[Slot]) -> list[Slot]:
    """The hidden slots whose value follows from the sums and the shown numbers.

    Each sum is a linear equation in the hidden slots (the shown ones are constants). A slot is
    determined exactly when its unit vector lies in the span of the equations, i.e. when the
    reduced row echelon form has a row with that slot alone.
    """
    pivots: dict[Slot, dict[Slot, Fraction]] = {}
    for parent, parts in groups:
        row: dict[Slot, Fraction] = {}
        for slot, sign in ((parent, 1), *((s, -1) for s in parts)):
            if slot in hidden:
                row[slot] = row.get(slot, Fraction(0)) + sign
        row = {s: c for s, c in row.items() if c}
        for slot in [s for s in row if s in pivots]:
            factor = row.get(slot, Fraction(0))
            if factor:
                for s, c in pivots[slot].items():
                    row[s] = row.get(s, Fraction(0)) - factor * c
                row = {s: c for s, c in row.items() if c}
        if not row:
            continue
        pivot = min(row, key=repr)
        scale = row[pivot]
        row = {s: c / scale for s, c in row.items()}
        for other in pivots.values():
            above = other.get(pivot, Fraction(0))
            if above:
                for s, c in row.items():
                    other[s] = other.get(s, Fraction(0)) - above * c
                for s in [s for s, c in other.items() if not c]:
                    del other[s]
        pivots[pivot] = row
    return sorted((p for p, row in pivots.items() if len(row) == 1), key=repr)


def _one_more(groups: list[Group], value: dict[Slot, int], hidden: set[Slot], slot: Slot) -> bool:
    """Hide the smallest shown number in a sum that ``slot`` is part of (or, failing that, the
    smallest shown number anywhere). False when nothing is left to hide."""
    near = [s for parent, parts in groups if slot in (parent, *parts) for s in (parent, *parts)]
    for candidates in (near, list(value)):
        shown = [s for s in candidates if s not in hidden]
        if shown:
            hidden.add(min(shown, key=lambda s: (value[s], candidates.index(s))))
            return True
    return False


def suppress(
    families: Sequence[Family[P]], *, children: Callable[[P], Sequence[P]], threshold: int
) -> dict[str, dict[P, Shown]]:
    """What may be shown of every family's tables (see the module docstring)."""
    value = _values(families)
    groups = _groups(families, children)
    hidden = {s for s, n in value.items() if 0 < n < threshold}
    for family in families:
        for p, counts in family.counts.items():
            if 0 < value[_total(family, p)] < threshold:
                hidden |= {(family.name, p, k) for k, _ in counts}
    while True:
        _lone_parts(groups, value, hidden)
        solved = determined(groups, hidden)
        if not solved or not _one_more(groups, value, hidden, solved[0]):
            break
    return {
        family.name: {
            p: Shown(
                tuple((k, None if (family.name, p, k) in hidden else n) for k, n in counts),
                None if _total(family, p) in hidden else value[_total(family, p)],
            )
            for p, counts in family.counts.items()
        }
        for family in families
    }
