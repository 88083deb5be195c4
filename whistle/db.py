"""Engine, sessions and migrations. SQLite (WAL) by default, PostgreSQL in production."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The PostgreSQL advisory lock key that serialises migrations ("whis" in ASCII).
MIGRATION_LOCK = 0x77686973
log = logging.getLogger("whistle")


def make_engine(url: str, **options: Any) -> Engine:
    """An engine with the pragmas the service relies on (foreign keys, WAL, busy timeout).

    ``options`` replace PostgreSQL's pool settings (the upload engine of ``whistle.blobstore``)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,  # an error message must never carry column values into a log
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite must not issue its own deferred BEGIN: see _begin below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a returned case code must survive a crash
            cursor.execute("PRAGMA busy_timeout=30000")
            # Deleted content is overwritten, not left in free pages of the file.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A deferred transaction that reads and then writes fails at once with "database is
            # locked" when another writer committed in between (WAL snapshot). Taking the write
            # lock at BEGIN makes concurrent requests queue (busy_timeout) instead of failing.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    pool = options or {"pool_size": 10, "max_overflow": 10}
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class SchemaTooNew(RuntimeError):
    """The database was migrated by newer code than this: this host must not serve it."""


def _check_not_newer(conn: Connection, url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(url))
    for revision in MigrationContext.configure(conn).get_current_heads():
        try:
            known = script.get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise SchemaTooNew(
                f"the database schema is at revision {revision}, which this version of whistle "
                "does not know: it was migrated by a newer version. Upgrade this host; it will "
                "not serve an unknown schema"
            )


def migrate(url: str) -> None:
    """Bring the database to the newest schema (``alembic upgrade heads``: every branch).

    On PostgreSQL the migration runs under a session advisory lock, so of several hosts
    starting at once exactly one migrates and the others wait, then find the schema at head.
    Refuses (:class:`SchemaTooNew`) a schema that newer code migrated.
    """
    config = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                key = {"key": MIGRATION_LOCK}
                if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar():
                    log.info("another process is migrating the database; waiting for it")
                    conn.execute(text("SELECT pg_advisory_lock(:key)"), key)
                conn.commit()  # the lock is the session's; the migration has its transaction
            try:
                _check_not_newer(conn, url)
                conn.commit()
                if postgres:
                    config.attributes["connection"] = conn
                command.upgrade(config, "heads")
            finally:
                if postgres:
                    conn.rollback()
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                    conn.commit()
    finally:
        engine.dispose()


def schema_at_head(engine: Engine) -> bool:
    """True when the database is at exactly the revisions this code's migrations end in."""
    script = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(False)))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == set(script.get_heads())


def is_empty(engine: Engine) -> bool:
    """True when the schema is missing or no case exists yet (a first start)."""
    if not inspect(engine).has_table("cases"):
        return True
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT 1 FROM cases LIMIT 1").first() is None
