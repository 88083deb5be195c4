"""Four eyes on new readers: a route line takes effect only when an investigator approves it.

An administrator cannot read case content, but before this module could make someone who
does: invite a look-alike account, activate it with the link shown on the admin's screen, add a
route line, and wait (security review, issue 12, finding 2). Now every new line — added on the
admin pages or with the CLI — is *pending*: it gives no wraps and no reporter sees it, until an
active investigator approves it who reads that kind of report already (holds an active line of
its category, or is in the triage group), is not the person on the line, and is not an
administrator (administrators have no key pair and are never investigators).

Exceptions, each recorded in the audit log:

- Set-up: while no other investigator has ever been activated there is nobody to ask, so the
  line takes effect at once (``route_first_reader``). Deactivating every investigator does not
  reopen this: a deactivated account keeps its key pair.
- When nobody reads the category yet and there is no triage group, any other active
  investigator of the function approves (a new category must not be stuck, nor open to one
  pair of eyes).

Every investigator sees pending lines and recent changes to who reads on ``/readers``, so an
administrator's change is visible to the people whose cases it concerns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy import select as core_select
from sqlmodel import Session, col, delete, func, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from whistle import audit, routing
from whistle.errors import DomainError
from whistle.models import AuditEntry, Designation, User, utcnow

PENDING, ACTIVE = "pending", "active"
# What /readers lists as changes to who reads (and the inbox counts as recent).
CHANGES = (
    "route_added",
    "route_first_reader",
    "route_approved",
    "route_declined",
    "route_removed",
    "account_invited",
    "account_activated",
    "account_deactivated",
    "account_reactivated",
)
RECENT = dt.timedelta(days=14)


class ApprovalError(DomainError):
    """A refused request; ``code`` names why (:mod:`whistle.errors`)."""


def _line_detail(row: Designation) -> str:
    return f"unit {row.unit_id or '*'} category {row.category_id or 'triage'}"


def _ever_activated(db: Session, *, other_than: str) -> bool:
    """Has any other investigator ever set a password (a key pair survives deactivation)?"""
    stmt = select(User.id).where(
        User.role == "investigator", User.id != other_than, col(User.public_key).is_not(None)
    )
    return db.exec(stmt.limit(1)).first() is not None


def request_line(
    db: Session,
    *,
    actor_id: str | None,
    user_id: str,
    category_id: int | None,
    unit_id: int | None = None,
    now: dt.datetime | None = None,
) -> Designation:
    """Add a route line: pending, or in effect at once under the set-up exception.

    ``actor_id`` None: the CLI (the operator at the server's console)."""
    row, created = routing.designate(
        db, user_id=user_id, category_id=category_id, unit_id=unit_id, requested_by=actor_id
    )
    if not created:
        return row
    first = not _ever_activated(db, other_than=user_id)
    audit.record(
        db,
        action="route_added",
        actor_id=actor_id,
        subject_id=user_id,
        detail=_line_detail(row) + (" in effect" if first else " pending"),
    )
    if first:
        row.status, row.approved_at = ACTIVE, now or utcnow()
        db.add(row)
        audit.record(db, action="route_first_reader", actor_id=actor_id, subject_id=user_id)
    return row


def _readers_of(row: Designation) -> ColumnElement[bool]:
    triage = col(Designation.category_id).is_(None) & col(Designation.unit_id).is_(None)
    if row.category_id is None:
        return triage
    return or_(triage, col(Designation.category_id) == row.category_id)


def approvers(db: Session, row: Designation) -> list[User]:
    """Who may approve or decline this line (see the module docstring)."""
    base = select(User).where(
        User.role == "investigator",
        User.status == "active",
        col(User.public_key).is_not(None),
        User.id != row.user_id,
    )
    readers = (
        base.join(Designation, col(Designation.user_id) == col(User.id))
        .where(Designation.status == ACTIVE, _readers_of(row))
        .distinct()
    )
    found = list(db.exec(readers.order_by(col(User.display_name))).all())
    if found or _has_readers(db, row):
        return found
    return list(db.exec(base.order_by(col(User.display_name))).all())


def _has_readers(db: Session, row: Designation) -> bool:
    """Someone (even inactive now) holds this kind of report: then only they may approve."""
    stmt = (
        select(func.count())
        .select_from(Designation)
        .where(Designation.status == ACTIVE, _readers_of(row))
    )
    return int(db.exec(stmt).one()) > 0


def _decide(db: Session, *, approver_id: str, designation_id: int) -> Designation:
    row = db.get(Designation, designation_id)
    if row is None or row.status != PENDING:
        raise ApprovalError("not-pending")
    if row.user_id == approver_id:
        raise ApprovalError("not-yourself")
    if approver_id not in {u.id for u in approvers(db, row)}:
        raise ApprovalError("not-an-approver")
    return row


def approve(
    db: Session, *, approver_id: str, designation_id: int, now: dt.datetime | None = None
) -> Designation:
    row = _decide(db, approver_id=approver_id, designation_id=designation_id)
    row.status, row.approved_by, row.approved_at = ACTIVE, approver_id, now or utcnow()
    db.add(row)
    audit.record(
        db,
        action="route_approved",
        actor_id=approver_id,
        subject_id=row.user_id,
        detail=_line_detail(row),
    )
    return row


def decline(db: Session, *, approver_id: str, designation_id: int) -> None:
    row = _decide(db, approver_id=approver_id, designation_id=designation_id)
    db.exec(delete(Designation).where(col(Designation.id) == designation_id))
    audit.record(
        db,
        action="route_declined",
        actor_id=approver_id,
        subject_id=row.user_id,
        detail=_line_detail(row),
    )


@dataclass(frozen=True)
class Pending:
    line: routing.RouteLine
    requested_by: User | None
    may_decide: bool


@dataclass(frozen=True)
class ReadersView:
    pending: list[Pending]
    lines: list[routing.RouteLine]  # in effect
    changes: list[AuditEntry]
    people: dict[str, User]


def readers_view(db: Session, *, user_id: str, limit: int = 50) -> ReadersView:
    """What an investigator's readers page shows: lines awaiting approval (and which this
    person may decide), the lines in effect, and the newest changes to who reads."""
    people = {u.id: u for u in db.exec(select(User)).all()}
    pending = [
        Pending(
            line=line,
            requested_by=people.get(line.row.requested_by or ""),
            may_decide=user_id in {u.id for u in approvers(db, line.row)},
        )
        for line in routing.route_table(db, status=PENDING)
    ]
    changes = db.exec(
        select(AuditEntry)
        .where(col(AuditEntry.action).in_(CHANGES))
        .order_by(col(AuditEntry.id).desc())
        .limit(limit)
    ).all()
    return ReadersView(
        pending=pending,
        lines=routing.route_table(db, status=ACTIVE),
        changes=list(changes),
        people=people,
    )


@dataclass(frozen=True)
class Notice:
    pending: int  # lines awaiting approval
    recent: int  # changes to who reads in the last two weeks


def notice(db: Session, *, now: dt.datetime | None = None) -> Notice:
    """For the inbox: so every investigator notices an administrator's change."""
    # One statement for both counts: this runs on every inbox page.
    pending = (
        select(func.count())
        .select_from(Designation)
        .where(Designation.status == PENDING)
        .scalar_subquery()
    )
    recent = recent_changes((now or utcnow()) - RECENT).scalar_subquery()
    both = db.connection().execute(core_select(pending, recent)).one()
    return Notice(pending=int(both[0]), recent=int(both[1]))


def recent_changes(since: dt.datetime) -> SelectOfScalar[int]:
    """How many changes to who reads were logged since ``since``: read along the audit log's
    index on (action, at) (ix_audit_entries_action_at), so every inbox page costs the same
    however long the log grows."""
    return (
        select(func.count())
        .select_from(AuditEntry)
        .where(col(AuditEntry.action).in_(CHANGES), col(AuditEntry.at) >= since)
    )
