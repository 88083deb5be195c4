"""The offline continuity key: cases survive when every investigator of a category is gone.

Its public half lives in ``keys/continuity.pub`` and receives a wrap of every new case key. Its
private half is written once for the head of the function to keep offline (paper or USB in a
safe); the server never holds it. With it, :func:`regrant` wraps a case key to a named
investigator. It is never an administrator-held escrow: an administrator has neither half's use.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from sqlmodel import Session, col, select

from whistle import audit, crypto
from whistle.keys import CONTINUITY_PUBLIC_FILE
from whistle.models import Case, CaseKeyWrap, User

PRIVATE_HEADER = "whistle continuity private key v1"


class ContinuityError(RuntimeError):
    pass


def create(keys_dir: Path, private_out: Path) -> None:
    """Make the key pair: public half into keys/, private half into ``private_out`` (0600)."""
    public_path = keys_dir / CONTINUITY_PUBLIC_FILE
    if public_path.exists():
        raise ContinuityError(f"{public_path} exists; a second key would split the cases")
    private, public = crypto.generate_keypair()
    text = f"{PRIVATE_HEADER}\n{base64.b32encode(private).decode()}\n"
    fd = os.open(private_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    public_path.write_bytes(public)


def read_private(path: Path) -> bytes:
    lines = path.read_text().split()
    body = "".join(w for w in lines if w not in PRIVATE_HEADER.split())
    try:
        private = base64.b32decode(body)
    except ValueError:
        raise ContinuityError("not a continuity private key file") from None
    if len(private) != crypto.PRIVATE_KEY_LEN:
        raise ContinuityError("not a continuity private key file")
    return private


def find_case(db: Session, reference: str) -> Case | None:
    """A case by full id or by the 8-character reference shown to investigators."""
    ref = reference.strip().lower()
    if len(ref) == 32:
        return db.get(Case, ref)
    matches = list(db.exec(select(Case).where(col(Case.id).startswith(ref)).limit(2)))
    return matches[0] if len(matches) == 1 else None


def regrant(db: Session, *, private_key: bytes, case_reference: str, username: str) -> str:
    """Wrap a case key, opened with the offline private key, to an active investigator."""
    case = find_case(db, case_reference)
    if case is None:
        raise ContinuityError("no such case (or the reference is ambiguous)")
    if case.continuity_wrap is None:
        raise ContinuityError("this case was filed before the continuity key existed")
    user = db.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None or user.role != "investigator" or user.status != "active":
        raise ContinuityError("no active investigator with that username")
    assert user.public_key is not None
    try:
        key = crypto.unwrap_key(
            case.continuity_wrap, private_key, case_id=case.id, recipient_id="continuity"
        )
    except crypto.CryptoError:
        raise ContinuityError("this private key does not open the case") from None
    wrapped = crypto.wrap_key(key, user.public_key, case_id=case.id, recipient_id=user.id)
    existing = db.get(CaseKeyWrap, (case.id, user.id))
    if existing is not None:
        existing.wrapped = wrapped
        db.add(existing)
    else:
        db.add(CaseKeyWrap(case_id=case.id, user_id=user.id, wrapped=wrapped))
    audit.record(db, action="continuity_grant", case_id=case.id, subject_id=user.id)
    return case.id
