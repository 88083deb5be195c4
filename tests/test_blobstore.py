"""The database blob store (chunk rows in the upload's transaction), moving blobs between the
stores, the migration's schema check, and /readyz."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from tests.helpers import PG_URL, World, csrf, login_reporter, login_staff, submit_report
from tests.test_backup import fresh_url, whistle_cli  # noqa: F401 - fresh_url: a fixture
from whistle import backup, blobmigration, blobstore, crypto, db, readiness
from whistle.app import create_app
from whistle.keys import Keys
from whistle.settings import Settings, SettingsError

needs_pg = pytest.mark.skipif(not PG_URL, reason="needs WHISTLE_TEST_DATABASE_URL (PostgreSQL)")
FILE_LINK = re.compile(r'href="(/case/files/([0-9a-f]{32}))"')
KEY = bytes(range(32))


def _rows(engine: Engine, blob_id: str | None = None) -> int:
    with engine.connect() as conn:
        if blob_id is None:
            return int(conn.execute(text("SELECT count(*) FROM blob_chunks")).scalar_one())
        query = text("SELECT count(*) FROM blob_chunks WHERE blob_id = :b")
        return int(conn.execute(query, {"b": blob_id}).scalar_one())


def _store(settings: Settings, engine: Engine) -> blobstore.Store:
    return blobstore.open_store(kind="database", blob_dir=settings.blob_dir, engine=engine)


def _write(batch: blobstore.Batch, data: bytes, *, case_id: str = "c" * 32) -> blobstore.Writer:
    writer = batch.open(key=KEY, case_id=case_id, item_id="i" * 32)
    for start in range(0, len(data), 10_000):
        writer.write(data[start : start + 10_000])
    writer.finish()
    return writer


# --- settings -----------------------------------------------------------------------------


def test_the_default_store_follows_the_database() -> None:
    assert Settings().effective_blob_store == "files"  # SQLite
    pg = Settings(database_url="postgresql+psycopg://whistle:s3cure-pw@db/whistle")
    assert pg.effective_blob_store == "database"
    assert pg.replace(blob_store="files").effective_blob_store == "files"
    env = {"WHISTLE_BLOB_STORE": "database"}
    with pytest.raises(SettingsError, match="needs PostgreSQL"):
        Settings.from_env(env)  # on SQLite it would hold the write lock through every upload
    with pytest.raises(SettingsError, match="files or database"):
        Settings.from_env({"WHISTLE_BLOB_STORE": "s3"})


# --- the chunk store ------------------------------------------------------------------------


@needs_pg
def test_chunks_are_invisible_until_the_transaction_that_names_them_commits(
    settings: Settings, engine: Engine
) -> None:
    store = _store(settings, engine)
    data = os.urandom(300_000)
    batch = store.batch()
    assert isinstance(batch, blobstore.ChunkBatch)
    try:
        writer = _write(batch, data)
        # Written (the upload streamed into the rows), but nobody else sees them yet.
        assert _rows(engine, writer.blob_id) == 0
        with blobstore.transaction(batch, engine) as s:
            s.execute(text("SELECT 1"))
        batch.keep()
    finally:
        batch.discard()
        store.close()
    # Header + 5 chunks (4 full, 1 short), each sealed: no plaintext in any row.
    assert _rows(engine, writer.blob_id) == 1 + 5
    with engine.connect() as conn:
        stored = b"".join(r[0] for r in conn.execute(text("SELECT data FROM blob_chunks")))
    assert data[:1000] not in stored
    assert len(stored) == writer.sealed_size
    read = store.read(writer.blob_id, key=KEY, case_id="c" * 32, item_id="i" * 32)
    assert b"".join(read) == data


@needs_pg
def test_a_discarded_or_failed_upload_leaves_no_rows(settings: Settings, engine: Engine) -> None:
    store = _store(settings, engine)
    try:
        batch = store.batch()
        _write(batch, os.urandom(200_000))
        batch.discard()
        assert _rows(engine) == 0
        failing = store.batch()
        _write(failing, os.urandom(200_000))
        with pytest.raises(ZeroDivisionError), blobstore.transaction(failing, engine):
            raise ZeroDivisionError  # the domain function fails: its rows and the chunks go
        failing.discard()
        assert _rows(engine) == 0
        # Every upload connection was given back.
        assert all(store.slots.acquire(blocking=False) for _ in range(32))
    finally:
        store.close()


@needs_pg
def test_a_tampered_dropped_or_foreign_chunk_fails_decryption(
    settings: Settings, engine: Engine
) -> None:
    store = _store(settings, engine)
    data = os.urandom(200_000)
    ids = []
    for case in ("a" * 32, "b" * 32):
        batch = store.batch()
        writer = _write(batch, data, case_id=case)
        with blobstore.transaction(batch, engine):
            pass
        batch.keep()
        ids.append(writer.blob_id)
    first, second = ids

    def read(blob_id: str, case_id: str = "a" * 32) -> bytes:
        return b"".join(store.read(blob_id, key=KEY, case_id=case_id, item_id="i" * 32))

    assert read(first) == data
    with pytest.raises(crypto.CryptoError):
        read(first, case_id="b" * 32)  # bound to its case
    with engine.begin() as conn:
        # One flipped bit in the second chunk.
        row = conn.execute(
            text("SELECT data FROM blob_chunks WHERE blob_id = :b AND seq = 2"), {"b": first}
        ).scalar_one()
        flipped = bytes([row[0] ^ 1]) + bytes(row[1:])
        conn.execute(
            text("UPDATE blob_chunks SET data = :d WHERE blob_id = :b AND seq = 2"),
            {"d": flipped, "b": first},
        )
        # The other case's last chunk dropped.
        conn.execute(text("DELETE FROM blob_chunks WHERE blob_id = :b AND seq = 4"), {"b": second})
    with pytest.raises(crypto.CryptoError):
        read(first)
    with pytest.raises(crypto.CryptoError):
        read(second, case_id="b" * 32)  # truncation shows: no chunk is marked last
    store.close()


# --- moving blobs between the stores --------------------------------------------------------


def _download(client: TestClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200
    return response.content


@needs_pg
def test_blobs_migrate_both_ways_and_resume(
    world: World, settings: Settings, engine: Engine, keys: Keys
) -> None:
    content = {name: os.urandom(150_000 + n) for n, name in enumerate(("a.bin", "b.bin"))}
    app = create_app(settings.replace(blob_store="files"), engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as reporter:
        login_reporter(reporter, submit_report(reporter, world.bribery))
        files = [("files", (name, data)) for name, data in content.items()]
        sent = reporter.post(
            "/case/reply", data={"csrf_token": csrf(reporter), "text": ""}, files=files
        )
        assert sent.status_code == 303
        links = dict(FILE_LINK.findall(reporter.get("/case").text))
        assert len(links) == 2
        on_disk = sorted(p.name for p in settings.blob_dir.iterdir())
        assert on_disk == sorted(links.values())
        assert _rows(engine) == 0

        report = blobmigration.migrate(engine=engine, blob_dir=settings.blob_dir, to="database")
        assert (report.moved, report.already, report.missing) == (2, 0, [])
        assert list(settings.blob_dir.iterdir()) == []
        assert _rows(engine) > 0
        # The files store's process still reads them: a blob is read wherever it is.
        assert sorted(_download(reporter, url) for url in links) == sorted(content.values())
        again = blobmigration.migrate(engine=engine, blob_dir=settings.blob_dir, to="database")
        assert (again.moved, again.already) == (0, 2)

        # Interrupted after the copy to disk, before the rows went: the next run finishes.
        blob_id = next(iter(links.values()))
        (settings.blob_dir / blob_id).write_bytes(b"".join(blobstore.sealed_rows(engine, blob_id)))
        # And a copy left half written: thrown away and made again.
        other = next(b for b in links.values() if b != blob_id)
        (settings.blob_dir / other).write_bytes(b"half a copy")
        back = blobmigration.migrate(engine=engine, blob_dir=settings.blob_dir, to="files")
        assert (back.moved, back.missing) == (2, [])
        assert _rows(engine) == 0
        assert sorted(p.name for p in settings.blob_dir.iterdir()) == sorted(links.values())
        assert sorted(_download(reporter, url) for url in links) == sorted(content.values())


@needs_pg
def test_blobs_migrate_command(world: World, settings: Settings, tmp_path: Path) -> None:
    where = {"data_dir": settings.data_dir, "keys_dir": settings.keys_dir}
    env = {"WHISTLE_DATABASE_URL": settings.effective_database_url}
    done = whistle_cli("blobs", "migrate", "--to", "files", env=env, **where)
    assert done.returncode == 0, done.stderr
    assert "blobs moved to files: 0" in done.stdout
    assert "WHISTLE_BLOB_STORE=files" in done.stdout  # the default is still the database


def test_blobs_migrate_to_the_database_needs_postgresql(tmp_path: Path) -> None:
    where = {"data_dir": tmp_path / "data", "keys_dir": tmp_path / "keys"}
    refused = whistle_cli("blobs", "migrate", "--to", "database", **where)
    assert refused.returncode == 2
    assert "needs PostgreSQL" in refused.stderr


# --- schema check and readiness --------------------------------------------------------------


def _set_revision(engine: Engine, revision: str) -> str:
    with engine.begin() as conn:
        old = str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    return old


def test_a_schema_from_newer_code_is_refused_and_not_ready(
    settings: Settings, engine: Engine, keys: Keys
) -> None:
    app = create_app(settings, engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver") as client:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ready")
        old = _set_revision(engine, "zz_from_the_future")
        try:
            with pytest.raises(db.SchemaTooNew, match="newer version"):
                db.migrate(settings.effective_database_url)
            where = {"data_dir": settings.data_dir, "keys_dir": settings.keys_dir}
            env = {"WHISTLE_DATABASE_URL": settings.effective_database_url}
            served = whistle_cli("serve", "--port", "1", env=env, **where)
            assert served.returncode == 2
            assert "newer version" in served.stderr
            response = client.get("/readyz")
            assert (response.status_code, response.text) == (503, "not ready: schema")
            assert client.get("/healthz").status_code == 200  # alive, just not ready
        finally:
            _set_revision(engine, old)


def test_readyz_fails_when_the_blob_store_cannot_be_written(
    settings: Settings, engine: Engine, keys: Keys, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")
    store = blobstore.open_store(kind="files", blob_dir=blocked / "blobs", engine=engine)
    result = readiness.check(engine=engine, keys=keys, store=store)
    assert result.failed == ("blobs",)
    good = blobstore.open_store(kind="files", blob_dir=settings.blob_dir, engine=engine)
    assert readiness.check(engine=engine, keys=keys, store=good).ready
    assert [p.name for p in settings.blob_dir.iterdir()] == []  # the probe leaves nothing
    if PG_URL:
        rows = _store(settings, engine)
        try:
            assert readiness.check(engine=engine, keys=keys, store=rows).ready
            assert _rows(engine) == 0
        finally:
            rows.close()


def test_investigator_download_reads_the_database_store(
    world: World, new_client: Callable[[], TestClient], settings: Settings, engine: Engine
) -> None:
    """With the default store of the test database, a file round-trips to the investigator."""
    reporter = new_client()
    login_reporter(reporter, submit_report(reporter, world.bribery))
    data = os.urandom(70_000)
    sent = reporter.post(
        "/case/reply",
        data={"csrf_token": csrf(reporter), "text": "x"},
        files=[("files", ("x.bin", data))],
    )
    assert sent.status_code == 303
    anna = new_client()
    login_staff(anna, "anna")
    inbox = anna.get("/inbox").text
    [case_id] = set(re.findall(r'href="/cases/([0-9a-f]{32})"', inbox))
    page = anna.get(f"/cases/{case_id}").text
    [url] = re.findall(r'href="(/cases/[0-9a-f]{32}/files/[0-9a-f]{32})"', page)
    assert _download(anna, url) == data
    in_rows = _rows(engine) > 0
    assert in_rows == (settings.effective_blob_store == "database")


@needs_pg
def test_backup_and_restore_carry_database_blobs(
    world: World,
    settings: Settings,
    engine: Engine,
    keys: Keys,
    tmp_path: Path,
    fresh_url: str,  # noqa: F811
) -> None:
    data = os.urandom(180_000)
    app = create_app(settings, engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as reporter:
        code = submit_report(reporter, world.bribery)
        login_reporter(reporter, code)
        sent = reporter.post(
            "/case/reply",
            data={"csrf_token": csrf(reporter), "text": ""},
            files=[("files", ("kept.bin", data))],
        )
        assert sent.status_code == 303
    manifest = backup.backup(settings=settings, dest=tmp_path / "bk")
    assert not any(name.startswith("blobs/") for name in manifest.files)  # all in the dump
    target = settings.replace(data_dir=tmp_path / "restored", database_url=fresh_url)
    backup.restore(settings=target, src=tmp_path / "bk")
    copy = db.make_engine(fresh_url)
    try:
        restored = create_app(target, engine=copy, keys=keys)
        with TestClient(restored, base_url="https://testserver", follow_redirects=False) as again:
            login_reporter(again, code)
            [(url, _)] = FILE_LINK.findall(again.get("/case").text)
            assert _download(again, url) == data
        assert _rows(copy) == _rows(engine) > 0
    finally:
        copy.dispose()


@needs_pg
def test_when_every_upload_connection_is_busy_the_upload_gets_503(
    world: World, settings: Settings, engine: Engine, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, engine=engine, keys=keys)
    store: blobstore.Store = app.state.ctx.blob_store
    taken = 0
    while store.slots.acquire(blocking=False):  # as if 32 slow uploads were in progress
        taken += 1
    assert taken == blobstore.UPLOAD_CONNECTIONS
    monkeypatch.setattr(blobstore, "UPLOAD_WAIT_SECONDS", 0.2)  # shorter wait, same limit
    try:
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as reporter:
            login_reporter(reporter, submit_report(reporter, world.bribery))
            busy = reporter.post(
                "/case/reply",
                data={"csrf_token": csrf(reporter), "text": "later"},
                files=[("files", ("x.bin", os.urandom(100_000)))],
            )
            assert busy.status_code == 503
            assert "retry-after" in busy.headers
            store.slots.release()
            sent = reporter.post(
                "/case/reply",
                data={"csrf_token": csrf(reporter), "text": "now"},
                files=[("files", ("x.bin", os.urandom(100_000)))],
            )
            assert sent.status_code == 303
    finally:
        for _ in range(taken - 1):
            store.slots.release()
    assert _rows(engine) > 0
