"""The investigator's inbox: the cases they hold, filtered, counted and in order.

A page is read along an index in inbox order and stops after one row more than a page, so it
does not slow down as closed cases pile up over the years (bench: inbox_growth). The counts
are of the *open* cases only, which a function's workload bounds; closed cases are reached by
the status filter but never counted, since counting them would grow with the whole history.
Past ``COUNT_CAP`` open cases no numbers are given at all, so even an unrealistic caseload
costs one bounded index walk.
Everything here is clear metadata: no case key is needed, and none is used.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Executable, and_, case, func, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from whistle import cases, deadlines
from whistle.casework import holds, reference
from whistle.models import Case, CaseLabel

SHOWS = ("", "mine", "unassigned", "overdue", "week")
SORTS = ("deadline", "received")
OPEN_STATUSES = tuple(s for s in cases.STATUSES if s != "closed")
WEEK = dt.timedelta(days=7)
COUNT_CAP = 1000
RARE_LABEL = 1000  # a label on at most this many cases is read from its own rows first


def _number(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


@dataclass(frozen=True)
class InboxQuery:
    """What the investigator asked for in the query string; anything unknown is ignored."""

    show: str = ""
    status: str = ""
    category: int | None = None
    unit: int | None = None
    label: int | None = None
    sort: str = "deadline"
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> InboxQuery:
        raw_page = params.get("page", "1")
        return cls(
            show=params.get("show", "") if params.get("show", "") in SHOWS else "",
            status=params.get("status", "") if params.get("status", "") in cases.STATUSES else "",
            category=_number(params.get("category", "")),
            unit=_number(params.get("unit", "")),
            label=_number(params.get("label", "")),
            sort=params.get("sort", "") if params.get("sort", "") in SORTS else "deadline",
            page=int(raw_page)
            if raw_page.isascii() and raw_page.isdigit() and 0 < len(raw_page) < 7
            else 1,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        chosen = replace(self, **changes)
        out = {
            "show": chosen.show,
            "status": chosen.status,
            "category": "" if chosen.category is None else str(chosen.category),
            "unit": "" if chosen.unit is None else str(chosen.unit),
            "label": "" if chosen.label is None else str(chosen.label),
            "sort": "" if chosen.sort == "deadline" else chosen.sort,
            "page": "" if chosen.page == 1 else str(chosen.page),
        }
        return {k: v for k, v in out.items() if v}

    def url(self, **changes: Any) -> str:
        """The inbox with this query, changed as given (filters always restart at page 1)."""
        changes.setdefault("page", 1)
        query = urlencode(self.params(**changes))
        return "/inbox" + (f"?{query}" if query else "")

    @property
    def filtered(self) -> bool:
        return bool(self.show or self.status or self.category or self.unit or self.label)


@dataclass(frozen=True)
class InboxRow:
    case_id: str
    reference: str
    status: str
    category_id: int | None
    unit_id: int | None
    received_on: dt.date
    ack_due: dt.date | None
    feedback_due: dt.date | None
    next_due: dt.date | None
    awaiting_investigator: bool
    lead_id: str | None
    task_due: dt.date | None
    label_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    page: int
    has_next: bool


@dataclass(frozen=True)
class InboxCounts:
    """How many open cases each filter would show (open cases only, see module docstring)."""

    open: int = 0
    capped: bool = False  # more than COUNT_CAP open cases: no numbers are shown
    shows: dict[str, int] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    category: dict[int | None, int] = field(default_factory=dict)
    unit: dict[int | None, int] = field(default_factory=dict)
    label: dict[int, int] = field(default_factory=dict)


def _conditions(query: InboxQuery, *, user_id: str, today: dt.date) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = [holds(user_id)]
    if query.show == "mine":
        found.append(col(Case.lead_id) == user_id)
    elif query.show == "unassigned":
        found.append(col(Case.lead_id).is_(None))
    elif query.show == "overdue":
        found.append(or_(col(Case.next_due) < today, col(Case.task_due) < today))
    elif query.show == "week":
        end = today + WEEK
        found.append(
            or_(
                and_(col(Case.next_due) >= today, col(Case.next_due) < end),
                and_(col(Case.task_due) >= today, col(Case.task_due) < end),
            )
        )
    if query.status:
        found.append(col(Case.status) == query.status)
    if query.category is not None:
        found.append(col(Case.category_id) == query.category)
    if query.unit is not None:
        found.append(col(Case.unit_id) == query.unit)
    return found


def _label_condition(db: Session, label_id: int) -> ColumnElement[bool] | None:
    """Which cases carry the label. A label on few cases is read first (along
    ix_case_labels_label_id_case_id) and the cases are fetched by id: walking the cases in inbox
    order and probing each for a rare label read the whole table before it found nothing (a
    label on no case cost 15 ms at 100,000 cases). A common label is probed case by case, which
    finds a page of hits early. None: no case carries it."""
    tagged = (
        db.connection()
        .execute(
            core_select(col(CaseLabel.case_id))
            .where(col(CaseLabel.label_id) == label_id)
            .limit(RARE_LABEL + 1)
        )
        .scalars()
        .all()
    )
    if not tagged:
        return None
    if len(tagged) <= RARE_LABEL:
        return col(Case.id).in_(list(tagged))
    return col(Case.id).in_(select(CaseLabel.case_id).where(CaseLabel.label_id == label_id))


# What a row of the inbox shows, read as plain rows: building fifty ORM objects of the whole
# case row cost more than the query (bench: inbox_100k).
_COLUMNS = (
    col(Case.id),
    col(Case.status),
    col(Case.category_id),
    col(Case.unit_id),
    col(Case.received_on),
    col(Case.ack_due),
    col(Case.acknowledged_on),
    col(Case.ack_waived),
    col(Case.ack_withheld),
    col(Case.feedback_due),
    col(Case.feedback_given_on),
    col(Case.next_due),
    col(Case.awaiting_investigator),
    col(Case.lead_id),
    col(Case.task_due),
)


def _rows(db: Session, stmt: Executable) -> list[Any]:  # rows with the _COLUMNS
    return list(db.connection().execute(stmt).all())


def _by_deadline(
    db: Session, where: list[ColumnElement[bool]], *, offset: int, limit: int
) -> list[Any]:
    """Cases with a deadline first (nearest first), then the rest; each part is its own query
    because SQLite sorts NULL first and cannot use an index for ``next_due IS NULL`` as a sort
    key. Ties go to the newest case, then by id (any fixed order would do)."""
    held = core_select(*_COLUMNS).where(*where)
    due = _rows(
        db,
        held.where(col(Case.next_due).is_not(None))
        .order_by(col(Case.next_due), col(Case.received_on).desc(), col(Case.id).desc())
        .offset(offset)
        .limit(limit),
    )
    if len(due) == limit:
        return due
    if due:
        due_total = offset + len(due)
    else:
        due_total = db.exec(
            select(func.count()).select_from(Case).where(col(Case.next_due).is_not(None), *where)
        ).one()
    rest = _rows(
        db,
        held.where(col(Case.next_due).is_(None))
        .order_by(col(Case.received_on).desc(), col(Case.id).desc())
        .offset(max(0, offset - due_total))
        .limit(limit - len(due)),
    )
    return due + rest


def _labels_of(db: Session, case_ids: list[str]) -> dict[str, tuple[int, ...]]:
    if not case_ids:
        return {}
    found: dict[str, list[int]] = {}
    stmt = core_select(col(CaseLabel.case_id), col(CaseLabel.label_id)).where(
        col(CaseLabel.case_id).in_(case_ids)
    )
    for case_id, label_id in db.connection().execute(stmt):
        found.setdefault(case_id, []).append(label_id)
    return {case_id: tuple(sorted(ids)) for case_id, ids in found.items()}


def inbox(
    db: Session,
    *,
    user_id: str,
    query: InboxQuery | None = None,
    page_size: int = 50,
    today: dt.date | None = None,
) -> InboxPage:
    """One page of the cases this investigator holds a key for, filtered and sorted."""
    query = query or InboxQuery()
    today = today or deadlines.today()
    where = _conditions(query, user_id=user_id, today=today)
    if query.label is not None:
        tagged = _label_condition(db, query.label)
        if tagged is None:  # no case carries the label: nothing to walk
            return InboxPage(rows=[], page=query.page, has_next=False)
        where.append(tagged)
    offset, limit = (query.page - 1) * page_size, page_size + 1
    if query.sort == "received":
        found = _rows(
            db,
            core_select(*_COLUMNS)
            .where(*where)
            .order_by(col(Case.received_on).desc(), col(Case.id).desc())
            .offset(offset)
            .limit(limit),
        )
    else:
        found = _by_deadline(db, where, offset=offset, limit=limit)
    shown = found[:page_size]
    labels = _labels_of(db, [c.id for c in shown])
    rows = [
        InboxRow(
            case_id=c.id,
            reference=reference(c.id),
            status=c.status,
            category_id=c.category_id,
            unit_id=c.unit_id,
            received_on=c.received_on,
            ack_due=None if (c.acknowledged_on or c.ack_waived or c.ack_withheld) else c.ack_due,
            feedback_due=None if c.feedback_given_on else c.feedback_due,
            next_due=c.next_due,
            awaiting_investigator=c.awaiting_investigator,
            lead_id=c.lead_id,
            task_due=c.task_due,
            label_ids=labels.get(c.id, ()),
        )
        for c in shown
    ]
    return InboxPage(rows=rows, page=query.page, has_next=len(found) > page_size)


def counts(db: Session, *, user_id: str, today: dt.date | None = None) -> InboxCounts:
    """How many of the investigator's open cases each filter shows: one grouped query over the
    open cases (read along ix_cases_status_next_due) and one for the labels."""
    today = today or deadlines.today()
    end = today + WEEK
    overdue = or_(col(Case.next_due) < today, col(Case.task_due) < today)
    week = or_(
        and_(col(Case.next_due) >= today, col(Case.next_due) < end),
        and_(col(Case.task_due) >= today, col(Case.task_due) < end),
    )
    flags = (
        col(Case.status),
        col(Case.category_id),
        col(Case.unit_id),
        case((col(Case.lead_id) == user_id, 1), else_=0),
        case((col(Case.lead_id).is_(None), 1), else_=0),
        case((overdue, 1), else_=0),
        case((week, 1), else_=0),
    )
    open_held = and_(col(Case.status).in_(OPEN_STATUSES), holds(user_id))
    # Counting is bounded: past COUNT_CAP open cases the numbers are not shown at all (a
    # count of only some of them would mislead), so no page walks an unbounded caseload.
    capped = core_select(col(Case.id)).where(open_held).limit(COUNT_CAP + 1).subquery()
    if (
        db.connection().execute(core_select(func.count()).select_from(capped)).scalar_one()
        > COUNT_CAP
    ):
        return InboxCounts(open=COUNT_CAP + 1, capped=True)
    groups = db.connection().execute(
        core_select(*flags, func.count()).where(open_held).group_by(*flags)
    )
    total = 0
    shows: Counter[str] = Counter()
    status: Counter[str] = Counter()
    category: Counter[int | None] = Counter()
    unit: Counter[int | None] = Counter()
    for st, cat, un, mine, unassigned, late, soon, n in groups:
        total += n
        status[st] += n
        category[cat] += n
        unit[un] += n
        shows.update({"mine": mine * n, "unassigned": unassigned * n})
        shows.update({"overdue": late * n, "week": soon * n})
    label_counts: Counter[int] = Counter()
    # Without a label on any case there is nothing to count (and no walk over the open cases).
    if total and db.exec(select(CaseLabel.label_id).limit(1)).first() is not None:
        label_rows = db.exec(
            select(CaseLabel.label_id, func.count())
            .join(Case, col(Case.id) == col(CaseLabel.case_id))
            .where(open_held)
            .group_by(col(CaseLabel.label_id))
        ).all()
        label_counts.update({label_id: n for label_id, n in label_rows})
    return InboxCounts(
        open=total,
        shows={k: shows.get(k, 0) for k in ("mine", "unassigned", "overdue", "week")},
        status=dict(status),
        category=dict(category),
        unit=dict(unit),
        label=dict(label_counts),
    )
