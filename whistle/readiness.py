"""Whether this process should get traffic (``/readyz``), as opposed to merely being alive
(``/healthz``): the database answers, its schema is the one this code was written for, the keys
are loaded, and the blob store takes a write."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from whistle import blobstore, crypto, db
from whistle.keys import Keys
from whistle.models import BlobChunk, new_id

# A probe blob id: 32 hex digits like every blob, never committed (database) or kept (files).
PROBE_PREFIX = "0" * 16


@dataclass(frozen=True)
class Readiness:
    failed: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.failed


def _database(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


def _schema(engine: Engine) -> bool:
    try:
        return db.schema_at_head(engine)
    except SQLAlchemyError:
        return False


def _keys(keys: Keys) -> bool:
    return len(keys.pepper) == crypto.KEY_LEN


def _store(store: blobstore.Store) -> bool:
    probe = PROBE_PREFIX + new_id()[16:]
    if store.kind == blobstore.DATABASE:
        assert store.upload_engine is not None
        try:
            with store.upload_engine.connect() as conn:
                conn.execute(insert(BlobChunk), [{"blob_id": probe, "seq": 0, "data": b"\0"}])
                conn.execute(delete(BlobChunk).where(col(BlobChunk.blob_id) == probe))
                conn.rollback()  # nothing of the probe is ever committed
            return True
        except SQLAlchemyError:
            return False
    try:
        store.blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = store.blob_dir / (probe + ".part")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0")
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)
        return True
    except OSError:
        return False


def check(*, engine: Engine, keys: Keys, store: blobstore.Store) -> Readiness:
    """Every check that fails, by name (``database``, ``schema``, ``keys``, ``blobs``)."""
    if not _database(engine):
        return Readiness(("database",))  # nothing else can be checked
    failed: list[str] = []
    if not _schema(engine):
        failed.append("schema")
    if not _keys(keys):
        failed.append("keys")
    if not _store(store):
        failed.append("blobs")
    return Readiness(tuple(failed))
