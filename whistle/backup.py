"""Backups of the database and the blob directory, and restoring them.

A backup directory holds the database (SQLite: a copy made with the online backup API, so it is
consistent while the service runs; PostgreSQL: a ``pg_dump -Fc`` archive), the encrypted blobs,
and ``manifest.json`` with the time, the schema revision and a SHA-256 per file.

The key directory is deliberately **not** in the backup. Everything in the database and the blobs
is sealed, and the case-code pepper in ``keys/`` is what keeps a stolen copy from even being
brute-forced offline; a backup that carried its own keys would give that away. Keys are backed up
once, separately, to a different place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, make_url, text

from whistle import db
from whistle.settings import Settings

MANIFEST = "manifest.json"
SQLITE_FILE = "whistle.db"
PG_FILE = "whistle.pgdump"
BLOBS = "blobs"
FORMAT = 1
KEYS_NOTICE = (
    "The key directory is NOT in this backup (by design). Back up WHISTLE_KEYS_DIR separately, "
    "to another place: without its pepper.key no reporter can open a case from this backup."
)


class BackupError(RuntimeError):
    """The backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    created_at: str
    schema_revision: str | None
    database: str  # sqlite | postgresql
    files: dict[str, str]  # relative path -> sha256

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "created_at": self.created_at,
                "schema_revision": self.schema_revision,
                "database": self.database,
                "keys_included": False,
                "files": self.files,
            },
            indent=2,
            sort_keys=True,
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("the SQLite database is not a file")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore, with the password moved to the environment
    (a password on the command line is visible to every user of the machine)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH; install the PostgreSQL client tools (same major version "
            "as the server) to back up or restore a PostgreSQL database"
        )
    return found


def _schema_revision(url: str) -> str | None:
    engine = db.make_engine(url)
    try:
        if not inspect(engine).has_table("alembic_version"):
            return None
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


# A backup, and what a restore writes, is for the service's user alone: directories 0700, files
# 0600, whatever the umask (022 would make them world-readable).
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _private_dir(path: Path) -> None:
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR)


def _private_empty_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def _copy_tree(src: Path, dest: Path) -> None:
    _private_dir(dest)
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_dir():
            _private_dir(target)
        elif path.is_file() and not path.name.endswith(".part"):
            # A .part file is an upload still streaming in: no committed row names it yet.
            _private_dir(target.parent)
            shutil.copy2(path, target)
            target.chmod(PRIVATE_FILE)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def backup(*, settings: Settings, dest: Path) -> Manifest:
    """Copy the database and then the blobs into ``dest`` (which must be empty or absent).

    The database is copied first: blobs are written before the row that names them commits, so
    every blob the copied database refers to is already there when the blob copy runs.
    """
    url = settings.effective_database_url
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty")
    _private_dir(dest)
    revision = _schema_revision(url)
    if _is_sqlite(url):
        source_path = _sqlite_path(url)
        if not source_path.exists():
            raise BackupError(f"no database at {source_path}")
        _private_empty_file(dest / SQLITE_FILE)
        source = sqlite3.connect(source_path)
        target = sqlite3.connect(dest / SQLITE_FILE)
        try:
            with target:
                source.backup(target)  # consistent snapshot, even while the service writes
        finally:
            target.close()
            source.close()
        kind = "sqlite"
    else:
        dsn, env = _libpq(url)
        pg_dump = _pg_tool("pg_dump")
        _private_empty_file(dest / PG_FILE)  # pg_dump truncates it and keeps the mode
        result = subprocess.run(  # noqa: S603 - fixed tool, arguments are not a shell string
            [pg_dump, "-Fc", "--no-owner", "-f", str(dest / PG_FILE), "--dbname", dsn],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()[:500]}")
        kind = "postgresql"
    if settings.blob_dir.is_dir():
        _copy_tree(settings.blob_dir, dest / BLOBS)
    files = {
        path.relative_to(dest).as_posix(): _sha256(path)
        for path in sorted(dest.rglob("*"))
        if path.is_file()
    }
    manifest = Manifest(
        created_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        schema_revision=revision,
        database=kind,
        files=files,
    )
    _private_empty_file(dest / MANIFEST)
    (dest / MANIFEST).write_text(manifest.to_json() + "\n", encoding="utf-8")
    _fsync_tree(dest)
    return manifest


def read_manifest(src: Path) -> Manifest:
    """Read and verify a backup: every listed file present with its SHA-256, nothing extra."""
    try:
        raw = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src / MANIFEST} is missing or unreadable: {exc}") from None
    if raw.get("format") != FORMAT or raw.get("database") not in {"sqlite", "postgresql"}:
        raise BackupError("not a whistle backup manifest")
    files: dict[str, str] = dict(raw.get("files", {}))
    present = {
        p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file() and p.name != MANIFEST
    }
    if present != set(files):
        raise BackupError(f"files differ from the manifest: {sorted(present ^ set(files))}")
    for name, expected in files.items():
        if _sha256(src / name) != expected:
            raise BackupError(f"{name}: sha256 does not match the manifest")
    return Manifest(
        created_at=str(raw.get("created_at")),
        schema_revision=raw.get("schema_revision"),
        database=str(raw["database"]),
        files=files,
    )


def _has_data(settings: Settings) -> bool:
    url = settings.effective_database_url
    if _is_sqlite(url):
        path = _sqlite_path(url)
        if path.exists() and path.stat().st_size > 0:
            return True
    else:
        engine = db.make_engine(url)
        try:
            if inspect(engine).get_table_names():
                return True
        finally:
            engine.dispose()
    return settings.blob_dir.is_dir() and any(settings.blob_dir.iterdir())


def _restore_sqlite(src: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    target.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    # Copy beside the target, then rename: a crash never leaves half a database in place.
    fd, tmp = tempfile.mkstemp(prefix=".restore-", dir=target.parent)
    os.close(fd)
    shutil.copyfile(src, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def _restore_postgres(src: Path, url: str, *, force: bool) -> None:
    dsn, env = _libpq(url)
    args = [_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", dsn]
    if force:
        args[1:1] = ["--clean", "--if-exists"]
    result = subprocess.run(  # noqa: S603 - fixed tool, arguments are not a shell string
        [*args, str(src)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[:500]}")


def restore(*, settings: Settings, src: Path, force: bool = False) -> Manifest:
    """Verify the backup in ``src`` and restore it; refuse to overwrite data without ``force``."""
    manifest = read_manifest(src)
    url = settings.effective_database_url
    if (manifest.database == "sqlite") != _is_sqlite(url):
        raise BackupError(f"the backup is of a {manifest.database} database; the target is not")
    if _has_data(settings) and not force:
        raise BackupError("the target already holds data; use --force to replace it")
    if manifest.database == "sqlite":
        _restore_sqlite(src / SQLITE_FILE, _sqlite_path(url))
    else:
        _restore_postgres(src / PG_FILE, url, force=force)
    if settings.blob_dir.exists():
        shutil.rmtree(settings.blob_dir)
    if (src / BLOBS).is_dir():
        _copy_tree(src / BLOBS, settings.blob_dir)
    return manifest
