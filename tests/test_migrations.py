"""The Alembic migrations and the SQLModel models describe the same schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from whistle import db
from whistle.models import metadata


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def _tables(url: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_on_an_empty_database_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    db.migrate(url)
    engine = db.make_engine(url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_migrated_test_database_matches_the_models(engine: Engine) -> None:
    # The suite's database: SQLite, or PostgreSQL when WHISTLE_TEST_DATABASE_URL is set.
    assert _differences(engine) == []


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    config = db.alembic_config(url)
    db.migrate(url)
    assert {t.name for t in metadata.sorted_tables} <= _tables(url)
    command.downgrade(config, "base")
    assert _tables(url) <= {"alembic_version"}
    db.migrate(url)
    assert {t.name for t in metadata.sorted_tables} <= _tables(url)
    engine = db.make_engine(url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert all(len(r.nextrev) <= 1 for r in revisions)


def test_migration_files_list_in_chain_order() -> None:
    """File NNNN_*.py is the NNNth step from the base, so `ls` shows the history in order."""
    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    in_order = [Path(r.path).name for r in reversed(list(script.walk_revisions()))]
    numbered = [f"{n:04d}_" for n in range(1, len(in_order) + 1)]
    assert [name[:5] for name in in_order] == numbered, in_order
