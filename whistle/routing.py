"""Who may read a new case (7 kap. 6 §): the route table, the triage group and exclusions.

A route line names a category in one unit, or in every unit (unit None). The triage group (no
unit, no category) reads reports whose category is "don't know", and reports whose every
designated reader the reporter excluded. Administrators only edit this table; they are never
readers themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, delete, or_, select

from whistle.errors import DomainError
from whistle.models import Category, Designation, Unit, User

MIN_READERS = 2


class RoutingError(DomainError):
    """A refused request; ``code`` names why (:mod:`whistle.errors`)."""


def _readers(db: Session, condition: ColumnElement[bool]) -> list[User]:
    stmt = (
        select(User)
        .join(Designation, col(Designation.user_id) == col(User.id))
        .where(
            condition,
            # A pending line (whistle/approvals.py) reads nothing and is shown to nobody.
            Designation.status == "active",
            User.role == "investigator",
            User.status == "active",
            col(User.public_key).is_not(None),
        )
        .order_by(User.display_name, User.id)
        .distinct()
    )
    return list(db.exec(stmt).all())


def triage_group(db: Session) -> list[User]:
    return _readers(
        db, (col(Designation.category_id).is_(None)) & (col(Designation.unit_id).is_(None))
    )


def all_designated(db: Session) -> list[User]:
    """Every active investigator on any line of the route table."""
    return _readers(db, col(Designation.id).is_not(None))


def designated(db: Session, *, category_id: int | None, unit_id: int | None) -> list[User]:
    """The readers of a route: the category's lines for this unit and for every unit."""
    if category_id is None:
        return triage_group(db)
    unit_match: ColumnElement[bool] = col(Designation.unit_id).is_(None)
    if unit_id is not None:
        unit_match = or_(unit_match, col(Designation.unit_id) == unit_id)
    return _readers(db, (col(Designation.category_id) == category_id) & unit_match)


@dataclass(frozen=True)
class Recipients:
    readers: list[User]
    to_triage: bool  # every designated reader was excluded, or the category is "don't know"


def recipients(
    db: Session, *, category_id: int | None, unit_id: int | None, excluded: Iterable[str] = ()
) -> Recipients:
    """Who gets the case key, after the reporter's exclusions (enforced here, not in a form)."""
    skip = set(excluded)
    readers = [u for u in designated(db, category_id=category_id, unit_id=unit_id)]
    kept = [u for u in readers if u.id not in skip]
    if kept and category_id is not None:
        return Recipients(kept, to_triage=False)
    triage = [u for u in triage_group(db) if u.id not in skip]
    return Recipients(triage, to_triage=True)


def designate(
    db: Session,
    *,
    user_id: str,
    category_id: int | None,
    unit_id: int | None = None,
    requested_by: str | None = None,
) -> tuple[Designation, bool]:
    """Add a route line, pending until approved (see :mod:`whistle.approvals`, which is the
    way in); returns the line and whether it is new."""
    user = db.get(User, user_id)
    if user is None or user.role != "investigator":
        raise RoutingError("not-an-investigator")
    if category_id is not None and db.get(Category, category_id) is None:
        raise RoutingError("no-such-category")
    if unit_id is not None and db.get(Unit, unit_id) is None:
        raise RoutingError("no-such-unit")
    if category_id is None and unit_id is not None:
        raise RoutingError("triage-has-no-unit")
    exists = db.exec(
        select(Designation).where(
            Designation.user_id == user_id,
            _is(Designation.category_id, category_id),
            _is(Designation.unit_id, unit_id),
        )
    ).first()
    if exists is not None:
        return exists, False
    row = Designation(
        user_id=user_id, category_id=category_id, unit_id=unit_id, requested_by=requested_by
    )
    db.add(row)
    db.flush()
    return row, True


def undesignate(db: Session, *, designation_id: int) -> Designation | None:
    row = db.get(Designation, designation_id)
    if row is not None:
        db.exec(delete(Designation).where(col(Designation.id) == designation_id))
    return row


def _is(column: int | None, value: int | None) -> ColumnElement[bool]:
    return col(column).is_(None) if value is None else col(column) == value


@dataclass(frozen=True)
class RouteLine:
    id: int
    unit: Unit | None
    category: Category | None
    user: User
    row: Designation


def route_table(db: Session, *, status: str | None = None) -> list[RouteLine]:
    """Every line (or those with this status), oldest first."""
    units = {u.id: u for u in db.exec(select(Unit)).all()}
    categories = {c.id: c for c in db.exec(select(Category)).all()}
    users = {u.id: u for u in db.exec(select(User)).all()}
    lines = []
    stmt = select(Designation).order_by(col(Designation.id))
    if status is not None:
        stmt = stmt.where(Designation.status == status)
    for row in db.exec(stmt).all():
        assert row.id is not None
        lines.append(
            RouteLine(
                id=row.id,
                unit=units.get(row.unit_id) if row.unit_id is not None else None,
                category=categories.get(row.category_id) if row.category_id is not None else None,
                user=users[row.user_id],
                row=row,
            )
        )
    return lines


@dataclass(frozen=True)
class ThinRoute:
    unit: Unit | None
    category: Category | None
    readers: list[User]


def thin_routes(db: Session) -> list[ThinRoute]:
    """Routes that would leave fewer than two readers: one leaver and the cases are stranded."""
    out = []
    units: list[Unit | None] = [None, *active_units(db)]
    for category in active_categories(db):
        for unit in units:
            readers = designated(db, category_id=category.id, unit_id=unit.id if unit else None)
            if len(readers) < MIN_READERS:
                out.append(ThinRoute(unit, category, readers))
    triage = triage_group(db)
    if len(triage) < MIN_READERS:
        out.append(ThinRoute(None, None, triage))
    return out


def ordered_categories(db: Session, *, active_only: bool = False) -> list[Category]:
    """The categories in the order the organisation set (position, then id): every list of
    them (forms, the admin's pages, the statistics) reads them through here."""
    query = select(Category).order_by(col(Category.position), col(Category.id))
    if active_only:
        query = query.where(Category.active == True)  # noqa: E712
    return list(db.exec(query).all())


def ordered_units(db: Session, *, active_only: bool = False) -> list[Unit]:
    """The units in the organisation's order (position, then id), like the categories."""
    query = select(Unit).order_by(col(Unit.position), col(Unit.id))
    if active_only:
        query = query.where(Unit.active == True)  # noqa: E712
    return list(db.exec(query).all())


def active_categories(db: Session) -> list[Category]:
    return ordered_categories(db, active_only=True)


def active_units(db: Session) -> list[Unit]:
    return ordered_units(db, active_only=True)


def report_choices(db: Session) -> dict[str, object]:
    """The units and categories a report form offers (the written and the oral one)."""
    return {"categories": active_categories(db), "units": active_units(db)}
