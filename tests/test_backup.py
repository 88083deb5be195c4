"""`whistle backup` and `whistle restore`: a consistent online copy with a verified manifest,
without the keys, that brings every case back for its reporter and its investigator."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from tests.helpers import PG_URL, World, submit_report
from tests.server import (
    CASE_LINK_RE,
    CHEAP_ENV,
    CODE_RE,
    ROOT,
    Authenticator,
    RealServer,
    browser,
    categories,
    http_login_reporter,
    http_login_staff,
    token,
)
from whistle import backup, db
from whistle.demo import DEMO_LOGINS
from whistle.settings import Settings

ATTACHMENT = b"Invoice 4711: 250 000 kr to Acme Travel AB\n"
FILE_LINK_RE = re.compile(r'href="(/case/files/[0-9a-f]{32})"')


def whistle_cli(
    *args: str, data_dir: Path, keys_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `whistle` command with only the given settings (cheap Argon2: tests only)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    full.update(CHEAP_ENV, WHISTLE_DATA_DIR=str(data_dir), WHISTLE_KEYS_DIR=str(keys_dir))
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "whistle", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _fake_blob(settings: Settings) -> bytes:
    # Attachments are not built yet; a sealed-looking file stands in for one.
    path = settings.blob_dir / "ab" / "abcdef0123"
    path.parent.mkdir(parents=True, exist_ok=True)
    content = os.urandom(3000)
    path.write_bytes(content)
    return content


@pytest.mark.slow
def test_round_trip_through_the_real_server(tmp_path: Path) -> None:
    anna = next(login for login in DEMO_LOGINS if login.username == "anna")
    authenticator = Authenticator()
    source = RealServer(tmp_path / "a", name="source")
    (tmp_path / "a").mkdir()
    with source:
        with browser(source) as reporter:
            receipt = reporter.post(
                "/report",
                data={
                    "csrf_token": token(reporter),
                    "category": categories(reporter)[0],
                    "what": "Backed up",
                    "mode": "anonymous",
                },
                files=[("files", ("ledger.txt", ATTACHMENT))],
            )
            match = CODE_RE.search(receipt.text)
            assert receipt.status_code == 200, receipt.text[:500]
            assert match, receipt.text[:500]
            code = match.group(1)
        blob = _fake_blob(Settings(data_dir=source.data_dir))
        # An upload still streaming in: no row names it, so it is not backed up.
        (source.data_dir / "blobs" / ("f" * 32 + ".part")).write_bytes(b"partial")
        # An online backup: the service keeps running (and answering) meanwhile.
        made = whistle_cli(
            "backup", str(tmp_path / "bk"), data_dir=source.data_dir, keys_dir=source.keys_dir
        )
        assert made.returncode == 0, made.stderr
        assert "NOT in this backup" in made.stdout
        with browser(source) as staff:
            done = http_login_staff(staff, "anna", anna.password, authenticator)
            assert done.headers.get("location") == "/inbox"
            [case_id] = CASE_LINK_RE.findall(staff.get("/inbox").text)
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert manifest["keys_included"] is False
    assert manifest["database"] == "sqlite"
    assert manifest["schema_revision"]
    listed = set(manifest["files"])
    assert {"whistle.db", "blobs/ab/abcdef0123"} < listed
    assert not any(name.endswith(".part") for name in listed)
    pepper = (source.keys_dir / "pepper.key").read_bytes()
    for path in (tmp_path / "bk").rglob("*"):
        if path.is_file():
            assert pepper not in path.read_bytes(), path

    # Restore into a new, empty data dir; the keys come from their own (separate) backup.
    target = tmp_path / "b"
    shutil.copytree(source.keys_dir, target / "keys")
    restored = whistle_cli(
        "restore", str(tmp_path / "bk"), data_dir=target / "data", keys_dir=target / "keys"
    )
    assert restored.returncode == 0, restored.stderr
    assert "NOT in this backup" in restored.stdout
    assert (target / "data" / "blobs" / "ab" / "abcdef0123").read_bytes() == blob
    # A second restore onto the now non-empty dir is refused without --force.
    again = whistle_cli(
        "restore", str(tmp_path / "bk"), data_dir=target / "data", keys_dir=target / "keys"
    )
    assert again.returncode == 2
    assert "--force" in again.stderr
    forced = whistle_cli(
        "restore",
        str(tmp_path / "bk"),
        "--force",
        data_dir=target / "data",
        keys_dir=target / "keys",
    )
    assert forced.returncode == 0, forced.stderr
    with RealServer(target, name="restored") as copy:
        with browser(copy) as reporter:
            assert http_login_reporter(reporter, code).status_code == 303
            page = reporter.get("/case").text
            assert "Backed up" in page
            [file_url] = FILE_LINK_RE.findall(page)
            assert reporter.get(file_url).content == ATTACHMENT
        with browser(copy) as staff:
            done = http_login_staff(staff, "anna", anna.password, authenticator)
            assert done.headers.get("location") == "/inbox"
            assert CASE_LINK_RE.findall(staff.get("/inbox").text) == [case_id]
            page = staff.get(f"/cases/{case_id}")
            assert page.status_code == 200
            assert "Backed up" in page.text


def test_backup_refuses_non_empty_destination(settings: Settings, tmp_path: Path) -> None:
    dest = tmp_path / "full"
    dest.mkdir()
    (dest / "something").write_text("x")
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.backup(settings=settings, dest=dest)


def test_tampered_or_incomplete_backup_is_refused(
    settings: Settings, world: World, client, tmp_path: Path, fresh_url: str
) -> None:
    submit_report(client, world.bribery)
    _fake_blob(settings)
    dest = tmp_path / "bk"
    backup.backup(settings=settings, dest=dest)
    backup.read_manifest(dest)  # intact: verifies
    empty = Settings(data_dir=tmp_path / "empty", database_url=fresh_url)
    blob = dest / "blobs" / "ab" / "abcdef0123"
    original = blob.read_bytes()
    blob.write_bytes(b"\x00" + original[1:])
    with pytest.raises(backup.BackupError, match="sha256"):
        backup.restore(settings=empty, src=dest)
    blob.unlink()
    with pytest.raises(backup.BackupError, match="differ"):
        backup.restore(settings=empty, src=dest)
    blob.write_bytes(original)
    (dest / "extra.txt").write_text("not from the backup")
    with pytest.raises(backup.BackupError, match="differ"):
        backup.restore(settings=empty, src=dest)
    (dest / "extra.txt").unlink()
    backup.restore(settings=empty, src=dest)
    assert (empty.blob_dir / "ab" / "abcdef0123").read_bytes() == original


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    """An empty target database: SQLite in a new dir, or a scratch PostgreSQL database next to
    the test one (named per process: others run this suite on the same server)."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'empty' / 'whistle.db'}"
        return
    import psycopg
    from sqlalchemy import make_url

    url = make_url(PG_URL)
    name = f"whistle_restore_{os.getpid()}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, in an order that does not depend on the engine's."""
    out = {}
    with engine.connect() as conn:
        for name in sorted(inspect(engine).get_table_names()):
            rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
            out[name] = sorted(
                repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
                for row in rows
            )
    return out


def test_restored_copy_holds_the_same_rows(
    settings: Settings, world: World, client, engine: Engine, tmp_path: Path, fresh_url: str
) -> None:
    submit_report(client, world.bribery, what="Row check")
    manifest = backup.backup(settings=settings, dest=tmp_path / "bk")
    assert manifest.database == ("postgresql" if PG_URL else "sqlite")
    target = Settings(data_dir=tmp_path / "restored", database_url=fresh_url)
    backup.restore(settings=target, src=tmp_path / "bk")
    copy = db.make_engine(target.effective_database_url)
    try:
        assert _rows(copy) == _rows(engine)
    finally:
        copy.dispose()
