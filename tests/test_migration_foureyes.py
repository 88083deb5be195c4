"""Migration foureyes_1 on a database with accounts and route lines from before it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from whistle import db


def test_existing_lines_stay_in_effect_and_look_alikes_get_apart_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = db.alembic_config(url)
    command.upgrade(config, "attachments_1")
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            for user_id, name in (("u1", "Bertil Berg"), ("u2", "bertil  berg"), ("u3", "Anna")):
                conn.execute(
                    text(
                        "INSERT INTO users (id, username, display_name, role, status, created_at,"
                        " totp_last_step) VALUES (:id, :id, :name, 'investigator', 'active',"
                        " '2026-01-01 00:00:00', 0)"
                    ),
                    {"id": user_id, "name": name},
                )
            conn.execute(text("INSERT INTO designations (user_id) VALUES ('u1'), ('u3')"))
        command.upgrade(config, "foureyes_1")
        with engine.connect() as conn:
            keys = dict(conn.execute(text("SELECT id, name_key FROM users")).all())
            lines = conn.execute(
                text("SELECT status, requested_at IS NOT NULL, approved_by FROM designations")
            ).all()
        assert keys["u1"] == "bertll berg"
        assert keys["u2"] == "bertll berg#u2"
        assert keys["u3"] == "anna"
        # Lines from before four eyes were in effect; they stay so, with no approver recorded.
        assert [tuple(row) for row in lines] == [("active", 1, None), ("active", 1, None)]
    finally:
        engine.dispose()
