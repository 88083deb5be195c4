"""Redaction of personal data that is manifestly irrelevant to the case (7 kap. 7 § Lag 2021:890).

An investigator replaces an item by a masked version (the rule of :mod:`whistle.masking`) or
deletes an attachment, giving a reason. The item is sealed again under the same id, so the old
ciphertext is overwritten in its row, not kept beside the new one (SQLite runs with
``secure_delete``, so the freed page is zeroed too); a deleted attachment's blob file is
unlinked, or its chunk rows deleted (database store). The reason is sealed into the item; the
audit log records that it happened, the grounds' codes and who did it, never what was removed.
Backups taken earlier still hold the old ciphertext until they are rotated out
(docs/threat-model.md).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from whistle import audit, blobstore, casework, crypto, deadlines, disclosure, masking
from whistle.cases import CaseNotFound
from whistle.errors import DomainError
from whistle.models import Attachment, CaseItem

MAX_REASON = 2000


class RedactionError(DomainError):
    """A refused request; ``code`` names why (:mod:`whistle.errors`)."""


def _reason(reason: str) -> str:
    text = reason.replace("\r\n", "\n").strip()
    if not text or len(text) > MAX_REASON:
        raise RedactionError("reason-required")
    return text


def _load(
    db: Session, *, case_id: str, item_id: str, user_id: str, private_key: bytes
) -> tuple[CaseItem, bytes, dict[str, Any]]:
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    item = db.get(CaseItem, item_id[:32])
    if item is None or item.case_id != case.id or item.kind == "exclusions":
        raise CaseNotFound()
    purpose = f"item:{item.kind}"
    plain = crypto.open_sealed(key, item.sealed, purpose=purpose, case_id=case.id, item_id=item.id)
    content: dict[str, Any] = json.loads(plain)
    return item, key, content


def item_for_redaction(
    db: Session, *, case_id: str, item_id: str, user_id: str, private_key: bytes
) -> tuple[str, dict[str, Any]]:
    """The item's kind and content, for the redaction form."""
    item, _key, content = _load(
        db, case_id=case_id, item_id=item_id, user_id=user_id, private_key=private_key
    )
    audit.record(db, action="case_opened", actor_id=user_id, case_id=item.case_id)
    return item.kind, content


def _reseal(item: CaseItem, key: bytes, content: dict[str, Any]) -> None:
    item.sealed = crypto.seal(
        key,
        json.dumps(content, ensure_ascii=False).encode(),
        purpose=f"item:{item.kind}",
        case_id=item.case_id,
        item_id=item.id,
    )


def _note(content: dict[str, Any], *, user_id: str, reason: str, now: dt.datetime | None) -> None:
    content.setdefault("redactions", []).append(
        {"on": deadlines.today(now).isoformat(), "by": user_id, "reason": reason}
    )


def redact_item(
    db: Session,
    *,
    case_id: str,
    item_id: str,
    user_id: str,
    private_key: bytes,
    fields: Mapping[str, str],
    reason: str,
    now: dt.datetime | None = None,
) -> None:
    """Replace the item's texts by masked versions; refused unless each is the same rule."""
    item, key, content = _load(
        db, case_id=case_id, item_id=item_id, user_id=user_id, private_key=private_key
    )
    if item.kind == "attachment":
        raise RedactionError("use-delete")
    why = _reason(reason)
    grounds: set[str] = set()
    for name in disclosure.TEXT_FIELDS.get(item.kind, ("name", "contact")):
        original = str(content.get(name) or "")
        if not original:
            continue
        try:
            spans = masking.verify(original, fields.get(name, original))
        except masking.MaskingError as exc:
            raise RedactionError(exc.code) from None
        grounds |= {s.ground for s in spans}
        content[name] = masking.render(original, spans)
    if not grounds:
        raise RedactionError("nothing-masked")
    _note(content, user_id=user_id, reason=why, now=now)
    _reseal(item, key, content)
    db.add(item)
    audit.record(
        db, action="item_redacted", actor_id=user_id, case_id=item.case_id, subject_id=item.id,
        detail="grounds " + ", ".join(sorted(grounds)), now=now,
    )  # fmt: skip


def delete_attachment(
    db: Session,
    *,
    case_id: str,
    item_id: str,
    user_id: str,
    private_key: bytes,
    reason: str,
    blob_dir: Path,
    now: dt.datetime | None = None,
) -> None:
    """Delete an attached file: its blob goes (file or chunk rows) and its item keeps only a
    mark and why."""
    item, key, _old = _load(
        db, case_id=case_id, item_id=item_id, user_id=user_id, private_key=private_key
    )
    if item.kind != "attachment":
        raise CaseNotFound()
    why = _reason(reason)
    rows = db.exec(select(Attachment).where(Attachment.item_id == item.id)).all()
    new = {
        "name": masking.mark("7:7"),
        "type": "",
        "size": 0,
        "status": "deleted",
        "removed": [],
        "blob": "",
    }
    _note(new, user_id=user_id, reason=why, now=now)
    _reseal(item, key, new)
    db.add(item)
    for row in rows:
        db.delete(row)
    audit.record(
        db, action="attachment_deleted", actor_id=user_id, case_id=item.case_id,
        subject_id=item.id, detail="ground 7:7", now=now,
    )  # fmt: skip
    db.flush()
    # Last, once the rows are gone in this transaction: a failed commit leaves a row whose
    # file is missing (a 404 on download), never a file that no row names for long. Chunk rows
    # (WHISTLE_BLOB_STORE=database) go in this same transaction.
    for row in rows:
        blobstore.delete_blob(db, blob_dir=blob_dir, blob_id=row.id)
