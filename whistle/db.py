"""Engine, sessions and migrations. SQLite (WAL) by default, PostgreSQL in production."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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


def make_engine(url: str) -> Engine:
    """An engine with the pragmas the service relies on (foreign keys, WAL, busy timeout)."""
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
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
    )


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


def migrate(url: str) -> None:
    """Bring the database to the newest schema (``alembic upgrade heads``: every branch)."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)  # before Alembic's connection creates it world-readable
    command.upgrade(alembic_config(url), "heads")


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
