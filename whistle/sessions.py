"""Server-side sessions.

The cookie holds ``<id>.<secret>``. The database holds SHA-256(id) and the session's payload
(the investigator's unlocked private key, or the reporter's case key) sealed under the secret.
So a stolen database opens no session, and a stolen cookie is useless once the row is gone.

The sealed payload is bound to the row's id digest, kind, user and case: someone who can write
to the database cannot move a payload to another row, turn a pending login into a full staff
session, or attach their own unlocked key to another user's account.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, delete

from whistle import crypto
from whistle.models import WebSession, utcnow


@dataclass(frozen=True)
class LoadedSession:
    kind: str
    user_id: str | None
    case_id: str | None
    payload: bytes
    id_digest: bytes
    # How a staff login passed its second step, and when it began (see models.WebSession).
    factor: str | None = None
    created_at: dt.datetime | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _bound(row: WebSession) -> dict[str, str]:
    """The AEAD binding of a row's payload: kind, user and case, and the id digest. Ids are
    hex, so "user/case" in one length-prefixed field is unambiguous. A login's factor is bound
    too (rows without one keep the binding they always had)."""
    return {
        "purpose": "session/" + row.kind + (f"/{row.factor}" if row.factor else ""),
        "case_id": f"{row.user_id or ''}/{row.case_id or ''}",
        "item_id": row.id_digest.hex(),
    }


def create(
    db: Session,
    *,
    kind: str,
    payload: bytes,
    lifetime: dt.timedelta,
    user_id: str | None = None,
    case_id: str | None = None,
    factor: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Store a new session and return the cookie value (shown to nobody but the browser)."""
    moment = now or utcnow()
    # Nothing reads an expired row again; left alone it would keep for ever when a reporter
    # last opened which case. Every login clears them.
    purge_expired(db, now=moment)
    session_id = crypto.random_token(24)
    secret = crypto.random_key()
    row = WebSession(
        id_digest=crypto.digest(session_id),
        kind=kind,
        user_id=user_id,
        case_id=case_id,
        factor=factor,
        sealed=b"",
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + lifetime,
    )
    row.sealed = crypto.seal(secret, payload, **_bound(row))
    db.add(row)
    return f"{session_id}.{_b64(secret)}"


def _split(cookie: str) -> tuple[bytes, bytes] | None:
    session_id, _, secret_text = cookie.partition(".")
    if not session_id or not secret_text or len(cookie) > 200:
        return None
    try:
        secret = _unb64(secret_text)
    except (binascii.Error, ValueError):
        return None
    if len(secret) != crypto.KEY_LEN:
        return None
    return crypto.digest(session_id), secret


def load(
    db: Session,
    cookie: str | None,
    *,
    kind: str,
    idle: dt.timedelta,
    now: dt.datetime | None = None,
) -> LoadedSession | None:
    """The live session of this kind for the cookie, touching its idle timer; else None."""
    if not cookie:
        return None
    parts = _split(cookie)
    if parts is None:
        return None
    id_digest, secret = parts
    row = db.get(WebSession, id_digest)
    if row is None or row.kind != kind:
        return None
    moment = now or utcnow()
    if row.expires_at <= moment or row.last_seen_at + idle <= moment:
        db.delete(row)
        return None
    try:
        payload = crypto.open_sealed(secret, row.sealed, **_bound(row))
    except crypto.CryptoError:
        return None
    # Touch at most once a minute, to spare the database a write on every request.
    if moment - row.last_seen_at > dt.timedelta(minutes=1):
        row.last_seen_at = moment
        db.add(row)
    return LoadedSession(
        row.kind, row.user_id, row.case_id, payload, id_digest, row.factor, row.created_at
    )


def destroy(db: Session, cookie: str | None) -> None:
    parts = _split(cookie or "")
    if parts is not None:
        db.exec(delete(WebSession).where(col(WebSession.id_digest) == parts[0]))


def destroy_for_user(db: Session, user_id: str) -> None:
    """Log a user out everywhere."""
    db.exec(delete(WebSession).where(col(WebSession.user_id) == user_id))


def destroy_others(db: Session, *, user_id: str, keep: str) -> int:
    """End every session of the user (pending logins too) but the one whose cookie is ``keep``:
    after a password change, a browser logged in with the old password must not stay in."""
    parts = _split(keep)
    kept = parts[0] if parts is not None else b""
    result = db.exec(
        delete(WebSession).where(
            col(WebSession.user_id) == user_id, col(WebSession.id_digest) != kept
        )
    )
    return int(result.rowcount)


def purge_expired(db: Session, *, now: dt.datetime | None = None) -> int:
    # One DELETE statement: two logins purging the same rows at once must not conflict.
    moment = now or utcnow()
    result = db.exec(delete(WebSession).where(col(WebSession.expires_at) <= moment))
    return int(result.rowcount)
