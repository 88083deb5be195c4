"""``whistle blobs migrate --to database|files``: moving sealed blobs between the two stores.

Blobs are moved as they are: sealed bytes, never decrypted (no key is needed or used). Each
blob is copied, the copy is verified against the source by its sealed size and SHA-256, and
only then is the source deleted. Every step can be interrupted and the command run again: a
blob found in both stores is verified again and its source deleted; a copy that does not
match is thrown away and made again. Run it on a host that has the blob directory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, delete, insert
from sqlmodel import Session, col, select

from whistle import blobs, blobstore, crypto
from whistle.models import Attachment, BlobChunk

# A blob file's pieces as the rows hold them: the header, then each sealed chunk.
SEALED_CHUNK = crypto.StreamOpener.sealed_chunk_size


class MigrationFailed(RuntimeError):
    """A copy did not match its source; the source was kept."""


@dataclass
class MigrationReport:
    moved: int = 0
    already: int = 0  # already in the target store
    missing: list[str] = field(default_factory=list)  # named by a row, found in neither store


@dataclass(frozen=True)
class Sum:
    size: int
    sha256: str


def _sum(pieces: Iterable[bytes]) -> Sum:
    h, size = hashlib.sha256(), 0
    for piece in pieces:
        h.update(piece)
        size += len(piece)
    return Sum(size, h.hexdigest())


def file_pieces(path: Path) -> Iterator[bytes]:
    """A blob file split as its rows would be: header, then sealed chunks."""
    with path.open("rb") as source:
        yield source.read(crypto.StreamOpener.header_len)
        while piece := source.read(SEALED_CHUNK):
            yield piece


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _delete_rows(engine: Engine, blob_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(BlobChunk).where(col(BlobChunk.blob_id) == blob_id))


def _to_database(engine: Engine, path: Path, blob_id: str) -> None:
    source = _sum(file_pieces(path))
    with engine.begin() as conn:  # all the rows of a blob, or none
        conn.execute(delete(BlobChunk).where(col(BlobChunk.blob_id) == blob_id))
        rows: list[dict[str, object]] = []
        for seq, piece in enumerate(file_pieces(path)):
            rows.append({"blob_id": blob_id, "seq": seq, "data": piece})
            if len(rows) >= blobstore.ROWS_PER_WRITE:
                conn.execute(insert(BlobChunk), rows)
                rows = []
        if rows:
            conn.execute(insert(BlobChunk), rows)
    if _sum(blobstore.sealed_rows(engine, blob_id)) != source:
        _delete_rows(engine, blob_id)
        raise MigrationFailed(f"blob {blob_id}: the copy in the database does not match")
    path.unlink()
    _fsync_dir(path.parent)


def _to_files(engine: Engine, blob_dir: Path, blob_id: str) -> None:
    source = _sum(blobstore.sealed_rows(engine, blob_id))
    part = blob_dir / (blob_id + blobs.PART_SUFFIX)
    part.unlink(missing_ok=True)  # left by an interrupted run
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        for piece in blobstore.sealed_rows(engine, blob_id):
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    if _sum(file_pieces(part)) != source:
        part.unlink()
        raise MigrationFailed(f"blob {blob_id}: the copy on disk does not match")
    os.replace(part, blob_dir / blob_id)
    _fsync_dir(blob_dir)
    _delete_rows(engine, blob_id)


def _finish_both(engine: Engine, path: Path, blob_id: str, *, to: str) -> bool:
    """A blob in both stores (an interrupted run): delete the source if the copy matches."""
    in_db = _sum(blobstore.sealed_rows(engine, blob_id))
    on_disk = _sum(file_pieces(path))
    if in_db != on_disk:
        return False  # the copy is incomplete or wrong: the caller copies again
    if to == blobstore.DATABASE:
        path.unlink()
        _fsync_dir(path.parent)
    else:
        _delete_rows(engine, blob_id)
    return True


def migrate(*, engine: Engine, blob_dir: Path, to: str) -> MigrationReport:
    """Move every attachment's blob into the ``to`` store (``database`` or ``files``)."""
    if to not in {blobstore.DATABASE, blobstore.FILES}:
        raise ValueError(to)
    blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with Session(engine) as s:
        ids = list(s.exec(select(Attachment.id).order_by(col(Attachment.id))).all())
    report = MigrationReport()
    for blob_id in ids:
        path = blob_dir / blob_id
        with engine.connect() as conn:
            in_db = blobstore.in_database(conn, blob_id)
        on_disk = path.is_file()
        if in_db and on_disk and _finish_both(engine, path, blob_id, to=to):
            report.moved += 1
            continue
        if to == blobstore.DATABASE:
            if on_disk:
                _to_database(engine, path, blob_id)
                report.moved += 1
            elif in_db:
                report.already += 1
            else:
                report.missing.append(blob_id)
        elif in_db:
            if on_disk:  # a mismatching copy on disk; the database's rows are the source
                path.unlink()
            _to_files(engine, blob_dir, blob_id)
            report.moved += 1
        elif on_disk:
            report.already += 1
        else:
            report.missing.append(blob_id)
    return report
