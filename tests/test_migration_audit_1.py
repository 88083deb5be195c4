"""Migration audit_1: a log written before the chain was keyed stays verifiable, and is keyed
from the next entry on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from sqlalchemy import text, update
from sqlmodel import Session

from whistle import audit, crypto, db
from whistle.keys import load_keys
from whistle.models import AuditEntry


def _legacy_entries(url: str, count: int) -> None:
    """Entries as the unkeyed code wrote them: SHA-256 links."""
    engine = db.make_engine(url)
    prev = audit.GENESIS
    with engine.begin() as conn:
        for n in range(1, count + 1):
            entry = AuditEntry(
                id=n, at=dt.datetime(2026, 1, n, tzinfo=dt.UTC), action="login", detail=""
            )
            entry_hash = crypto.digest(prev + audit._canonical(entry))
            conn.execute(
                text(
                    "INSERT INTO audit_entries (id, at, action, detail, prev_hash, entry_hash) "
                    "VALUES (:id, :at, 'login', '', :prev, :hash)"
                ),
                {"id": n, "at": entry.at.replace(tzinfo=None), "prev": prev, "hash": entry_hash},
            )
            prev = entry_hash
        conn.execute(
            text("UPDATE audit_head SET count = :n, last_hash = :h"), {"n": count, "h": prev}
        )
    engine.dispose()


def test_upgrade_keeps_old_entries_verifiable_and_keys_new_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = db.alembic_config(url)
    command.upgrade(config, "records_1")
    _legacy_entries(url, 3)
    db.migrate(url)
    engine = audit.keyed(db.make_engine(url), load_keys(tmp_path / "keys", create=True))
    try:
        with Session(engine) as s:
            result = audit.verify(s)
        assert result.ok
        assert result.count == 3
        assert result.keyed_from == 4
        with db.session_scope(engine) as s:
            audit.record(s, action="login")
        with Session(engine) as s:
            assert audit.verify(s).ok
            new = s.get(AuditEntry, 4)
            assert new is not None
            assert new.entry_hash != crypto.digest(new.prev_hash + audit._canonical(new))
        with db.session_scope(engine) as s:  # the old entries are still protected by the chain
            s.execute(update(AuditEntry).where(AuditEntry.id == 2).values(detail="x"))
        with Session(engine) as s:
            broken = audit.verify(s)
        assert not broken.ok
        assert broken.first_bad_id == 2
    finally:
        engine.dispose()
    command.downgrade(config, "records_1")


def test_a_new_installation_is_keyed_from_the_first_entry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    db.migrate(url)
    engine = audit.keyed(db.make_engine(url), load_keys(tmp_path / "keys", create=True))
    try:
        with Session(engine) as s:
            assert audit.current_head(s).keyed_from == 1
    finally:
        engine.dispose()
