"""The board's statistics (L25): counts and medians over the cases received in a period.

Only clear metadata columns are read (unit, category, channel, identity given, dates, outcome):
nothing here touches a key or a sealed blob. Cases that retention deleted are still counted from
their anonymous :class:`~whistle.models.CaseStatistic` rows, which :func:`anonymous_row` makes.

**Periods are fixed**: a calendar year, a quarter or a month (:class:`Period`), never a free
date range — two free ranges could be subtracted from each other (January–July minus
January–June is July). The anonymous rows know the month of receipt, the finest period.

**Small cells are suppressed** so that nobody can be singled out (threshold ``t``, the setting
``WHISTLE_STATS_THRESHOLD``): a number ``0 < n < t`` is hidden, and so is whatever else would
give it back. A year's figures are the sums of its quarters' and months', so the tables of all
17 periods of a year, and of all dimensions (which share one total), are suppressed together by
:mod:`whistle.suppression`; the period asked for is then cut from that. Medians are shown only
when they rest on at least ``t`` cases.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, select

from whistle import cases, deadlines, numbers, routing, suppression
from whistle.models import Case, CaseStatistic

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
    """The period is not a year, a quarter or a month that :meth:`Period.parse` reads."""


KINDS = ("year", "quarter", "month")
FIRST_YEAR, LAST_YEAR = 1970, 9998


@dataclass(frozen=True)
class Period:
    """A fixed reporting period: a calendar year, a quarter of one, or a month of one."""

    kind: str  # year | quarter | month
    year: int
    number: int = 0  # the quarter (1-4) or the month (1-12); 0 for a year

    def __post_init__(self) -> None:
        limit = {"year": 0, "quarter": 4, "month": 12}.get(self.kind)
        if limit is None or not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise PeriodError("invalid-period")
        if (limit == 0 and self.number != 0) or (limit and not 1 <= self.number <= limit):
            raise PeriodError("invalid-period")

    @classmethod
    def year_of(cls, today: dt.date) -> Period:
        return cls("year", today.year)

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026``, ``2026-Q3`` or ``2026-07`` (ASCII digits only)."""
        year_text, _, part = text.strip().upper().partition("-")
        year = numbers.parse(year_text, max_digits=4)
        if year is None:
            raise PeriodError("invalid-period")
        if not part:
            return cls("year", year)
        if part.startswith("Q"):
            quarter = numbers.parse(part[1:], max_digits=1)
            return cls("quarter", year, quarter if quarter is not None else -1)
        month = numbers.parse(part, max_digits=2) if len(part) == 2 else None
        return cls("month", year, month if month is not None else -1)

    def token(self) -> str:
        if self.kind == "year":
            return str(self.year)
        return (
            f"{self.year}-Q{self.number}"
            if self.kind == "quarter"
            else f"{self.year}-{self.number:02d}"
        )

    @property
    def months(self) -> tuple[int, ...]:
        if self.kind == "year":
            return tuple(range(1, 13))
        if self.kind == "quarter":
            return tuple(range(3 * self.number - 2, 3 * self.number + 1))
        return (self.number,)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.months[0], 1)

    @property
    def end(self) -> dt.date:
        return deadlines.add_months(dt.date(self.year, self.months[-1], 1), 1) - dt.timedelta(
            days=1
        )

    def children(self) -> tuple[Period, ...]:
        """The periods this one is the sum of: a year's quarters, a quarter's months."""
        if self.kind == "year":
            return tuple(Period("quarter", self.year, q) for q in range(1, 5))
        if self.kind == "quarter":
            return tuple(Period("month", self.year, m) for m in self.months)
        return ()

    def family(self) -> tuple[Period, ...]:
        """Every period of this one's year: the only periods whose figures overlap it."""
        year = Period("year", self.year)
        quarters = year.children()
        return (year, *quarters, *(m for q in quarters for m in q.children()))


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
    """One table on its own, with the module's suppression rule applied."""
    alone = suppression.Family(name, {0: list(counts)})
    [(_, table)] = suppression.suppress([alone], children=lambda _p: (), threshold=threshold)[
        name
    ].items()
    return Table(name, tuple(Cell(k, v) for k, v in table.cells), table.total)


def median(values: Iterable[int], *, threshold: int) -> Median:
    ordered = sorted(values)
    n = len(ordered)
    if n < threshold or n == 0:
        return Median(None)
    middle = n // 2
    days = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return Median(float(days))


def _facts(db: Session, *, period: Period, today: dt.date) -> list[tuple[int, Fact]]:
    """(month of receipt, fact) of every case received in the period, live or deleted."""
    live = db.exec(
        select(Case).where(Case.received_on >= period.start, Case.received_on <= period.end)
    ).all()
    kept = db.exec(
        select(CaseStatistic).where(
            CaseStatistic.received_month >= period.start,
            CaseStatistic.received_month <= period.end,
        )
    ).all()
    return [(c.received_on.month, fact_of_case(c, today=today)) for c in live] + [
        (r.received_month.month, _fact_of_row(r)) for r in kept
    ]


def _names(db: Session, facts: list[Fact]) -> tuple[dict[str, tuple[str, str]], ...]:
    """Units and categories to list: the active ones, and any inactive one that has cases."""
    used_units = {f.unit_key for f in facts}
    used_categories = {f.category_key for f in facts}
    units = {
        str(u.id): (u.name_sv, u.name_en)
        for u in routing.ordered_units(db)
        if u.active or str(u.id) in used_units
    }
    categories = {
        str(c.id): (c.name_sv, c.name_en)
        for c in routing.ordered_categories(db)
        if c.active or str(c.id) in used_categories
    }
    return units, categories


def _keys(known: Sequence[str], values: Iterable[str]) -> list[str]:
    # A key no longer configured (a deleted unit) still counts, after the known ones.
    return [*known, *sorted(set(values) - set(known))]


# Each table: its cells, what a fact counts as, and which facts it counts (the outcome table:
# closed cases only, so its total is its own).
DIMENSIONS: dict[str, Callable[[Fact], str]] = {
    "unit": lambda f: f.unit_key,
    "category": lambda f: f.category_key,
    "channel": lambda f: f.channel,
    "identity": lambda f: "named" if f.identity_given else "anonymous",
    "acknowledgement": lambda f: f.ack_state,
    "feedback": lambda f: f.feedback_state,
    "outcome": lambda f: f.outcome or "",
}


def _suppress_all(
    counts: dict[str, dict[Period, list[tuple[str, int]]]], *, threshold: int
) -> dict[str, dict[Period, Table]]:
    """Every dimension's tables for every period of the year, suppressed together."""
    families = [
        suppression.Family(name, by_period, shares_total=name != "outcome")
        for name, by_period in counts.items()
    ]
    shown = suppression.suppress(families, children=Period.children, threshold=threshold)
    return {
        name: {
            p: Table(name, tuple(Cell(k, v) for k, v in table.cells), table.total)
            for p, table in by_period.items()
        }
        for name, by_period in shown.items()
    }


def compute(db: Session, *, period: Period, threshold: int, today: dt.date) -> Statistics:
    """The period's tables, suppressed together with every other period of its year (whose
    figures overlap it), so that comparing them gives no hidden number back."""
    family = period.family()
    dated = _facts(db, period=family[0], today=today)
    units, categories = _names(db, [f for _, f in dated])
    known = {
        "unit": [*units, NONE_KEY],
        "category": [*categories, NONE_KEY],
        "channel": list(CHANNELS),
        "identity": list(IDENTITIES),
        "acknowledgement": list(ACK_STATES),
        "feedback": list(FEEDBACK_STATES),
        "outcome": list(OUTCOMES),
    }
    counts: dict[str, dict[Period, list[tuple[str, int]]]] = {}
    for name, key_of in DIMENSIONS.items():
        counted = [(m, key_of(f)) for m, f in dated if name != "outcome" or f.outcome is not None]
        keys = _keys(known[name], (k for _, k in counted))
        counts[name] = {}
        for p in family:
            tally = Counter(k for m, k in counted if m in p.months)
            counts[name][p] = [(k, tally[k]) for k in keys]
    tables = _suppress_all(counts, threshold=threshold)
    facts = [f for m, f in dated if m in period.months]
    return Statistics(
        period=period,
        threshold=threshold,
        tables=tuple(tables[name][period] for name in DIMENSIONS),
        ack_median=median(
            (f.ack_days for f in facts if f.ack_days is not None), threshold=threshold
        ),
        feedback_median=median(
            (f.feedback_days for f in facts if f.feedback_days is not None), threshold=threshold
        ),
        unit_names=units,
        category_names=categories,
    )
