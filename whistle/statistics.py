"""The board's statistics (L25): counts and medians over the cases received in a period.

Only clear metadata columns are read (unit, category, channel, identity given, dates, outcome):
nothing here touches a key or a sealed blob. Cases that retention deleted are still counted from
their anonymous :class:`~whistle.models.CaseStatistic` rows, which :func:`anonymous_row` makes.

**Periods are whole months.** The chosen dates are widened to the first and last day of their
months. The anonymous rows only know the month of receipt, and whole months limit what comparing
two overlapping periods reveals (see docs/statistics.md for what remains).

**Small cells are suppressed** so that nobody can be singled out (threshold ``t``, the setting
``WHISTLE_STATS_THRESHOLD``). Every table is one dimension: cells that split a total. The rule,
applied to each table:

1. *Total.* A total below ``t`` (but not zero) is hidden, and then every cell of the table is
   hidden too, zeros included: with the total unknown, the cells would only say which groups had
   anyone at all, which is exactly what a small total must not show.
2. *Primary.* Every cell with ``0 < count < t`` is hidden. Zero cells are shown (nobody to
   protect), and so is any cell of at least ``t``.
3. *Complementary.* If exactly one cell is hidden while the total is shown, the total minus the
   shown cells would give it back. The next-smallest shown cell is hidden too (ties: the first in
   table order), so the visible numbers only give the *sum* of two or more hidden cells.
4. If no other cell is left to hide (a table of one cell), the total is hidden instead.

The same total (the number of cases in the period) heads several tables; it is shown or hidden
the same way in all of them, because rule 1 depends on the total alone and rule 4 cannot apply
to a table of two or more cells. Medians are shown only when they rest on at least ``t`` cases.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from whistle import cases, deadlines
from whistle.models import Case, CaseStatistic, Category, Unit

CHANNELS = ("web", "oral")
IDENTITIES = ("anonymous", "named")
# on_time: by the due date; late: after it, or never and the case went past it (the miss);
# exempt: waived by the reporter or withheld (5 kap. 8 § 2); not_due: nothing due yet, or the
# case was closed before the date.
ACK_STATES = ("on_time", "late", "exempt", "not_due")
FEEDBACK_STATES = ("on_time", "late", "not_due")
# The closing codes (whistle.cases), and closed cases from before outcomes were recorded.
OUTCOMES = (*cases.OUTCOMES, "not_recorded")
NONE_KEY = "none"  # unit not given, category "don't know"


class PeriodError(ValueError):
    """The period is not two dates, or it ends before it starts."""


@dataclass(frozen=True)
class Period:
    start: dt.date  # the first day of a month
    end: dt.date  # the last day of a month

    @classmethod
    def of(cls, start: dt.date, end: dt.date) -> Period:
        if end < start:
            raise PeriodError("end-before-start")
        first = start.replace(day=1)
        last = deadlines.add_months(end.replace(day=1), 1) - dt.timedelta(days=1)
        return cls(first, last)

    @classmethod
    def year_of(cls, today: dt.date) -> Period:
        return cls(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31))


@dataclass(frozen=True)
class Fact:
    """What the statistics need of one case, live or deleted."""

    unit_key: str
    category_key: str
    channel: str
    identity_given: bool
    ack_state: str
    feedback_state: str
    ack_days: int | None
    feedback_days: int | None
    outcome: str | None  # None: not closed


@dataclass(frozen=True)
class Cell:
    key: str
    value: int | None  # None: suppressed


@dataclass(frozen=True)
class Table:
    name: str
    cells: tuple[Cell, ...]
    total: int | None  # None: suppressed


@dataclass(frozen=True)
class Median:
    # None: fewer than the threshold's number of cases. How many it rests on is not given:
    # with the cells of the deadline tables, that count could give back a hidden cell.
    days: float | None


@dataclass(frozen=True)
class Statistics:
    period: Period
    threshold: int
    tables: tuple[Table, ...]
    ack_median: Median
    feedback_median: Median
    unit_names: dict[str, tuple[str, str]]  # key -> (sv, en)
    category_names: dict[str, tuple[str, str]]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


def ack_state(
    *,
    waived: bool,
    withheld: bool,
    acknowledged_on: dt.date | None,
    due: dt.date,
    closed_on: dt.date | None,
    today: dt.date,
) -> str:
    if waived or withheld:
        return "exempt"
    if acknowledged_on is not None:
        return "on_time" if acknowledged_on <= due else "late"
    return "late" if (closed_on or today) > due else "not_due"


def feedback_state(
    *, given_on: dt.date | None, due: dt.date, closed_on: dt.date | None, today: dt.date
) -> str:
    if given_on is not None:
        return "on_time" if given_on <= due else "late"
    return "late" if (closed_on or today) > due else "not_due"


def _days(start: dt.date, end: dt.date | None) -> int | None:
    return None if end is None else (end - start).days


def _outcome(case: Case) -> str | None:
    if case.status != "closed":
        return None
    return case.outcome if case.outcome in OUTCOMES else "not_recorded"


def fact_of_case(case: Case, *, today: dt.date) -> Fact:
    return Fact(
        unit_key=str(case.unit_id) if case.unit_id is not None else NONE_KEY,
        category_key=str(case.category_id) if case.category_id is not None else NONE_KEY,
        channel=case.channel,
        identity_given=case.identity_given,
        ack_state=ack_state(
            waived=case.ack_waived,
            withheld=case.ack_withheld,
            acknowledged_on=case.acknowledged_on,
            due=case.ack_due,
            closed_on=case.closed_on,
            today=today,
        ),
        feedback_state=feedback_state(
            given_on=case.feedback_given_on,
            due=case.feedback_due,
            closed_on=case.closed_on,
            today=today,
        ),
        ack_days=_days(case.received_on, case.acknowledged_on),
        feedback_days=_days(case.received_on, case.feedback_given_on),
        outcome=_outcome(case),
    )


def anonymous_row(case: Case, *, today: dt.date) -> CaseStatistic:
    """The statistics row that outlives a deleted case: no case id, the month only."""
    fact = fact_of_case(case, today=today)
    return CaseStatistic(
        received_month=case.received_on.replace(day=1),
        unit_id=case.unit_id,
        category_id=case.category_id,
        channel=fact.channel,
        identity_given=fact.identity_given,
        ack_state=fact.ack_state,
        feedback_state=fact.feedback_state,
        ack_days=fact.ack_days,
        feedback_days=fact.feedback_days,
        outcome=fact.outcome or "not_recorded",
    )


def _fact_of_row(row: CaseStatistic) -> Fact:
    return Fact(
        unit_key=str(row.unit_id) if row.unit_id is not None else NONE_KEY,
        category_key=str(row.category_id) if row.category_id is not None else NONE_KEY,
        channel=row.channel,
        identity_given=row.identity_given,
        ack_state=row.ack_state,
        feedback_state=row.feedback_state,
        ack_days=row.ack_days,
        feedback_days=row.feedback_days,
        outcome=row.outcome,
    )


def suppress(name: str, counts: Sequence[tuple[str, int]], *, threshold: int) -> Table:
    """One table with the module's suppression rule applied (see the module docstring)."""
    total = sum(n for _, n in counts)
    if 0 < total < threshold:  # rule 1
        return Table(name, tuple(Cell(k, None) for k, _ in counts), None)
    hidden = {i for i, (_, n) in enumerate(counts) if 0 < n < threshold}  # rule 2
    total_hidden = False
    if len(hidden) == 1:
        shown = [i for i in range(len(counts)) if i not in hidden]
        if shown:  # rule 3: the next-smallest, first in table order on ties
            hidden.add(min(shown, key=lambda i: (counts[i][1], i)))
        else:  # rule 4
            total_hidden = True
    cells = tuple(Cell(k, None if i in hidden else n) for i, (k, n) in enumerate(counts))
    return Table(name, cells, None if total_hidden else total)


def median(values: Iterable[int], *, threshold: int) -> Median:
    ordered = sorted(values)
    n = len(ordered)
    if n < threshold or n == 0:
        return Median(None)
    middle = n // 2
    days = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return Median(float(days))


def _facts(db: Session, *, period: Period, today: dt.date) -> list[Fact]:
    live = db.exec(
        select(Case).where(Case.received_on >= period.start, Case.received_on <= period.end)
    ).all()
    kept = db.exec(
        select(CaseStatistic).where(
            CaseStatistic.received_month >= period.start,
            CaseStatistic.received_month <= period.end,
        )
    ).all()
    return [fact_of_case(c, today=today) for c in live] + [_fact_of_row(r) for r in kept]


def _names(db: Session, facts: list[Fact]) -> tuple[dict[str, tuple[str, str]], ...]:
    """Units and categories to list: the active ones, and any inactive one that has cases."""
    used_units = {f.unit_key for f in facts}
    used_categories = {f.category_key for f in facts}
    units = {
        str(u.id): (u.name_sv, u.name_en)
        for u in db.exec(select(Unit).order_by(col(Unit.position), col(Unit.id)))
        if u.active or str(u.id) in used_units
    }
    categories = {
        str(c.id): (c.name_sv, c.name_en)
        for c in db.exec(select(Category).order_by(col(Category.position), col(Category.id)))
        if c.active or str(c.id) in used_categories
    }
    return units, categories


def _counted(keys: Sequence[str], values: Iterable[str]) -> list[tuple[str, int]]:
    tally = Counter(values)
    # A key no longer configured (a deleted unit) still counts, after the known ones.
    extra = sorted(k for k in tally if k not in keys)
    return [(k, tally[k]) for k in [*keys, *extra]]


def compute(db: Session, *, period: Period, threshold: int, today: dt.date) -> Statistics:
    facts = _facts(db, period=period, today=today)
    units, categories = _names(db, facts)
    closed = [f for f in facts if f.outcome is not None]
    dimensions = {
        "unit": _counted([*units, NONE_KEY], (f.unit_key for f in facts)),
        "category": _counted([*categories, NONE_KEY], (f.category_key for f in facts)),
        "channel": _counted(CHANNELS, (f.channel for f in facts)),
        "identity": _counted(
            IDENTITIES, ("named" if f.identity_given else "anonymous" for f in facts)
        ),
        "acknowledgement": _counted(ACK_STATES, (f.ack_state for f in facts)),
        "feedback": _counted(FEEDBACK_STATES, (f.feedback_state for f in facts)),
        "outcome": _counted(OUTCOMES, (f.outcome or "" for f in closed)),
    }
    return Statistics(
        period=period,
        threshold=threshold,
        tables=tuple(suppress(n, c, threshold=threshold) for n, c in dimensions.items()),
        ack_median=median(
            (f.ack_days for f in facts if f.ack_days is not None), threshold=threshold
        ),
        feedback_median=median(
            (f.feedback_days for f in facts if f.feedback_days is not None), threshold=threshold
        ),
        unit_names=units,
        category_names=categories,
    )
