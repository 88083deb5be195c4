"""The append-only, keyed hash chain of the audit log (who did what to which case, and when).

Entry n stores ``hash(n) = HMAC-SHA256(AK, hash(n-1) ‖ canonical fields of n)``, with the chain
key ``AK`` derived from the pepper in ``keys/`` (:func:`whistle.crypto.audit_chain_key`); the
single ``audit_head`` row holds the count and the newest hash. Every writer first increments the
head row, which locks it until commit, so concurrent writers (threads, processes, replicas)
append one after another and the chain never forks. Editing, deleting or reordering an entry
breaks the chain, which :func:`verify` reports with the first broken entry, and without the key
nobody can rebuild a chain that verifies.

What the chain alone cannot show is a cut tail: delete the newest entries and set the head to
the new last one, and every remaining link still holds. So the head leaves the host: ``whistle
audit-verify`` prints it, and the jobs send it on a schedule (``WHISTLE_AUDIT_HEAD_HOURS``) to
the function's lead and the webhook (:func:`whistle.jobs.send_audit_head`). Given a head copied
out earlier, :func:`verify` checks that its entry is still there with the same hash.

Entries written before the chain was keyed (an installation upgraded past migration
``audit_1``) keep their plain SHA-256 links; ``keyed_from`` says where the keyed ones begin, and
is part of the exported head, so moving it is caught against a copy.

The key travels with the engine (:func:`keyed`), so the domain functions that record entries
need no extra argument; an engine without it refuses to write or verify.

Never logged: content, reporter identity, and reporters' own actions (their exact times could
point to who they are).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import Engine, insert, update
from sqlmodel import Session, col, func, select

from whistle import crypto
from whistle.i18n import N_
from whistle.keys import Keys
from whistle.models import AuditEntry, AuditHead, utcnow

GENESIS = b"\x00" * 32
KEY_OPTION = "whistle_audit_chain_key"


class AuditKeyMissing(RuntimeError):
    """The engine carries no chain key: see :func:`keyed`."""


def keyed(engine: Engine, keys: Keys) -> Engine:
    """The engine, carrying the audit chain key for every session bound to it."""
    return engine.execution_options(**{KEY_OPTION: crypto.audit_chain_key(keys.pepper)})


def _key(db: Session) -> bytes:
    key = db.get_bind().get_execution_options().get(KEY_OPTION)
    if not isinstance(key, bytes):
        raise AuditKeyMissing("the audit log needs the chain key: use audit.keyed(engine, keys)")
    return key


# Actions, as stored. The web layer translates them for display.
ACTIONS = (
    "login",
    "login_failed",
    "second_factor_failed",
    "second_factor_enrolled",
    "security_key_added",
    "security_key_removed",
    "logout_everywhere",
    "password_changed",
    "recovery_used",
    "case_opened",
    "attachment_downloaded",
    "recording_played",
    "recording_added",
    "message_sent",
    "note_added",
    "acknowledgement_sent",
    "acknowledgement_withheld",
    "minutes_posted",
    "action_recorded",
    "handover_recorded",
    "oral_report_registered",
    "feedback_sent",
    "status_changed",
    "access_granted",
    "recused",
    "continuity_grant",
    "account_invited",
    "account_activated",
    "account_deactivated",
    "account_reactivated",
    "route_added",
    "route_removed",
    "unit_changed",
    "category_changed",
    # Retention (whistle/retention.py) and the organisation's texts (whistle/texts.py).
    "retention_deleted",
    "retention_personal_data_removed",
    "text_saved",
    # Four eyes on new readers (whistle/approvals.py) and activation links from the CLI.
    "route_first_reader",
    "route_approved",
    "route_declined",
    "invitation_renewed",
    # Public-sector records (whistle/records.py).
    "marking_changed",
    "register_exported",
    # Official documents, redaction and handover packages (whistle/disclosure.py and neighbours).
    "document_request_recorded",
    "document_request_decided",
    "document_request_exported",
    "item_redacted",
    "attachment_deleted",
    "handover_package_exported",
    "access_request_recorded",
    "access_request_answered",
    # The investigator's workbench (whistle/workbench.py, whistle/search.py, whistle/leavers.py).
    "lead_changed",
    "label_defined",
    "label_retired",
    "labels_changed",
    "task_added",
    "task_done",
    "task_reopened",
    "triage_assessed",
    "cases_searched",
    "leaver_released",
    "working_copy_exported",
)

# What each action is called on the audit pages (translated there).
LABELS = {
    "login": N_("Logged in"),
    "login_failed": N_("Failed login"),
    "second_factor_failed": N_("Wrong second-factor code"),
    "second_factor_enrolled": N_("Second factor set up"),
    "security_key_added": N_("Security key added"),
    "security_key_removed": N_("Security key removed"),
    "logout_everywhere": N_("Logged out everywhere"),
    "password_changed": N_("Password changed"),
    "recovery_used": N_("Recovery code used"),
    "case_opened": N_("Case opened and decrypted"),
    "attachment_downloaded": N_("Attachment downloaded"),
    "recording_played": N_("Recording played"),
    "recording_added": N_("Recording of an oral report or meeting kept, with consent"),
    "message_sent": N_("Message sent to the reporter"),
    "note_added": N_("Internal note added"),
    "acknowledgement_sent": N_("Receipt confirmed"),
    "acknowledgement_withheld": N_("Confirmation withheld (could reveal the reporter)"),
    "minutes_posted": N_("Minutes posted"),
    "action_recorded": N_("Action recorded"),
    "handover_recorded": N_("Handover recorded"),
    "oral_report_registered": N_("Oral report registered"),
    "feedback_sent": N_("Feedback sent"),
    "status_changed": N_("Status changed"),
    "access_granted": N_("Access granted"),
    "recused": N_("Stepped aside (conflict of interest)"),
    "continuity_grant": N_("Access granted with the continuity key"),
    "account_invited": N_("Account invited"),
    "account_activated": N_("Account activated"),
    "account_deactivated": N_("Account deactivated"),
    "account_reactivated": N_("Account reactivated"),
    "route_added": N_("Route added"),
    "route_removed": N_("Route removed"),
    "unit_changed": N_("Unit saved"),
    "category_changed": N_("Category saved"),
    "retention_deleted": N_("Deleted after the retention period"),
    "retention_personal_data_removed": N_("Personal data removed after the retention period"),
    "text_saved": N_("Text saved as a new version"),
    "route_first_reader": N_("Route in effect without approval (no investigator yet)"),
    "route_approved": N_("Route approved"),
    "route_declined": N_("Route declined"),
    "invitation_renewed": N_("New activation link made"),
    "marking_changed": N_("Secrecy marking changed"),
    "register_exported": N_("Register exported"),
    "document_request_recorded": N_("Request for official documents recorded"),
    "document_request_decided": N_("Decision on a request for official documents"),
    "document_request_exported": N_("Released documents exported as PDF"),
    "item_redacted": N_("Irrelevant personal data masked (7 kap. 7 §)"),
    "attachment_deleted": N_("Attachment deleted (7 kap. 7 §)"),
    "handover_package_exported": N_("Handover package exported"),
    "access_request_recorded": N_("Access request (GDPR art. 15) recorded"),
    "access_request_answered": N_("Access request answered (PDF exported)"),
    "lead_changed": N_("Case lead changed"),
    "label_defined": N_("Label added to the list"),
    "label_retired": N_("Label taken off the list"),
    "labels_changed": N_("Labels changed"),
    "task_added": N_("Task added"),
    "task_done": N_("Task done"),
    "task_reopened": N_("Task reopened"),
    "triage_assessed": N_("Triage assessment recorded"),
    "cases_searched": N_("Cases searched"),
    "leaver_released": N_("A deactivated person's access removed (others read the case)"),
    "working_copy_exported": N_("Working copy downloaded (PDF)"),
}


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _canonical(entry: AuditEntry) -> bytes:
    fields = {
        "id": entry.id,
        "at": _utc(entry.at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": entry.actor_id,
        "action": entry.action,
        "case": entry.case_id,
        "subject": entry.subject_id,
        "detail": entry.detail,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _hash(prev: bytes, entry: AuditEntry, *, key: bytes, keyed_from: int) -> bytes:
    if entry.id is not None and entry.id >= keyed_from:
        return crypto.mac(key, prev + _canonical(entry))
    return crypto.digest(prev + _canonical(entry))  # written before the chain was keyed


def record(
    db: Session,
    *,
    action: str,
    actor_id: str | None = None,
    case_id: str | None = None,
    subject_id: str | None = None,
    detail: str = "",
    now: dt.datetime | None = None,
) -> None:
    """Append one entry in the caller's transaction (it commits or rolls back with the action)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action}")
    key = _key(db)
    db.flush()  # what the caller added goes first, as when the entry was an ORM object
    # Lock the head first: the increment is the serialisation point for all writers. Plain
    # statements, not ORM objects: every page view records an entry, and three statements
    # cost a third of what five ORM round trips did (bench: case_200).
    heads = AuditHead.__table__  # type: ignore[attr-defined]
    conn = db.connection()
    count, last_hash, keyed_from = conn.execute(
        update(heads)
        .where(heads.c.id == 1)
        .values(count=heads.c.count + 1)
        .returning(heads.c.count, heads.c.last_hash, heads.c.keyed_from)
    ).one()
    moment = _utc(now or utcnow()).replace(microsecond=0)
    entry = AuditEntry(
        id=count,
        at=moment,
        actor_id=actor_id,
        action=action,
        case_id=case_id,
        subject_id=subject_id,
        detail=detail[:200],
        prev_hash=bytes(last_hash),
        entry_hash=b"",
    )
    entry.entry_hash = _hash(entry.prev_hash, entry, key=key, keyed_from=keyed_from)
    conn.execute(
        insert(AuditEntry.__table__),  # type: ignore[attr-defined]
        {
            "id": entry.id,
            "at": entry.at,
            "actor_id": entry.actor_id,
            "action": entry.action,
            "case_id": entry.case_id,
            "subject_id": entry.subject_id,
            "detail": entry.detail,
            "prev_hash": entry.prev_hash,
            "entry_hash": entry.entry_hash,
        },
    )
    conn.execute(update(heads).where(heads.c.id == 1).values(last_hash=entry.entry_hash))
    loaded = db.identity_map.get(Session.identity_key(AuditHead, 1))
    if loaded is not None:
        db.expire(loaded)  # a head read earlier in this transaction is now behind


@dataclass(frozen=True)
class Head:
    """The newest entry's number and hash, and where the keyed entries begin: what leaves the
    host, so that a later cut of the tail shows against a copy the server cannot rewrite."""

    count: int
    keyed_from: int
    hash_hex: str

    def token(self) -> str:
        return f"{self.count}:{self.keyed_from}:{self.hash_hex}"

    @classmethod
    def parse(cls, token: str) -> Head:
        """Read :meth:`token`'s form back; :class:`ValueError` when it is not one."""
        parts = token.strip().split(":")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts[:2]):
            raise ValueError("an audit head is COUNT:KEYED_FROM:HASH")
        raw = bytes.fromhex(parts[2])
        if len(raw) != 32:
            raise ValueError("an audit head's hash is 64 hex digits")
        return cls(int(parts[0]), int(parts[1]), raw.hex())


@dataclass(frozen=True)
class Verification:
    ok: bool
    count: int
    head_hash: str
    first_bad_id: int | None = None
    reason: str = ""  # missing | chain | altered | truncated | cut | rewritten | rekeyed
    keyed_from: int = 1

    @property
    def head(self) -> Head:
        return Head(self.count, self.keyed_from, self.head_hash)


def current_head(db: Session) -> Head:
    head = db.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    return Head(head.count, head.keyed_from, head.last_hash.hex())


def _against(db: Session, head: AuditHead, expected: Head) -> tuple[int, str] | None:
    """Where the chain departs from a head exported earlier: (entry, reason) or None."""
    if expected.count > head.count:
        return head.count + 1, "cut"  # entries the copy saw are gone
    if expected.keyed_from != head.keyed_from:
        return min(expected.keyed_from, head.keyed_from), "rekeyed"
    if expected.count == 0:
        return None
    entry = db.get(AuditEntry, expected.count)
    if entry is None or not crypto.constant_time_equal(entry.entry_hash.hex(), expected.hash_hex):
        return expected.count, "rewritten"
    return None


def verify(db: Session, *, expected: Head | None = None) -> Verification:
    """Walk the chain; with ``expected`` (a head copied out earlier) also check that the log
    still holds that entry with that hash, which a cut tail or a rebuilt chain cannot fake."""
    key = _key(db)
    head = db.exec(select(AuditHead).where(AuditHead.id == 1)).one()

    def broken(entry_id: int | None, reason: str) -> Verification:
        return Verification(
            False, head.count, head.last_hash.hex(), entry_id, reason, head.keyed_from
        )

    prev = GENESIS
    expected_id = 1
    for entry in db.exec(select(AuditEntry).order_by(col(AuditEntry.id))):
        if entry.id != expected_id:
            return broken(expected_id, "missing")
        if entry.prev_hash != prev:
            return broken(entry.id, "chain")
        computed = _hash(prev, entry, key=key, keyed_from=head.keyed_from)
        if not crypto.constant_time_equal(computed, entry.entry_hash):
            return broken(entry.id, "altered")
        prev = entry.entry_hash
        expected_id += 1
    if expected_id - 1 != head.count or prev != head.last_hash:
        return broken(expected_id, "truncated")
    if expected is not None and (departure := _against(db, head, expected)) is not None:
        return broken(*departure)
    return Verification(True, head.count, head.last_hash.hex(), keyed_from=head.keyed_from)


def for_case(db: Session, *, case_id: str, limit: int = 200) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.case_id == case_id)
        .order_by(col(AuditEntry.id).desc())
        .limit(limit)
    )
    return list(db.exec(stmt).all())


def page(db: Session, *, page: int, page_size: int = 100) -> tuple[list[AuditEntry], int]:
    total = db.exec(select(func.count()).select_from(AuditEntry)).one()
    stmt = (
        select(AuditEntry)
        .order_by(col(AuditEntry.id).desc())
        .offset((max(page, 1) - 1) * page_size)
        .limit(page_size)
    )
    return list(db.exec(stmt).all()), total
