"""What an administrator may change: units, categories, the route table and accounts.

Every change is audited. Nothing here touches a case key, a wrap or case content: an
administrator configures who *will* read new cases, never who reads an existing one (only a
holder can grant, see :mod:`whistle.casework`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from whistle import accounts, approvals, audit, leavers, records, routing, sessions
from whistle.errors import DomainError
from whistle.models import Case, CaseKeyWrap, Category, Designation, Unit, User

MAX_NAME = 200


class AdminError(DomainError):
    """A refused request; ``code`` names why (:mod:`whistle.errors`)."""


def _names(name_sv: str, name_en: str) -> tuple[str, str]:
    sv, en = name_sv.strip(), name_en.strip()
    if not sv or not en:
        raise AdminError("name-required")
    if len(sv) > MAX_NAME or len(en) > MAX_NAME:
        raise AdminError("name-too-long")
    return sv, en


def save_unit(
    db: Session,
    *,
    actor_id: str,
    name_sv: str,
    name_en: str,
    unit_id: int | None = None,
    active: bool = True,
    org_type: str = "",
    disposal_reference: str = "",
) -> Unit:
    """``org_type`` public or private (OSL 2 kap. 3 §; whistle/records.py), "" for the
    deployment's default; ``disposal_reference`` names the authority's disposal decision."""
    sv, en = _names(name_sv, name_en)
    if org_type not in ("", *records.ORG_TYPES):
        raise AdminError("invalid-type")
    reference = disposal_reference.strip()
    if len(reference) > MAX_NAME:
        raise AdminError("name-too-long")
    unit = db.get(Unit, unit_id) if unit_id is not None else Unit(name_sv=sv, name_en=en)
    if unit is None:
        raise AdminError("not-found")
    unit.name_sv, unit.name_en, unit.active = sv, en, active
    unit.org_type, unit.disposal_reference = org_type or None, reference
    db.add(unit)
    db.flush()
    detail = f"unit {unit.id} type {org_type or 'default'}"
    audit.record(db, action="unit_changed", actor_id=actor_id, detail=detail)
    return unit


def save_category(
    db: Session,
    *,
    actor_id: str,
    name_sv: str,
    name_en: str,
    description_sv: str = "",
    description_en: str = "",
    category_id: int | None = None,
    active: bool = True,
) -> Category:
    sv, en = _names(name_sv, name_en)
    if len(description_sv) > 1000 or len(description_en) > 1000:
        raise AdminError("name-too-long")
    category = (
        db.get(Category, category_id)
        if category_id is not None
        else Category(name_sv=sv, name_en=en)
    )
    if category is None:
        raise AdminError("not-found")
    category.name_sv, category.name_en, category.active = sv, en, active
    category.description_sv = description_sv.strip()
    category.description_en = description_en.strip()
    db.add(category)
    db.flush()
    audit.record(db, action="category_changed", actor_id=actor_id, detail=f"category {category.id}")
    return category


def add_route(
    db: Session, *, actor_id: str, user_id: str, category_id: int | None, unit_id: int | None
) -> Designation:
    """Ask for a route line: it stays pending until an investigator approves it (four eyes,
    :mod:`whistle.approvals`), so an administrator alone never makes a new reader."""
    try:
        return approvals.request_line(
            db, actor_id=actor_id, user_id=user_id, category_id=category_id, unit_id=unit_id
        )
    except routing.RoutingError as exc:
        raise AdminError(exc.code) from None


def remove_route(db: Session, *, actor_id: str, designation_id: int) -> None:
    row = routing.undesignate(db, designation_id=designation_id)
    if row is None:
        raise AdminError("not-found")
    audit.record(
        db,
        action="route_removed",
        actor_id=actor_id,
        subject_id=row.user_id,
        detail=f"unit {row.unit_id or '*'} category {row.category_id or 'triage'}",
    )


def invite(
    db: Session, *, actor_id: str, username: str, display_name: str, role: str, email: str = ""
) -> accounts.Invitation:
    try:
        invitation = accounts.create_user(
            db, username=username, display_name=display_name, role=role, email=email
        )
    except accounts.AccountError as exc:
        raise AdminError(exc.code) from None
    audit.record(db, action="account_invited", actor_id=actor_id, subject_id=invitation.user_id)
    return invitation


def stranded_cases(db: Session, *, user_id: str) -> int:
    """Cases that only this person can read and that have no continuity wrap: deactivating
    them leaves those cases readable by nobody until the continuity key is used."""
    holders = (
        select(CaseKeyWrap.case_id)
        .join(User, col(User.id) == col(CaseKeyWrap.user_id))
        .where(User.status == "active")
        .group_by(col(CaseKeyWrap.case_id))
        .having(func.count() == 1)
        .subquery()
    )
    stmt = (
        select(func.count())
        .select_from(CaseKeyWrap)
        .join(Case, col(Case.id) == col(CaseKeyWrap.case_id))
        .where(
            CaseKeyWrap.user_id == user_id,
            col(CaseKeyWrap.case_id).in_(select(holders.c.case_id)),
            col(Case.continuity_wrap).is_(None),
        )
    )
    return int(db.exec(stmt).one())


def set_account_status(db: Session, *, actor_id: str, user_id: str, active: bool) -> User:
    if user_id == actor_id and not active:
        raise AdminError("not-yourself")
    try:
        user = accounts.set_status(db, user_id=user_id, status="active" if active else "disabled")
    except accounts.AccountError as exc:
        raise AdminError(exc.code) from None
    if not active:
        sessions.destroy_for_user(db, user_id)
    audit.record(
        db,
        action="account_reactivated" if active else "account_deactivated",
        actor_id=actor_id,
        subject_id=user_id,
    )
    if not active:
        # A leaver keeps no access that a colleague already covers (whistle/leavers.py).
        leavers.release(db, leaver_id=user_id)
    return user


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]
    thin: list[routing.ThinRoute]
    users: list[User]


def overview(db: Session) -> Overview:
    counts = {
        status: int(n)
        for status, n in db.exec(select(Case.status, func.count()).group_by(col(Case.status))).all()
    }
    users = list(db.exec(select(User).order_by(col(User.role), col(User.display_name))).all())
    return Overview(counts=counts, thin=routing.thin_routes(db), users=users)
