"""Migration webauthn_1: the security-key tables and the sessions' factor column; a staff
session from before the migration stays valid (its binding did not change), and the
migration goes down and up again cleanly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import Session

from whistle import crypto, db, sessions
from whistle.models import utcnow


def test_sessions_survive_and_tables_appear(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'before.db'}"
    config = db.alembic_config(url)
    previous = ScriptDirectory.from_config(config).get_revision("webauthn_1").down_revision
    assert isinstance(previous, str)
    command.upgrade(config, previous)
    user_id, session_id, secret = "a" * 32, "session-id-before", crypto.random_key()
    digest = crypto.digest(session_id)
    payload = b"private key of anna"
    sealed = crypto.seal(
        secret, payload, purpose="session/staff", case_id=f"{user_id}/", item_id=digest.hex()
    )
    now = utcnow()
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, username, display_name, role, status, created_at, "
                    "totp_last_step, password_scheme, recovery_scheme, factor_failures) "
                    "VALUES (:id, 'anna', 'Anna', 'investigator', 'active', :now, 0, 2, 2, 0)"
                ),
                {"id": user_id, "now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO web_sessions (id_digest, kind, user_id, sealed, created_at, "
                    "last_seen_at, expires_at) VALUES (:d, 'staff', :u, :s, :now, :now, :exp)"
                ),
                {
                    "d": digest,
                    "u": user_id,
                    "s": sealed,
                    "now": now,
                    "exp": now + dt.timedelta(hours=1),
                },
            )
        db.migrate(url)
        tables = set(inspect(engine).get_table_names())
        assert {"security_keys", "security_key_challenges"} <= tables
        cookie = f"{session_id}.{sessions._b64(secret)}"
        with Session(engine) as s:
            loaded = sessions.load(s, cookie, kind="staff", idle=dt.timedelta(minutes=30))
            assert loaded is not None
            assert loaded.payload == payload
            assert loaded.factor is None
        command.downgrade(config, previous)
        assert "security_keys" not in set(inspect(engine).get_table_names())
        command.upgrade(config, "webauthn_1")
        assert "security_keys" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
