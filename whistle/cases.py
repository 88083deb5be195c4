"""Case content storage: sealing and opening the items of a case under its case key.

Every item is sealed with purpose ``item:<kind>`` and bound to its case id and item id, so a row
copied to another case, or relabelled as another kind, does not open.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import Session, col

from whistle import crypto, deadlines
from whistle.i18n import N_
from whistle.models import Case, CaseItem, new_id, utcnow

ITEM_KINDS = (
    "report",
    "identity",
    "exclusions",
    "message",
    "note",
    "acknowledgement",
    "ack_withheld",
    "feedback",
    "meeting",
    "meeting_request",
    "minutes",
    "minutes_response",
    "action",
    "handover",
    "attachment",
    "task",
    "triage",
    "own_code",  # the reporter replaced the code handed over at a meeting (whistle.reports)
)
STATUSES = ("received", "assessment", "investigation", "feedback_given", "closed")
# What each status is called (the words of partials/labels.html: status_label).
STATUS_LABELS = {
    "received": N_("Received"),
    "assessment": N_("Being assessed"),
    "investigation": N_("Under investigation"),
    "feedback_given": N_("Feedback given"),
    "closed": N_("Closed"),
}
# "feedback_given" follows from giving feedback (whistle.duties), never from a status menu.
SETTABLE_STATUSES = ("received", "assessment", "investigation", "closed")
OUTCOMES = {
    "substantiated": N_("Substantiated: measures taken"),
    "partly_substantiated": N_("Partly substantiated"),
    "not_substantiated": N_("Not substantiated"),
    "referred": N_("Referred to another body (authority, police, other unit)"),
    "outside_scope": N_("Outside the scope of the channel"),
    "no_action_possible": N_("Could not be investigated further"),
}


class CaseNotFound(LookupError):
    """No such case, or not one the caller may open (the two are never told apart)."""


@dataclass(frozen=True)
class OpenedItem:
    id: str
    seq: int
    kind: str
    author: str
    author_user_id: str | None
    visible_to_reporter: bool
    created_at: dt.datetime
    content: dict[str, Any]


def reporter_timestamp(now: dt.datetime | None = None) -> dt.datetime:
    """What a reporter does is stored with the day only (see models)."""
    day = deadlines.today(now)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def add_item(
    db: Session,
    *,
    case: Case,
    case_key: bytes,
    kind: str,
    author: str,
    content: dict[str, Any],
    author_user_id: str | None = None,
    visible_to_reporter: bool = True,
    now: dt.datetime | None = None,
    item_id: str | None = None,
) -> CaseItem:
    """Seal ``content`` as the case's next item. ``item_id`` is given when something was
    already bound to it (an attachment's blob is sealed to its item id while it streams in)."""
    now = now or utcnow()
    if kind not in ITEM_KINDS:
        raise ValueError(f"unknown item kind {kind}")
    item_id = item_id or new_id()
    # Atomic increment: the per-case sequence orders the thread without precise timestamps.
    db.exec(update(Case).where(col(Case.id) == case.id).values(item_count=Case.item_count + 1))
    db.flush()
    db.refresh(case)
    sealed = crypto.seal(
        case_key,
        json.dumps(content, ensure_ascii=False).encode(),
        purpose=f"item:{kind}",
        case_id=case.id,
        item_id=item_id,
    )
    created = reporter_timestamp(now) if author == "reporter" else (now or utcnow())
    item = CaseItem(
        id=item_id,
        case_id=case.id,
        seq=case.item_count,
        kind=kind,
        author=author,
        author_user_id=author_user_id,
        visible_to_reporter=visible_to_reporter,
        created_at=created,
        sealed=sealed,
    )
    db.add(item)
    return item


def open_items(
    db: Session, *, case_id: str, case_key: bytes, reporter_view: bool
) -> list[OpenedItem]:
    # Plain rows, not ORM objects: a long case has hundreds of items, and building an ORM
    # object for each cost more than decrypting it (bench: case_200).
    table = CaseItem.__table__  # type: ignore[attr-defined]
    stmt = core_select(
        table.c.id,
        table.c.seq,
        table.c.kind,
        table.c.author,
        table.c.author_user_id,
        table.c.visible_to_reporter,
        table.c.created_at,
        table.c.sealed,
    ).where(table.c.case_id == case_id)
    if reporter_view:
        stmt = stmt.where(table.c.visible_to_reporter == True)  # noqa: E712
    rows = db.connection().execute(stmt.order_by(table.c.seq)).all()
    # Unpacked rows: reading eight columns of two hundred rows by name was a millisecond.
    return [
        OpenedItem(
            id=item_id,
            seq=seq,
            kind=kind,
            author=author,
            author_user_id=author_user_id,
            visible_to_reporter=visible,
            created_at=created_at,
            content=json.loads(
                crypto.open_sealed(
                    case_key,
                    bytes(sealed),
                    purpose=f"item:{kind}",
                    case_id=case_id,
                    item_id=item_id,
                ).decode()
            ),
        )
        for item_id, seq, kind, author, author_user_id, visible, created_at, sealed in rows
    ]


def refresh_next_due(case: Case) -> None:
    case.next_due = deadlines.next_due(
        status=case.status,
        ack_due_on=case.ack_due,
        ack_waived=case.ack_waived,
        acknowledged_on=case.acknowledged_on,
        ack_withheld=case.ack_withheld,
        feedback_due_on=case.feedback_due,
        feedback_given_on=case.feedback_given_on,
    )
