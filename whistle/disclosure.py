"""Requests for official documents (TF 2 kap., OSL 6 kap.) about a case, and the decisions on them.

An investigator who holds the case records a request: the day it came in and, sealed under the
case key, what is asked for and who asks (who may stay anonymous, TF 2 kap. 18 §). They then
decide each item: release, release masked (the rule of :mod:`whistle.masking`), or withhold,
with the legal ground. The reporter's identity is never released (OSL 32 kap. 3 b §, no harm
test): identity items are always withheld, and a released text that still names the reporter
is refused. Attachments are released, withheld, or released after masking outside the system
with a recorded reason. Only the dates stay in clear, for the "skyndsamt" reminder (the request
is due the day it came in). Every record, decision and export goes to the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from whistle import audit, casework, crypto, deadlines, masking
from whistle.cases import CaseNotFound, OpenedItem, open_items
from whistle.errors import DomainError
from whistle.models import DocumentRequest, User, new_id, utcnow

# The text fields of each kind of item that a decision covers (one textarea each).
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "report": ("what", "when_where", "who", "how_known"),
    "message": ("text",),
    "note": ("text",),
    "acknowledgement": ("text",),
    "meeting": ("text",),
    "meeting_request": ("text",),
    "minutes": ("text",),
    "minutes_response": ("text",),
    "action": ("text",),
    "feedback": ("measures", "reasons"),
    "ack_withheld": ("reason",),
    "handover": ("recipient", "handed", "no_notice_reason"),
    "attachment": ("name",),
}
# Never released: who the reporter is, and whom they kept out (it says whom they suspect).
NEVER_RELEASED = ("identity", "exclusions")
DECISIONS = ("release", "mask", "withhold")
ATTACHMENT_DECISIONS = ("release", "withhold", "masked_outside")
PURPOSE = "document_request"
DECISION_PURPOSE = "document_request_decision"


class DisclosureError(DomainError):
    def __init__(self, code: str, item_id: str = "") -> None:
        super().__init__(code)
        self.item_id = item_id


@dataclass(frozen=True)
class Choice:
    """What the investigator submitted for one item (the web form, parsed)."""

    decision: str
    ground: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)  # masked versions, as typed
    reason: str = ""


@dataclass(frozen=True)
class Request:
    id: str
    case_id: str
    received_on: dt.date
    decided_on: dt.date | None
    requester: str
    asked: str
    decision: dict[str, Any] | None


def _seal(key: bytes, data: dict[str, Any], *, purpose: str, case_id: str, rid: str) -> bytes:
    raw = json.dumps(data, ensure_ascii=False).encode()
    return crypto.seal(key, raw, purpose=purpose, case_id=case_id, item_id=rid)


def _open(key: bytes, sealed: bytes, *, purpose: str, case_id: str, rid: str) -> dict[str, Any]:
    raw = crypto.open_sealed(key, sealed, purpose=purpose, case_id=case_id, item_id=rid)
    data: dict[str, Any] = json.loads(raw)
    return data


def _view(row: DocumentRequest, key: bytes) -> Request:
    asked = _open(key, row.sealed, purpose=PURPOSE, case_id=row.case_id, rid=row.id)
    decision = None
    if row.decision_sealed is not None:
        decision = _open(
            key, row.decision_sealed, purpose=DECISION_PURPOSE, case_id=row.case_id, rid=row.id
        )
    return Request(
        row.id, row.case_id, row.received_on, row.decided_on, asked["requester"], asked["asked"],
        decision,
    )  # fmt: skip


def record_request(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    received_on: str,
    requester: str,
    asked: str,
    now: dt.datetime | None = None,
) -> str:
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    try:
        day = dt.date.fromisoformat(received_on) if received_on else deadlines.today(now)
    except ValueError:
        raise DisclosureError("bad-date") from None
    if day > deadlines.today(now):
        raise DisclosureError("bad-date")
    what = casework.clean_text(asked)
    who = casework.clean_text(requester, required=False)[:500]
    rid = new_id()
    sealed = _seal(
        key, {"requester": who, "asked": what}, purpose=PURPOSE, case_id=case.id, rid=rid
    )
    db.add(
        DocumentRequest(
            id=rid, case_id=case.id, received_on=day, created_by=user_id, sealed=sealed,
            created_at=now or utcnow(),
        )
    )  # fmt: skip
    audit.record(db, action="document_request_recorded", actor_id=user_id, case_id=case.id,
                 subject_id=rid, now=now)  # fmt: skip
    return rid


def requests(db: Session, *, case_id: str, user_id: str, private_key: bytes) -> list[Request]:
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    rows = db.exec(
        select(DocumentRequest)
        .where(DocumentRequest.case_id == case.id)
        .order_by(col(DocumentRequest.created_at).desc())
    ).all()
    return [_view(row, key) for row in rows]


@dataclass(frozen=True)
class Review:
    request: Request
    items: list[OpenedItem]  # every item of the case, in order
    names: dict[str, str]


def _load(
    db: Session, *, case_id: str, request_id: str, user_id: str, private_key: bytes
) -> tuple[DocumentRequest, bytes, list[OpenedItem]]:
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    row = db.get(DocumentRequest, request_id[:32])
    if row is None or row.case_id != case.id:
        raise CaseNotFound()
    return row, key, open_items(db, case_id=case.id, case_key=key, reporter_view=False)


def review(
    db: Session, *, case_id: str, request_id: str, user_id: str, private_key: bytes
) -> Review:
    row, key, items = _load(
        db, case_id=case_id, request_id=request_id, user_id=user_id, private_key=private_key
    )
    audit.record(db, action="case_opened", actor_id=user_id, case_id=row.case_id)
    people = {i.author_user_id for i in items if i.author_user_id} | {row.created_by}
    names = {u.id: u.display_name for u in db.exec(select(User).where(col(User.id).in_(people)))}
    return Review(_view(row, key), items, names)


def _identity_markers(items: list[OpenedItem]) -> list[str]:
    """The reporter's name and contact as given: none of them may appear in a released text."""
    found = []
    for item in items:
        if item.kind == "identity":
            found += [str(v).strip().casefold() for v in item.content.values() if v]
    return [m for m in found if len(m) >= 3]


def _decide_item(item: OpenedItem, choice: Choice | None, markers: list[str]) -> dict[str, Any]:
    if item.kind in NEVER_RELEASED:
        return {"decision": "withhold", "ground": masking.IDENTITY_GROUND}
    if choice is None or not choice.decision:
        raise DisclosureError("no-decision", item.id)
    allowed = ATTACHMENT_DECISIONS if item.kind == "attachment" else DECISIONS
    if choice.decision not in allowed:
        raise DisclosureError("no-decision", item.id)
    if choice.decision == "withhold":
        if choice.ground not in masking.GROUNDS:
            raise DisclosureError("no-ground", item.id)
        return {"decision": "withhold", "ground": choice.ground}
    if choice.decision == "masked_outside":
        reason = choice.reason.strip()
        if not reason or len(reason) > 2000:
            raise DisclosureError("reason-required", item.id)
        return {"decision": "masked_outside", "reason": reason}
    spans: dict[str, list[list[Any]]] = {}
    released: list[str] = []
    for name in TEXT_FIELDS.get(item.kind, ()):
        original = str(item.content.get(name) or "")
        if choice.decision == "release":
            found: list[masking.Span] = []
        else:
            try:
                found = masking.verify(original, choice.fields.get(name, original))
            except masking.MaskingError as exc:
                raise DisclosureError(exc.code, item.id) from None
        spans[name] = [[s.start, s.end, s.ground] for s in found]
        released.append(masking.render(original, found).casefold())
    if choice.decision == "mask" and not any(spans.values()):
        raise DisclosureError("nothing-masked", item.id)
    if any(marker in text for marker in markers for text in released):
        raise DisclosureError("identity-in-text", item.id)
    return {"decision": choice.decision, "spans": spans}


def decide(
    db: Session,
    *,
    case_id: str,
    request_id: str,
    user_id: str,
    private_key: bytes,
    choices: Mapping[str, Choice],
    now: dt.datetime | None = None,
) -> None:
    """Decide every item at once; any refusal leaves nothing written."""
    row, key, items = _load(
        db, case_id=case_id, request_id=request_id, user_id=user_id, private_key=private_key
    )
    markers = _identity_markers(items)
    decided = {item.id: _decide_item(item, choices.get(item.id), markers) for item in items}
    record = {
        "items": decided,
        "decided_by": user_id,
        "decided_on": deadlines.today(now).isoformat(),
    }
    row.decision_sealed = _seal(
        key, record, purpose=DECISION_PURPOSE, case_id=row.case_id, rid=row.id
    )
    row.decided_on = deadlines.today(now)
    db.add(row)
    refused = sum(1 for d in decided.values() if d["decision"] in ("withhold", "mask"))
    audit.record(
        db, action="document_request_decided", actor_id=user_id, case_id=row.case_id,
        subject_id=row.id, detail=f"{len(decided)} items, {refused} withheld or masked", now=now,
    )  # fmt: skip


def due(db: Session, *, today: dt.date) -> list[tuple[str, dt.date]]:
    """Undecided requests, (case id, day received): each is due the day it came in."""
    rows = db.exec(
        select(DocumentRequest).where(
            col(DocumentRequest.decided_on).is_(None), DocumentRequest.received_on <= today
        )
    ).all()
    return [(row.case_id, row.received_on) for row in rows]
