"""Where sealed attachment blobs live: files in the data directory, or chunk rows in the database.

``WHISTLE_BLOB_STORE=files`` is :mod:`whistle.blobs` (a directory, written atomically).
``WHISTLE_BLOB_STORE=database`` (the default on PostgreSQL) keeps each blob as ordered
``blob_chunks`` rows: row 0 is the ``crypto.StreamSealer`` header, rows 1… the sealed 64 KiB
chunks, the same bytes a blob file holds, so the binding to (``attachment``, case, item) and
the tamper, reorder and truncation checks are the same. Hosts then share nothing but the
database.

The chunks are written **in the upload's own transaction**: the batch of one request opens a
connection, inserts the chunks as the body streams in (16 at a time, so at most 1 MiB of
ciphertext is held per upload), and the domain function that records the case items runs on
that same connection and commits it. So a blob becomes visible only in the transaction that
names it, and an aborted upload (a limit, a closed browser, a SIGKILL of the host) leaves no
row at all: PostgreSQL rolls the transaction back. No sweep is needed for this store. The price:
each upload in progress holds a connection of its own (at most ``UPLOAD_CONNECTIONS`` per
process) and an open transaction (which is why SQLite, with one writer at a time, keeps the
files store).

Whatever the configured store, a blob is read from wherever it is (chunk rows first, then the
file), so ``whistle blobs migrate`` can move blobs while the service runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col

from whistle import blobs, crypto, db
from whistle.derivation import Overloaded
from whistle.models import BlobChunk, new_id

FILES = "files"
DATABASE = "database"
# Sealed chunks sent to the database at once (about 1 MiB), batches in flight before waiting
# for PostgreSQL (about 4 MiB), and chunks read at once (about 2 MiB).
ROWS_PER_WRITE = 16
SYNC_EVERY = 4
ROWS_PER_READ = 32
SEND_BYTES = 1024 * 1024
INSERT_CHUNK = "INSERT INTO blob_chunks (blob_id, seq, data) VALUES (%s, %s, %s)"
SELECT_PAGE = "SELECT data FROM blob_chunks WHERE blob_id = %s AND seq >= %s ORDER BY seq LIMIT %s"
# Uploads in progress per process, each on a connection of its own outside the pool of every
# other request (opened for the upload, closed after it: NullPool), so slow uploads can only
# exhaust each other's slots, never the connections other requests or hosts need.
UPLOAD_CONNECTIONS = 32
UPLOAD_WAIT_SECONDS = 30.0


class UploadsBusy(Overloaded):
    """Every upload connection of this process is in use (see ``UPLOAD_CONNECTIONS``): the
    request gets 503 with Retry-After, like a full derivation queue."""

    def __init__(self) -> None:
        super().__init__(retry_after=int(UPLOAD_WAIT_SECONDS))


class Writer(Protocol):
    """What :class:`blobs.BlobWriter` and :class:`ChunkWriter` both are."""

    blob_id: str
    case_id: str
    item_id: str
    size: int
    head: bytes
    sealed_size: int

    def write(self, data: bytes | memoryview) -> None: ...
    def finish(self) -> None: ...
    def close(self) -> None: ...


class Batch(Protocol):
    """Every blob one request writes (:class:`blobs.BlobBatch` or :class:`ChunkBatch`)."""

    def open(self, *, key: bytes, case_id: str, item_id: str) -> Writer: ...
    def drop(self, writer: Any) -> None: ...
    def commit_files(self, writers: Any) -> None: ...
    def discard(self) -> None: ...
    def keep(self) -> None: ...


class ChunkWriter:
    """Seals one file chunk by chunk into ``blob_chunks`` rows of its batch's transaction."""

    def __init__(
        self, batch: ChunkBatch, *, key: bytes, case_id: str, item_id: str, blob_id: str
    ) -> None:
        self.blob_id = blob_id
        self.case_id = case_id
        self.item_id = item_id
        self.size = 0
        self.head = b""
        self.sealed_size = 0
        self._batch = batch
        self._sealer = crypto.StreamSealer(
            key, purpose=blobs.PURPOSE, case_id=case_id, item_id=item_id
        )
        self._buffer = bytearray()
        self._rows: list[tuple[str, int, bytes]] = []
        self._seq = 0
        self._emit(self._sealer.header)

    def _emit(self, data: bytes) -> None:
        self._rows.append((self.blob_id, self._seq, data))
        self._seq += 1
        self.sealed_size += len(data)
        if len(self._rows) >= ROWS_PER_WRITE:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._batch.insert(self._rows)
            self._rows = []

    def write(self, data: bytes | memoryview) -> None:
        if len(self.head) < blobs.HEAD_BYTES:
            self.head += bytes(data[: blobs.HEAD_BYTES - len(self.head)])
        self.size += len(data)
        self._buffer += data
        # As in BlobWriter: the last chunk is sealed only when we know it is the last.
        while len(self._buffer) > crypto.CHUNK_SIZE:
            chunk = bytes(self._buffer[: crypto.CHUNK_SIZE])
            del self._buffer[: crypto.CHUNK_SIZE]
            self._emit(self._sealer.seal_chunk(chunk))

    def finish(self) -> None:
        self._emit(self._sealer.seal_chunk(bytes(self._buffer), last=True))
        self._buffer.clear()
        self._flush()

    def close(self) -> None:
        self._rows = []
        self._buffer.clear()


class ChunkBatch:
    """The blobs of one request as rows of one open transaction (see the module docstring).

    Thread-safe like :class:`blobs.BlobBatch`: :meth:`discard` from the event loop refuses any
    later write from a worker thread.
    """

    def __init__(self, engine: Engine, slots: threading.BoundedSemaphore) -> None:
        self._engine = engine
        self._slots = slots
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._closed = False
        # psycopg's pipeline mode while chunks stream in: PostgreSQL stores one batch while the
        # next is parsed and sealed; a sync every few batches bounds what is in flight.
        self._pipeline: Any = None
        self._pipeline_cm: Any = None
        self._cursor: Any = None
        self._unsynced = 0

    def _connection(self) -> Connection:
        if self._closed:
            raise blobs.BlobClosed()
        if self._conn is None:
            if not self._slots.acquire(timeout=UPLOAD_WAIT_SECONDS):
                raise UploadsBusy()
            try:
                self._conn = self._engine.connect()
                self._conn.begin()
            except BaseException:
                self._slots.release()
                raise
        return self._conn

    def open(self, *, key: bytes, case_id: str, item_id: str) -> ChunkWriter:
        with self._lock:
            self._connection()
        return ChunkWriter(self, key=key, case_id=case_id, item_id=item_id, blob_id=new_id())

    def insert(self, rows: list[tuple[str, int, bytes]]) -> None:
        with self._lock:
            conn = self._connection()
            if self._pipeline is None:
                raw: Any = conn.connection.dbapi_connection  # psycopg's own connection
                self._pipeline_cm = raw.pipeline()
                self._pipeline = self._pipeline_cm.__enter__()
                self._cursor = raw.cursor()
            self._cursor.executemany(INSERT_CHUNK, rows)
            self._unsynced += 1
            if self._unsynced >= SYNC_EVERY:
                self._pipeline.sync()  # raises here if PostgreSQL refused a row
                self._unsynced = 0

    def _settle(self) -> None:
        """Wait for every queued insert and leave pipeline mode (under the lock)."""
        cm, cursor = self._pipeline_cm, self._cursor
        self._pipeline = self._pipeline_cm = self._cursor = None
        self._unsynced = 0
        if cm is not None:
            cm.__exit__(None, None, None)
            cursor.close()

    def drop(self, writer: Any) -> None:
        """Remove one blob now (it was replaced by a cleaned copy)."""
        writer.close()
        with self._lock:
            self._settle()
            self._connection().execute(
                delete(BlobChunk).where(col(BlobChunk.blob_id) == writer.blob_id)
            )

    def commit_files(self, writers: Any) -> None:
        """Nothing to do: the chunks become visible when the transaction commits."""

    def read_back(self, writer: Any, *, key: bytes) -> Iterator[bytes]:
        """The plaintext of a blob this batch wrote (for cleaning), read in its transaction."""

        def pieces() -> Iterator[bytes]:
            seq = 0
            while True:
                with self._lock:
                    self._settle()
                    page = _page(self._connection(), writer.blob_id, seq)
                yield from page
                if len(page) < ROWS_PER_READ:
                    return
                seq += len(page)

        return open_stream(pieces(), key=key, case_id=writer.case_id, item_id=writer.item_id)

    @contextmanager
    def session(self, engine: Engine) -> Iterator[Session]:
        """The request's transaction: the chunks and the rows that name them commit together."""
        if self._conn is None:  # no file in this request
            with db.session_scope(engine) as session:
                yield session
            return
        conn = self._conn
        with self._lock:
            self._settle()
        # rollback_only: the session's commit only flushes; the connection commits below.
        with Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only") as s:
            try:
                yield s
                s.commit()
                with self._lock:
                    conn.commit()
            except BaseException:
                s.rollback()
                raise

    def _end(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            with suppress(Exception):  # a refused insert: the rollback below undoes all
                self._settle()
        if conn is not None:
            try:
                conn.rollback()  # a no-op after a commit; otherwise every chunk goes
                conn.close()
            finally:
                self._slots.release()

    def discard(self) -> None:
        """Roll every chunk of this request back. Idempotent."""
        self._end()

    def keep(self) -> None:
        """The transaction committed: give the connection back."""
        self._end()


def read_back(batch: Batch, writer: Writer, *, key: bytes) -> Iterator[bytes]:
    """The plaintext of a blob the batch has just finished (before it is committed)."""
    if isinstance(batch, ChunkBatch):
        return batch.read_back(writer, key=key)
    assert isinstance(writer, blobs.BlobWriter)
    return blobs.read(writer.part_path, key=key, case_id=writer.case_id, item_id=writer.item_id)


@contextmanager
def transaction(batch: Batch, engine: Engine) -> Iterator[Session]:
    """The session in which the rows naming the batch's blobs are written."""
    if isinstance(batch, ChunkBatch):
        with batch.session(engine) as session:
            yield session
    else:
        with db.session_scope(engine) as session:
            yield session


def _page(conn: Connection, blob_id: str, seq: int) -> list[bytes]:
    if conn.dialect.name == "postgresql":
        # Binary results: bytea in text format would arrive hex-encoded, twice its size.
        raw: Any = conn.connection.dbapi_connection  # psycopg's own connection
        with raw.cursor(binary=True) as cursor:
            cursor.execute(SELECT_PAGE, (blob_id, seq, ROWS_PER_READ))
            return [bytes(row[0]) for row in cursor.fetchall()]
    query = (
        select(BlobChunk.data)  # type: ignore[call-overload]
        .where(col(BlobChunk.blob_id) == blob_id, col(BlobChunk.seq) >= seq)
        .order_by(col(BlobChunk.seq))
        .limit(ROWS_PER_READ)
    )
    return [bytes(row[0]) for row in conn.execute(query)]


def sealed_rows(engine: Engine, blob_id: str) -> Iterator[bytes]:
    """A blob's stored pieces in order, a page at a time, each page in a short transaction
    (a slow download holds no connection between pages)."""
    seq = 0
    while True:
        with engine.connect() as conn:
            page = _page(conn, blob_id, seq)
        yield from page
        if len(page) < ROWS_PER_READ:
            return
        seq += len(page)


def open_stream(
    pieces: Iterable[bytes], *, key: bytes, case_id: str, item_id: str
) -> Iterator[bytes]:
    """The plaintext of header + sealed chunks, each chunk authenticated before it is yielded.

    Raises :class:`crypto.CryptoError` on tampering, reordering, truncation or a wrong binding.
    """
    source = iter(pieces)
    header = next(source, b"")
    opener = crypto.StreamOpener(
        key, header, purpose=blobs.PURPOSE, case_id=case_id, item_id=item_id
    )
    chunk = next(source, None)
    if chunk is None:
        raise crypto.CryptoError("cannot open")
    while True:
        following = next(source, None)
        yield opener.open_chunk(chunk, last=following is None)
        if following is None:
            return
        chunk = following


def in_database(conn: Connection | Session, blob_id: str) -> bool:
    query = select(BlobChunk.seq).where(  # type: ignore[call-overload]
        col(BlobChunk.blob_id) == blob_id, col(BlobChunk.seq) == 0
    )
    return conn.execute(query).first() is not None


def exists(db_session: Session, *, blob_dir: Path, blob_id: str) -> bool:
    return in_database(db_session, blob_id) or (blob_dir / blob_id).is_file()


def read_in(
    db_session: Session, *, blob_dir: Path, blob_id: str, key: bytes, case_id: str, item_id: str
) -> Iterator[bytes]:
    """The plaintext of a blob from wherever it is, its chunk rows read in the caller's
    transaction a page at a time (for domain functions that hold a session: exports)."""
    if in_database(db_session, blob_id):
        conn = db_session.connection()

        def pieces() -> Iterator[bytes]:
            seq = 0
            while True:
                page = _page(conn, blob_id, seq)
                yield from page
                if len(page) < ROWS_PER_READ:
                    return
                seq += len(page)

        return open_stream(pieces(), key=key, case_id=case_id, item_id=item_id)
    return blobs.read(blob_dir / blob_id, key=key, case_id=case_id, item_id=item_id)


def delete_blob(db_session: Session, *, blob_dir: Path, blob_id: str) -> bool:
    """Delete a blob wherever it is (the rows in the caller's transaction); True if it was."""
    found = in_database(db_session, blob_id)
    if found:
        db_session.execute(delete(BlobChunk).where(col(BlobChunk.blob_id) == blob_id))
    path = blob_dir / blob_id
    if path.exists():
        path.unlink(missing_ok=True)
        found = True
    return found


@dataclass(frozen=True)
class Store:
    """The configured store of one process: where new blobs go, and where any blob is read."""

    kind: str
    blob_dir: Path
    engine: Engine
    upload_engine: Engine | None = None
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(UPLOAD_CONNECTIONS)
    )

    def batch(self) -> Batch:
        if self.kind == DATABASE:
            assert self.upload_engine is not None
            return ChunkBatch(self.upload_engine, self.slots)
        return blobs.BlobBatch(self.blob_dir)

    def read(self, blob_id: str, *, key: bytes, case_id: str, item_id: str) -> Iterator[bytes]:
        """The plaintext of a blob, decrypted chunk by chunk, from wherever it is.

        A generator: nothing is queried until the response iterates it (in a worker thread),
        so the event loop never waits for the database."""
        with self.engine.connect() as conn:
            stored = in_database(conn, blob_id)
        if stored:
            pieces = sealed_rows(self.engine, blob_id)
            plain = open_stream(pieces, key=key, case_id=case_id, item_id=item_id)
        else:
            path = self.blob_dir / blob_id
            plain = blobs.read(path, key=key, case_id=case_id, item_id=item_id)
        # Handed on 1 MiB at a time: each piece the response takes costs a worker-thread hop.
        out = bytearray()
        for chunk in plain:
            out += chunk
            if len(out) >= SEND_BYTES:
                yield bytes(out)
                out.clear()
        if out:
            yield bytes(out)

    def close(self) -> None:
        if self.upload_engine is not None:
            self.upload_engine.dispose()


def open_store(*, kind: str, blob_dir: Path, engine: Engine) -> Store:
    if kind == DATABASE:
        url = engine.url.render_as_string(False)
        # The same execution options as the app's engine (the audit chain key of
        # ``audit.keyed``): the request's rows are written on the upload connection.
        options = engine.get_execution_options()
        upload_engine = db.make_engine(url, poolclass=NullPool).execution_options(**options)
        return Store(DATABASE, blob_dir, engine, upload_engine)
    return Store(FILES, blob_dir, engine)
