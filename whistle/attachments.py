"""Files attached to a case: cleaning them, recording them, finding them for a download.

Each file is one case item of kind ``attachment`` whose sealed content holds its name, type,
size, what was removed and its blob id; the bytes are a blob (``whistle.blobs``) sealed under
the case key and bound to (``attachment``, case id, item id), kept in the configured store
(``whistle.blobstore``: files, or chunk rows in the database). The ``attachments`` row only ties
the random blob id to its case and item, so a download must name a blob *of that case*.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from whistle import audit, blobs, blobstore, cases, casework, crypto, reports, sandbox, scrub
from whistle.i18n import N_
from whistle.models import Attachment, Case, CaseItem, utcnow

MAX_NAME = 255
E_CASE_FULL = N_("This case cannot hold more files: together they would be over %(limit)s.")

# What happened to a file's hidden data; shown to the reporter and the investigators.
CLEANED = "cleaned"  # metadata removed (the list may be empty: nothing was found)
KEPT = "kept"  # the reporter asked to keep the original unchanged
UNCHECKED = "unchecked"  # unknown type, too large or unreadable: stored as sent
# A voice message (whistle.voice), always re-encoded to Ogg/Opus without the original's tags.
DISGUISED = "disguised"  # the voice disguised
REENCODED = "reencoded"  # the reporter kept their own voice
RECORDING = "recording"  # an investigator's recording of a meeting, kept with consent
VOICE_STATUSES = (DISGUISED, REENCODED)
# The stored name of every voice message: a recorder's file name often holds the time it was
# made ("Recording 2026-12-01 14.32.m4a"), so it is not kept.
VOICE_NAME = "voice-message.ogg"
RECORDING_NAME = "recording.ogg"
E_BAD_VOICE = N_(
    "Your voice message could not be used: it is not a recording we can read, it is longer "
    "than %(minutes)s minutes, or it is too large. Nothing of it was kept. Record it again "
    "(shorter), or write instead."
)


class BadVoice(ValueError):
    """A voice message that could not be decoded within the bounds; nothing of it is kept."""


class CaseFull(ValueError):
    """The files would take the case over its quota."""


class AttachmentNotFound(LookupError):
    """No such file in this case, or not one the caller may read."""


@dataclass(frozen=True)
class Prepared:
    """A received file, cleaned if it could be, sealed under its temporary name."""

    writer: blobstore.Writer
    name: str
    kind: str | None
    size: int
    status: str
    removed: tuple[str, ...]


def clean_name(raw: str) -> str:
    """The file name as the reporter's system gave it, without any directory part."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_NAME] or "file"


def prepare(
    batch: blobstore.Batch,
    writer: blobstore.Writer,
    *,
    name: str,
    key: bytes,
    keep_original: bool,
    scrub_max_bytes: int,
    cleaner: sandbox.Sandbox,
) -> Prepared:
    """Finish a received file and remove its hidden data.

    A file up to ``scrub_max_bytes`` of a type the scrubber knows is decrypted chunk by chunk
    into a worker process (never to disk, never whole in this process), and the clean copy it
    sends back is sealed as it arrives into a new blob; the first blob is deleted. A file the
    worker refuses, or that breaks its limits, is kept as sent.
    """
    writer.finish()
    kind = scrub.detect(writer.head)
    if keep_original:
        return Prepared(writer, name, kind, writer.size, KEPT, ())
    if kind is None or writer.size > scrub_max_bytes:
        return Prepared(writer, name, kind, writer.size, UNCHECKED, ())
    clean = batch.open(key=key, case_id=writer.case_id, item_id=writer.item_id)
    try:
        result = cleaner.clean(
            blobstore.read_back(batch, writer, key=key),
            size=writer.size,
            kind=kind,
            out=clean.write,
        )
    except scrub.Unsupported:
        batch.drop(clean)  # perhaps part of a copy: it goes, the file stays as sent
        return Prepared(writer, name, None if kind == "zip" else kind, writer.size, UNCHECKED, ())
    clean.finish()
    batch.drop(writer)
    return Prepared(clean, name, result.kind, clean.size, CLEANED, result.removed)


@dataclass(frozen=True)
class VoiceBounds:
    max_bytes: int  # the recording is decrypted whole into the worker's memory
    max_seconds: int  # of audio, declared or decoded
    time_limit: float  # wall-clock and CPU seconds in the worker


def prepare_voice(
    batch: blobstore.Batch,
    writer: blobstore.Writer,
    *,
    key: bytes,
    disguise: bool,
    bounds: VoiceBounds,
    cleaner: sandbox.Sandbox,
) -> Prepared:
    """Finish a received voice message: decoded, disguised (unless the reporter keeps their
    own voice) and re-encoded in a worker process, the result sealed as it arrives into a new
    blob. The original's blob is deleted either way; raises :class:`BadVoice` if the worker
    refused it (nothing of the recording is then kept)."""
    writer.finish()
    if writer.size > bounds.max_bytes:
        batch.drop(writer)
        raise BadVoice("too large")
    clean = batch.open(key=key, case_id=writer.case_id, item_id=writer.item_id)
    try:
        result = cleaner.clean(
            blobstore.read_back(batch, writer, key=key),
            size=writer.size,
            kind=scrub.VOICE if disguise else scrub.OWN_VOICE,
            out=clean.write,
            seconds=bounds.time_limit,
            max_audio_seconds=bounds.max_seconds,
        )
    except scrub.Unsupported as exc:
        batch.drop(clean)
        batch.drop(writer)
        raise BadVoice(str(exc)) from None
    batch.drop(writer)
    if result.kind != "opus":
        batch.drop(clean)
        raise BadVoice("not a recording")
    clean.finish()
    status = DISGUISED if disguise else REENCODED
    return Prepared(clean, VOICE_NAME, "opus", clean.size, status, result.removed)


def as_recording(prepared: Prepared) -> Prepared:
    """A re-encoded voice file, as the recording of a meeting (its own name and label)."""
    return dataclasses.replace(prepared, name=RECORDING_NAME, status=RECORDING)


def case_bytes(db: Session, *, case_id: str) -> int:
    """Bytes of attachments the case holds already (for the per-case quota)."""
    total = db.exec(select(func.sum(Attachment.size)).where(Attachment.case_id == case_id)).one()
    return int(total or 0)


def _content(prepared: Prepared, extra: dict[str, object]) -> dict[str, object]:
    """What the ``attachment`` item seals: everything about the file but its bytes."""
    return {
        **extra,
        "name": prepared.name,
        "type": scrub.MEDIA_TYPES.get(prepared.kind or "", ""),
        "size": prepared.size,
        "status": prepared.status,
        "removed": list(prepared.removed),
        "blob": prepared.writer.blob_id,
    }


def attach(
    db: Session,
    *,
    case: Case,
    case_key: bytes,
    files: list[Prepared],
    batch: blobstore.Batch,
    author: str,
    max_case_bytes: int,
    author_user_id: str | None = None,
    visible_to_reporter: bool = True,
    now: dt.datetime | None = None,
    extra: dict[str, object] | None = None,
) -> None:
    """Record the files as items of the case and move their blobs into place; ``extra`` is
    sealed with each (a recording's consent).

    Runs inside the caller's transaction: the blobs are renamed (and the renames fsynced)
    before it commits, so a committed row always has its blob. If the commit fails, the
    caller discards the batch.
    """
    if not files:
        return
    now = now or utcnow()
    if case_bytes(db, case_id=case.id) + sum(f.size for f in files) > max_case_bytes:
        raise CaseFull()
    for prepared in files:
        cases.add_item(
            db,
            case=case,
            case_key=case_key,
            kind="attachment",
            author=author,
            author_user_id=author_user_id,
            visible_to_reporter=visible_to_reporter,
            item_id=prepared.writer.item_id,
            content=_content(prepared, extra or {}),
            now=now,
        )
        db.flush()
        db.add(
            Attachment(
                id=prepared.writer.blob_id,
                case_id=case.id,
                item_id=prepared.writer.item_id,
                size=prepared.size,
            )
        )
    db.flush()
    batch.commit_files([f.writer for f in files])


@dataclass(frozen=True)
class Found:
    blob_id: str
    name: str
    size: int
    case_id: str
    item_id: str
    media_type: str = ""  # as sealed; "audio/ogg" for a voice message or a recording


def find(
    db: Session,
    *,
    blob_dir: Path,
    case_id: str,
    case_key: bytes,
    blob_id: str,
    reporter_view: bool,
) -> Found:
    """The file ``blob_id`` of case ``case_id``, if the caller may read it.

    The blob must belong to this case (a key for another case opens nothing, but the id of
    someone else's blob is refused before any decryption), and for the reporter be visible.
    """
    if not blobs.BLOB_NAME.fullmatch(blob_id):
        raise AttachmentNotFound()
    row = db.get(Attachment, blob_id)
    item = db.get(CaseItem, row.item_id) if row is not None else None
    if row is None or item is None or row.case_id != case_id or item.case_id != case_id:
        raise AttachmentNotFound()
    if reporter_view and not item.visible_to_reporter:
        raise AttachmentNotFound()
    try:
        plain = crypto.open_sealed(
            case_key, item.sealed, purpose="item:attachment", case_id=case_id, item_id=item.id
        )
    except crypto.CryptoError:
        raise AttachmentNotFound() from None
    content = json.loads(plain)
    if content.get("blob") != blob_id or not blobstore.exists(
        db, blob_dir=blob_dir, blob_id=blob_id
    ):
        raise AttachmentNotFound()
    media_type = str(content.get("type", ""))
    return Found(blob_id, content["name"], content["size"], case_id, item.id, media_type)


PLAYABLE = frozenset({"audio/ogg"})  # what the case page's <audio> player streams


def find_for_investigator(
    db: Session,
    *,
    blob_dir: Path,
    case_id: str,
    user_id: str,
    private_key: bytes,
    blob_id: str,
    play: bool = False,
) -> tuple[Found, bytes]:
    """A file of a case this investigator holds, and the case key; the download (or, with
    ``play``, the playing of a recording) is audited (raises
    :class:`~whistle.cases.CaseNotFound` for a case they do not hold)."""
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    found = find(
        db, blob_dir=blob_dir, case_id=case.id, case_key=key, blob_id=blob_id, reporter_view=False
    )
    if play and found.media_type not in PLAYABLE:
        raise AttachmentNotFound()  # only recordings are ever served inline
    action = "recording_played" if play else "attachment_downloaded"
    audit.record(db, action=action, actor_id=user_id, case_id=case.id, detail=blob_id)
    return found, key


def reporter_reply(
    db: Session,
    *,
    case_id: str,
    case_key: bytes,
    text: str,
    files: list[Prepared],
    batch: blobstore.Batch,
    max_case_bytes: int,
    now: dt.datetime | None = None,
) -> None:
    """A reporter's message with files; with files the text may be empty."""
    now = now or utcnow()
    reports.check_own_code(db, case_id=case_id)
    if text.strip() or not files:
        reports.reply(db, case_id=case_id, case_key=case_key, text=text, now=now)
    case = db.get(Case, case_id)
    if case is None:
        raise cases.CaseNotFound()
    if case.status == "closed":
        raise reports.InvalidReport({"text": reports.E_CLOSED})
    attach(
        db,
        case=case,
        case_key=case_key,
        files=files,
        batch=batch,
        author="reporter",
        max_case_bytes=max_case_bytes,
        now=now,
    )
    case.awaiting_investigator = True
    db.add(case)


def investigator_post(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    kind: str,
    text: str,
    files: list[Prepared],
    batch: blobstore.Batch,
    max_case_bytes: int,
    now: dt.datetime | None = None,
) -> None:
    """An investigator's message or note with files (see :func:`casework.post`). Only a message
    or a note may be files alone; an acknowledgement or feedback needs its text."""
    now = now or utcnow()
    if text.strip() or not files or kind not in {"message", "note"}:
        casework.post(
            db,
            case_id=case_id,
            user_id=user_id,
            private_key=private_key,
            kind=kind,
            text=text,
            now=now,
        )
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    if case.status == "closed" and kind != "note":
        raise casework.CaseworkError("closed")
    if not text.strip() and files:
        audit.record(
            db, action=casework.AUDIT_ACTIONS[kind], actor_id=user_id, case_id=case.id, now=now
        )
        if kind != "note":
            case.awaiting_investigator = False
            db.add(case)
    attach(
        db,
        case=case,
        case_key=key,
        files=files,
        batch=batch,
        author="investigator",
        author_user_id=user_id,
        visible_to_reporter=kind != "note",
        max_case_bytes=max_case_bytes,
        now=now,
    )


def sweep(db: Session, *, blob_dir: Path, older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Delete blob files that no row names and temporary files, older than ``older_than``
    (abandoned or crashed uploads). For ``whistle jobs``; returns how many were deleted."""

    def is_known(blob_id: str) -> bool:
        return db.get(Attachment, blob_id) is not None

    return blobs.sweep(blob_dir, is_known=is_known, older_than=older_than)
