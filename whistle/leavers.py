"""A leaver's cases: granting them all to a successor in one step, and releasing the leaver's
own access once someone else can read each case.

Only someone who can open a case can give it to another (they need its key): an investigator
who holds the leaver's cases, or the head of the function with the offline continuity key
(``whistle leaver-grant``). The successor gets every case they could be given one by one
(designated for its kind of report, not excluded by the reporter); the others are listed as
needing another reader, never granted. A deactivated leaver's wraps are deleted case by case
as soon as an active colleague also reads the case; until then the administrator sees which
cases block it (by reference only: the administrator reads nothing of a case).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import delete, exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from whistle import audit, casework, crypto
from whistle.casework import CaseworkError
from whistle.models import Case, CaseItem, CaseKeyWrap, User

CONTINUITY = "continuity"


@dataclass
class Plan:
    """What a bulk grant does (a preview) or did."""

    leaver: User
    successor: User
    grant: list[str] = field(default_factory=list)  # case ids the successor gets
    already: list[str] = field(default_factory=list)  # the successor reads them already
    excluded: list[str] = field(default_factory=list)  # the reporter excluded the successor
    outside: list[str] = field(default_factory=list)  # the successor is not designated for it
    unreadable: int = 0  # the leaver's cases the one granting cannot open

    @property
    def blocked(self) -> list[str]:
        """Cases that still need another reader than the successor."""
        return self.excluded + self.outside


def _investigator(db: Session, user_id: str) -> User:
    user = db.get(User, user_id[:32]) if user_id else None
    if user is None or user.role != "investigator":
        raise CaseworkError("bad-leaver")
    return user


def _leaver_case_ids(db: Session, leaver_id: str) -> list[str]:
    return list(
        db.exec(
            select(CaseKeyWrap.case_id)
            .where(CaseKeyWrap.user_id == leaver_id)
            .order_by(col(CaseKeyWrap.case_id))
        ).all()
    )


def _excluded_ids(db: Session, case_id: str, key: bytes) -> set[str]:
    rows = db.exec(
        select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.kind == "exclusions")
    ).all()
    found: set[str] = set()
    for item in rows:
        plain = crypto.open_sealed(
            key, item.sealed, purpose="item:exclusions", case_id=case_id, item_id=item.id
        )
        found |= set(json.loads(plain).get("user_ids", []))
    return found


def _classify(db: Session, plan: Plan, case: Case, key: bytes) -> None:
    successor = plan.successor
    if db.get(CaseKeyWrap, (case.id, successor.id)) is not None:
        plan.already.append(case.id)
        return
    excluded = _excluded_ids(db, case.id, key)
    if successor.id in excluded:
        plan.excluded.append(case.id)
        return
    candidates = casework.grant_candidates(db, case=case, excluded=excluded)
    if successor.id not in {u.id for u in candidates}:
        plan.outside.append(case.id)
        return
    plan.grant.append(case.id)


def _opened(
    db: Session, *, plan: Plan, user_id: str, private_key: bytes
) -> list[tuple[Case, bytes]]:
    unwrapper = crypto.Unwrapper(private_key)
    found = []
    for case_id in _leaver_case_ids(db, plan.leaver.id):
        wrap = db.get(CaseKeyWrap, (case_id, user_id))
        case = db.get(Case, case_id)
        if wrap is None or case is None:
            plan.unreadable += 1
            continue
        try:
            key = unwrapper.unwrap(wrap.wrapped, case_id=case_id, recipient_id=user_id)
        except crypto.CryptoError:
            plan.unreadable += 1
            continue
        found.append((case, key))
    return found


def _plan(db: Session, *, leaver_id: str, successor_id: str) -> Plan:
    leaver, successor = _investigator(db, leaver_id), _investigator(db, successor_id)
    if leaver.id == successor.id or successor.status != "active" or successor.public_key is None:
        raise CaseworkError("bad-successor")
    return Plan(leaver=leaver, successor=successor)


def _grant(db: Session, plan: Plan, opened: list[tuple[Case, bytes]], actor: str | None) -> None:
    for case, key in opened:
        if case.id not in plan.grant:
            continue
        assert plan.successor.public_key is not None
        wrapped = crypto.wrap_key(
            key, plan.successor.public_key, case_id=case.id, recipient_id=plan.successor.id
        )
        db.add(CaseKeyWrap(case_id=case.id, user_id=plan.successor.id, wrapped=wrapped))
        audit.record(
            db,
            action="access_granted" if actor else "continuity_grant",
            actor_id=actor,
            case_id=case.id,
            subject_id=plan.successor.id,
            detail="leaver",
        )
    db.flush()
    if plan.leaver.status == "disabled":
        release(db, leaver_id=plan.leaver.id)


def grant_all(
    db: Session,
    *,
    user_id: str,
    private_key: bytes,
    leaver_id: str,
    successor_id: str,
    confirm: bool,
) -> Plan:
    """Preview (``confirm`` False) or grant every case of the leaver that this investigator
    can open to the successor, except those the successor may not be given."""
    plan = _plan(db, leaver_id=leaver_id, successor_id=successor_id)
    opened = _opened(db, plan=plan, user_id=user_id, private_key=private_key)
    for case, key in opened:
        _classify(db, plan, case, key)
    if confirm:
        _grant(db, plan, opened, actor=user_id)
    return plan


def grant_all_with_continuity(
    db: Session, *, private_key: bytes, leaver_id: str, successor_id: str
) -> Plan:
    """The same with the offline continuity key, for cases nobody active can open."""
    plan = _plan(db, leaver_id=leaver_id, successor_id=successor_id)
    unwrapper = crypto.Unwrapper(private_key)
    opened = []
    for case_id in _leaver_case_ids(db, plan.leaver.id):
        case = db.get(Case, case_id)
        if case is None or case.continuity_wrap is None:
            plan.unreadable += 1
            continue
        try:
            key = unwrapper.unwrap(case.continuity_wrap, case_id=case_id, recipient_id=CONTINUITY)
        except crypto.CryptoError:
            plan.unreadable += 1
            continue
        opened.append((case, key))
        _classify(db, plan, case, key)
    _grant(db, plan, opened, actor=None)
    return plan


@dataclass(frozen=True)
class Release:
    deleted: int
    blocking: list[str]  # case ids only the leaver can read among active people


def release(db: Session, *, leaver_id: str) -> Release:
    """Delete a deactivated leaver's wraps of the cases an active colleague also reads."""
    user = db.get(User, leaver_id)
    if user is None or user.status != "disabled":
        return Release(deleted=0, blocking=[])
    other = aliased(CaseKeyWrap)
    active = aliased(User)
    covered = exists().where(
        col(other.case_id) == col(CaseKeyWrap.case_id),
        col(other.user_id) != leaver_id,
        col(active.id) == col(other.user_id),
        col(active.status) == "active",
    )
    case_ids = list(
        db.exec(select(CaseKeyWrap.case_id).where(CaseKeyWrap.user_id == leaver_id, covered)).all()
    )
    for case_id in case_ids:
        db.exec(
            delete(CaseKeyWrap).where(
                col(CaseKeyWrap.case_id) == case_id, col(CaseKeyWrap.user_id) == leaver_id
            )
        )
        case = db.get(Case, case_id)
        if case is not None and case.lead_id == leaver_id:
            case.lead_id = None
            db.add(case)
        audit.record(db, action="leaver_released", case_id=case_id, subject_id=leaver_id)
    blocking = [c for c in _leaver_case_ids(db, leaver_id) if c not in set(case_ids)]
    return Release(deleted=len(case_ids), blocking=blocking)


def release_all(db: Session) -> int:
    """The job: release every deactivated investigator who still holds wraps."""
    leavers = db.exec(
        select(User.id)
        .where(User.status == "disabled", User.role == "investigator")
        .where(exists().where(col(CaseKeyWrap.user_id) == col(User.id)))
    ).all()
    return sum(release(db, leaver_id=leaver_id).deleted for leaver_id in leavers)


def blocking_cases(db: Session, *, leaver_id: str) -> list[str]:
    """References of the cases no active colleague reads yet: they keep the leaver's wraps."""
    other = aliased(CaseKeyWrap)
    active = aliased(User)
    covered = exists().where(
        col(other.case_id) == col(CaseKeyWrap.case_id),
        col(other.user_id) != leaver_id,
        col(active.id) == col(other.user_id),
        col(active.status) == "active",
    )
    rows = db.exec(
        select(CaseKeyWrap.case_id).where(CaseKeyWrap.user_id == leaver_id, ~covered)
    ).all()
    return sorted(casework.reference(case_id) for case_id in rows)
