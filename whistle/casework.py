"""The investigator's side of a case: opening, replying, notes, acknowledgement, status.

Every function that returns or changes case content first unwraps the case key with the
investigator's private key. Without a wrap row for that investigator there is no key, and the
caller gets :class:`~whistle.cases.CaseNotFound` — the same as for a case that does not exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists
from sqlmodel import Session, col, select

from whistle import audit, cases, crypto, deadlines, routing
from whistle.cases import CaseNotFound
from whistle.errors import DomainError
from whistle.models import AuditEntry, Case, CaseKeyWrap, Category, Unit, User, utcnow

MAX_MESSAGE = 20_000
AUDIT_ACTIONS = {
    "message": "message_sent",
    "note": "note_added",
    "acknowledgement": "acknowledgement_sent",
}


class CaseworkError(DomainError):
    """A refused request; ``code`` names why (:mod:`whistle.errors`)."""


def reference(case_id: str) -> str:
    """A short, neutral handle for a case (never derived from the case code)."""
    return case_id[:8].upper()


def holds(user_id: str) -> ColumnElement[bool]:
    """The investigator holds a wrap of the case: one primary-key probe per case."""
    return exists().where(
        col(CaseKeyWrap.case_id) == col(Case.id), col(CaseKeyWrap.user_id) == user_id
    )


def unlock(db: Session, *, case_id: str, user_id: str, private_key: bytes) -> tuple[Case, bytes]:
    """The case and its key, if this investigator holds a wrap for it."""
    if len(case_id) > 64:
        raise CaseNotFound()
    wrap = db.get(CaseKeyWrap, (case_id, user_id))
    case = db.get(Case, case_id)
    if wrap is None or case is None:
        raise CaseNotFound()
    try:
        key = crypto.unwrap_key(wrap.wrapped, private_key, case_id=case_id, recipient_id=user_id)
    except crypto.CryptoError:
        raise CaseNotFound() from None
    return case, key


@dataclass(frozen=True)
class CaseView:
    case: Case
    category: Category | None
    unit: Unit | None
    items: list[cases.OpenedItem]
    readers: list[User]
    excluded: list[User]
    candidates: list[User]
    history: list[AuditEntry]
    names: dict[str, str]


def _holders(db: Session, case_id: str) -> list[User]:
    return list(
        db.exec(
            select(User)
            .join(CaseKeyWrap, col(CaseKeyWrap.user_id) == col(User.id))
            .where(CaseKeyWrap.case_id == case_id)
            .order_by(User.display_name)
        ).all()
    )


def _excluded_ids(items: list[cases.OpenedItem]) -> set[str]:
    return {uid for i in items if i.kind == "exclusions" for uid in i.content["user_ids"]}


def grant_candidates(
    db: Session, *, case: Case, excluded: set[str], holders: list[User] | None = None
) -> list[User]:
    """Who may be given access: designated for the case's route (for a triaged case, anyone
    designated anywhere, so triage can hand it on), not holding it, not excluded by the reporter.
    """
    if case.triaged or case.category_id is None:
        pool = routing.all_designated(db)
    else:
        pool = routing.designated(db, category_id=case.category_id, unit_id=case.unit_id)
    holding = {u.id for u in (_holders(db, case.id) if holders is None else holders)}
    return [u for u in pool if u.id not in holding and u.id not in excluded]


def view(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    history: bool = True,
    candidates: bool = True,
) -> CaseView:
    """The opened case. ``history`` and ``candidates`` (who could be given access) cost queries
    of their own: a page that does not show them leaves them empty."""
    case, key = unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    items = cases.open_items(db, case_id=case.id, case_key=key, reporter_view=False)
    audit.record(db, action="case_opened", actor_id=user_id, case_id=case.id)
    excluded_ids = _excluded_ids(items)
    # The newest 50 entries: every view adds one, and the page must not grow with its readers.
    entries = audit.for_case(db, case_id=case.id, limit=50) if history else []
    people = {i.author_user_id for i in items if i.author_user_id} | excluded_ids
    people |= {e.actor_id for e in entries if e.actor_id} | {
        e.subject_id for e in entries if e.subject_id
    }
    readers = _holders(db, case.id)
    # The authors are mostly the readers: only the others cost a query.
    users = {u.id: u for u in readers}
    others = people - set(users)
    if others:
        users.update((u.id, u) for u in db.exec(select(User).where(col(User.id).in_(others))))
    found = [users[uid] for uid in people if uid in users]
    return CaseView(
        case=case,
        category=db.get(Category, case.category_id) if case.category_id is not None else None,
        unit=db.get(Unit, case.unit_id) if case.unit_id is not None else None,
        items=items,
        readers=readers,
        excluded=sorted((u for u in found if u.id in excluded_ids), key=lambda u: u.display_name),
        candidates=grant_candidates(db, case=case, excluded=excluded_ids, holders=readers)
        if candidates
        else [],
        history=entries,
        names={u.id: u.display_name for u in found},
    )


def grant(db: Session, *, case_id: str, user_id: str, private_key: bytes, target_id: str) -> None:
    """Wrap the case key to a colleague. Only a holder can (they need the key to wrap it)."""
    case, key = unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    items = cases.open_items(db, case_id=case.id, case_key=key, reporter_view=False)
    allowed = {u.id: u for u in grant_candidates(db, case=case, excluded=_excluded_ids(items))}
    target = allowed.get(target_id)
    if target is None or target.public_key is None:
        raise CaseworkError("bad-grant")
    db.add(
        CaseKeyWrap(
            case_id=case.id,
            user_id=target.id,
            wrapped=crypto.wrap_key(
                key, target.public_key, case_id=case.id, recipient_id=target.id
            ),
        )
    )
    audit.record(
        db, action="access_granted", actor_id=user_id, case_id=case.id, subject_id=target.id
    )


def recuse(db: Session, *, case_id: str, user_id: str, private_key: bytes) -> None:
    """Declare a conflict of interest: delete one's own wrap. The last reader cannot leave."""
    case, _key = unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    if len(_holders(db, case.id)) < 2:
        raise CaseworkError("last-reader")
    wrap = db.get(CaseKeyWrap, (case.id, user_id))
    assert wrap is not None
    db.delete(wrap)
    if case.lead_id == user_id:  # the lead must be someone who can read the case
        case.lead_id = None
        db.add(case)
    audit.record(db, action="recused", actor_id=user_id, case_id=case.id)


def clean_text(text: str, *, required: bool = True) -> str:
    """An investigator's text, normalised; empty (when required) or too long is refused."""
    text = text.replace("\r\n", "\n").strip()
    if required and not text:
        raise CaseworkError("empty")
    if len(text) > MAX_MESSAGE:
        raise CaseworkError("too-long")
    return text


def post(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    kind: str,
    text: str,
    now: dt.datetime | None = None,
) -> None:
    """A message to the reporter, an internal note, or the acknowledgement of receipt.

    Feedback, withheld acknowledgements, minutes and the like are in :mod:`whistle.duties`.
    """
    now = now or utcnow()
    if kind not in {"message", "note", "acknowledgement"}:
        raise CaseworkError("bad-kind")
    case, key = unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    body = clean_text(text)
    if case.status == "closed" and kind != "note":
        raise CaseworkError("closed")
    if kind == "acknowledgement" and (case.acknowledged_on or case.ack_withheld):
        raise CaseworkError("already-acknowledged")
    cases.add_item(
        db,
        case=case,
        case_key=key,
        kind=kind,
        author="investigator",
        author_user_id=user_id,
        content={"text": body},
        visible_to_reporter=kind != "note",
        now=now,
    )
    if kind == "acknowledgement":
        day = deadlines.today(now)
        case.acknowledged_on = day
        case.feedback_due = deadlines.feedback_due(case.received_on, day)
    if kind != "note":
        case.awaiting_investigator = False
    cases.refresh_next_due(case)
    db.add(case)
    audit.record(db, action=AUDIT_ACTIONS[kind], actor_id=user_id, case_id=case.id, now=now)


def set_status(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    status: str,
    outcome: str = "",
    now: dt.datetime | None = None,
) -> None:
    """Move a case between statuses. Closing needs an outcome code; "feedback given" is set
    only by actually giving feedback (whistle.duties), so the deadline cannot be ticked off."""
    now = now or utcnow()
    if status not in cases.SETTABLE_STATUSES:
        raise CaseworkError("bad-status")
    if status == "closed" and outcome not in cases.OUTCOMES:
        raise CaseworkError("outcome-required")
    # Unlocking proves the investigator holds the case; status is not content, but only
    # designated persons may act on a case (5 kap. 5 §).
    case, _key = unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    day = deadlines.today(now)
    case.status = status
    if status == "closed":
        case.closed_on = case.closed_on or day
        case.outcome = outcome
        case.awaiting_investigator = False
    else:
        case.closed_on = None
        case.outcome = None
    cases.refresh_next_due(case)
    db.add(case)
    audit.record(
        db, action="status_changed", actor_id=user_id, case_id=case.id, detail=status, now=now
    )
