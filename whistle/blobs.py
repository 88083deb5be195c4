"""Encrypted blob files: writing them while an upload streams in, reading them back, sweeping.

A blob is ``crypto.StreamSealer``'s header followed by its sealed 64 KiB chunks, bound to
(purpose, case id, item id). Plaintext never touches the disk: each chunk is sealed in memory
before it is written. A blob is written under a temporary name (``<id>.part``), fsynced, and
renamed to its final name (``<id>``, a random id that says nothing about the file) only when the
database transaction that names it is about to commit; a crash in between leaves a file that no
row names, which :func:`sweep` deletes after an hour.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from whistle import crypto
from whistle.models import new_id

PURPOSE = "attachment"
PART_SUFFIX = ".part"
BLOB_NAME = re.compile(r"[0-9a-f]{32}")
# What the type sniffer needs: the longest magic number we look at, with room to spare.
HEAD_BYTES = 64


class BlobClosed(RuntimeError):
    """The upload was abandoned: no more files may be written for it."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """Seals one file chunk by chunk into ``<blob_dir>/<blob id>.part``."""

    def __init__(
        self, blob_dir: Path, *, key: bytes, case_id: str, item_id: str, blob_id: str
    ) -> None:
        self.blob_id = blob_id
        self.case_id = case_id
        self.item_id = item_id
        self.size = 0  # plaintext bytes so far
        self.head = b""  # the first bytes, kept in memory to detect the type
        self.sealed_size = 0
        self.part_path = blob_dir / (blob_id + PART_SUFFIX)
        self.final_path = blob_dir / blob_id
        self._sealer = crypto.StreamSealer(key, purpose=PURPOSE, case_id=case_id, item_id=item_id)
        self._buffer = bytearray()
        # O_EXCL: never write into a file someone else made; 0600: nobody else reads it.
        fd = os.open(self.part_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._emit(self._sealer.header)

    def _emit(self, data: bytes) -> None:
        self._file.write(data)
        self.sealed_size += len(data)

    def write(self, data: bytes | memoryview) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += bytes(data[: HEAD_BYTES - len(self.head)])
        self.size += len(data)
        self._buffer += data
        # Keep the last (possibly full) chunk back: only at the end do we know it is the last.
        while len(self._buffer) > crypto.CHUNK_SIZE:
            chunk = bytes(self._buffer[: crypto.CHUNK_SIZE])
            del self._buffer[: crypto.CHUNK_SIZE]
            self._emit(self._sealer.seal_chunk(chunk))

    def finish(self) -> None:
        """Seal the last chunk and make the file durable (still under its temporary name)."""
        self._emit(self._sealer.seal_chunk(bytes(self._buffer), last=True))
        self._buffer.clear()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class BlobBatch:
    """Every blob file one request creates, so that a failure anywhere removes all of them.

    Thread-safe: an abandoned request (client gone, task cancelled) may call :meth:`discard`
    while a worker thread is still about to open a file; that file is then refused.
    """

    def __init__(self, blob_dir: Path) -> None:
        self.blob_dir = blob_dir
        blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._paths: list[Path] = []
        self._writers: list[BlobWriter] = []
        self._closed = False

    def open(self, *, key: bytes, case_id: str, item_id: str) -> BlobWriter:
        with self._lock:
            if self._closed:
                raise BlobClosed()
            blob_id = new_id()
            self._paths += [
                self.blob_dir / (blob_id + PART_SUFFIX),
                self.blob_dir / blob_id,
            ]
            writer = BlobWriter(
                self.blob_dir, key=key, case_id=case_id, item_id=item_id, blob_id=blob_id
            )
            self._writers.append(writer)
            return writer

    def drop(self, writer: BlobWriter) -> None:
        """Remove one blob now (it was replaced by a cleaned copy)."""
        writer.close()
        for path in (writer.part_path, writer.final_path):
            path.unlink(missing_ok=True)

    def commit_files(self, writers: list[BlobWriter]) -> None:
        """Rename finished blobs into place and make the renames durable. Call inside the
        transaction, before it commits: a blob must exist before a row names it."""
        for writer in writers:
            os.replace(writer.part_path, writer.final_path)
        _fsync_dir(self.blob_dir)

    def discard(self) -> None:
        """Remove every file this request wrote, under either name. Idempotent."""
        with self._lock:
            self._closed = True
            writers, paths = list(self._writers), list(self._paths)
        for writer in writers:
            writer.close()
        for path in paths:
            path.unlink(missing_ok=True)

    def keep(self) -> None:
        """The transaction committed: the files now belong to their rows."""
        with self._lock:
            self._closed = True
            self._paths.clear()
            self._writers.clear()


def read(path: Path, *, key: bytes, case_id: str, item_id: str) -> Iterator[bytes]:
    """The plaintext of a blob, chunk by chunk, each authenticated before it is yielded.

    Raises :class:`crypto.CryptoError` on tampering, truncation or a wrong binding.
    """
    with path.open("rb") as source:
        header = source.read(crypto.StreamOpener.header_len)
        opener = crypto.StreamOpener(key, header, purpose=PURPOSE, case_id=case_id, item_id=item_id)
        size = crypto.StreamOpener.sealed_chunk_size
        chunk = source.read(size)
        while True:
            following = source.read(size)
            yield opener.open_chunk(chunk, last=not following)
            if not following:
                return
            chunk = following


CLOCK_PROBE = ".sweep-clock"


def _file_clock(blob_dir: Path) -> float:
    """The file system's idea of "now": the mtime of a file touched this instant.

    File ages are compared with this rather than with the process clock, so the two clocks are
    never mixed (a process under a shifted clock, or a host whose clock and file server's clock
    differ, would otherwise see every upload in progress as an hour old, and delete it).
    """
    probe = blob_dir / CLOCK_PROBE
    probe.touch()
    os.utime(probe)
    return probe.stat().st_mtime


def sweep(
    blob_dir: Path,
    *,
    is_known: Callable[[str], bool],
    older_than: dt.timedelta = dt.timedelta(hours=1),
    now: float | None = None,
) -> int:
    """Delete blob files that no row names (crashed or abandoned uploads), and temporary files,
    once they are older than ``older_than``. Returns how many were deleted.

    The age guard protects uploads in progress: their ``.part`` file is written continuously,
    and a renamed blob's row commits right after the rename.
    """
    if not blob_dir.is_dir():
        return 0
    limit = (now if now is not None else _file_clock(blob_dir)) - older_than.total_seconds()
    deleted = 0
    for path in blob_dir.iterdir():
        try:
            if path.name == CLOCK_PROBE or not path.is_file() or path.stat().st_mtime > limit:
                continue
        except FileNotFoundError:
            continue
        if BLOB_NAME.fullmatch(path.name) and is_known(path.name):
            continue
        path.unlink(missing_ok=True)
        deleted += 1
    return deleted
