"""Migration staffauth_1: existing accounts are marked as the unpeppered scheme 1, and such an
account logs in once and is upgraded to scheme 2."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import Session

from tests.helpers import CHEAP_ARGON2, PASSWORD
from whistle import accounts, crypto, db
from whistle.models import User


def test_existing_accounts_become_scheme_1_and_upgrade_at_login(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'before.db'}"
    config = db.alembic_config(url)
    previous = ScriptDirectory.from_config(config).get_revision("staffauth_1").down_revision
    assert isinstance(previous, str)
    command.upgrade(config, previous)
    # An investigator as the code before the pepper stored them.
    salt = b"0123456789abcdef"
    legacy = crypto.derive_password_keys(PASSWORD, salt, CHEAP_ARGON2)
    private, public = crypto.generate_keypair()
    user_id = "a" * 32
    sealed = crypto.seal(legacy.kek, private, purpose="private-key", case_id="", item_id=user_id)
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, username, display_name, role, status, created_at, "
                    "password_salt, password_verifier, public_key, private_key_sealed, "
                    "totp_last_step) VALUES (:id, 'anna', 'Anna', 'investigator', 'active', "
                    ":created, :salt, :verifier, :public, :sealed, 0)"
                ),
                {
                    "id": user_id,
                    "created": dt.datetime(2026, 1, 1),
                    "salt": salt,
                    "verifier": legacy.verifier,
                    "public": public,
                    "sealed": sealed,
                },
            )
        db.migrate(url)
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT password_scheme, recovery_scheme, factor_failures, "
                    "factor_locked_until FROM users"
                )
            ).one()
        assert tuple(row) == (1, 1, 0, None)
        password_key = crypto.password_key(crypto.random_key())
        with Session(engine) as s:
            who = accounts.authenticate(
                s,
                username="anna",
                password=PASSWORD,
                params=CHEAP_ARGON2,
                password_key=password_key,
            )
            assert who.private_key == private
            s.commit()
        with Session(engine) as s:
            user = s.get(User, user_id)
            assert user is not None
            assert user.password_scheme == 2
            assert user.private_key_sealed is not None
            assert user.private_key_sealed != sealed
            peppered = crypto.derive_peppered_password_keys(
                PASSWORD, salt, CHEAP_ARGON2, password_key=password_key
            )
            assert user.password_verifier == peppered.verifier
    finally:
        engine.dispose()
