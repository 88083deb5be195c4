"""Engine, sessions and migrations. SQLite (WAL) by default, PostgreSQL in production."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The PostgreSQL advisory lock key that serialises migrations ("whis" in ASCII).
MIGRATION_LOCK = 0x77686973
log = logging.getLogger("whistle")


PRIVATE_FILE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use 0644 under umask 022), and
    tighten an existing one. SQLite gives ``-wal`` and ``-shm`` the database file's mode, so
    the journal files follow; existing ones are tightened too. The file holds only sealed
    content, but its metadata (who holds which case, dates, the audit log) is nobody else's."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_FILES)):
        try:
            if stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                candidate.chmod(PRIVATE_FILE)
        except FileNotFoundError:
            continue


def make_engine(url: str, **options: Any) -> Engine:
    """An engine with the pragmas the service relies on (foreign keys, WAL, busy timeout).

    ``options`` replace PostgreSQL's pool settings (the upload engine of ``whistle.blobstore``)."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)
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
    if url.startswith("sqlite"):
        private_sqlite_file(url)  # before Alembic's connection creates it world-readable
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
    """True when the schema is missing, or no case and no staff password exist yet (a first
    start): both case codes and staff passwords are derived with the pepper in ``keys/``."""
    if not inspect(engine).has_table("cases"):
        return True
    with engine.connect() as conn:
        if conn.exec_driver_sql("SELECT 1 FROM cases LIMIT 1").first() is not None:
            return False
        passwords = "SELECT 1 FROM users WHERE password_verifier IS NOT NULL LIMIT 1"
        return conn.exec_driver_sql(passwords).first() is None


def checkpoint(engine: Engine) -> None:
    """SQLite: copy the write-ahead log into the database and empty it, so that a page version
    overwritten on purpose (a redaction) does not linger in the log. No-op elsewhere."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()
