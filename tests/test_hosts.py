"""Several hosts, one PostgreSQL, no shared volume: attachments live in the database, a host
killed mid-upload leaves nothing, and hosts starting at once migrate exactly once."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

from tests.server import (
    CASE_LINK_RE,
    CODE_RE,
    Authenticator,
    RealServer,
    browser,
    categories,
    http_login_reporter,
    http_login_staff,
    token,
)
from tests.test_multiprocess import multi_url  # noqa: F401 - the fixture
from whistle import db
from whistle.demo import DEMO_LOGINS
from whistle.keys import load_keys

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("WHISTLE_TEST_DATABASE_URL"), reason="needs PostgreSQL"),
]
BOUNDARY = "hosts-test-boundary"
TIMEOUT = 120.0  # bounds a hang on a shared machine; asserts nothing about speed


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(False)


def _scalar(url: str, query: str) -> int:
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return int(row[0])


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _file_links(page: str) -> list[str]:
    import re

    return re.findall(r'href="(/cases?/(?:[0-9a-f]{32}/)?files/[0-9a-f]{32})"', page)


@pytest.fixture
def hosts(tmp_path: Path, multi_url: str) -> Iterator[tuple[RealServer, RealServer]]:  # noqa: F811
    env = {"WHISTLE_DATABASE_URL": multi_url}
    keys = tmp_path / "keys"  # each host gets the same keys/ (copied there in a deployment)
    a = RealServer(tmp_path, env=env, keys_dir=keys, data_dir=tmp_path / "a", name="a")
    b = RealServer(tmp_path, env=env, keys_dir=keys, data_dir=tmp_path / "b", name="b")
    a.start()
    try:
        b.start()
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def test_two_hosts_with_separate_data_dirs_share_attachments(
    hosts: tuple[RealServer, RealServer],
) -> None:
    a, b = hosts
    first, second = os.urandom(300_000), os.urandom(200_000)
    anna = next(login for login in DEMO_LOGINS if login.username == "anna")
    with browser(a) as reporter_a:
        filed = reporter_a.post(
            "/report",
            data={
                "csrf_token": token(reporter_a),
                "category": categories(reporter_a)[0],
                "what": "Invoices, see the file",
                "mode": "anonymous",
            },
            files=[("files", ("first.bin", first))],
        )
        assert filed.status_code == 200, filed.text[:300]
        match = CODE_RE.search(filed.text)
        assert match is not None
        code = match.group(1)
        with browser(b) as staff_b:
            done = http_login_staff(staff_b, "anna", anna.password, Authenticator())
            assert done.headers.get("location") == "/inbox"
            [case_id] = CASE_LINK_RE.findall(staff_b.get("/inbox").text)
            [link] = _file_links(staff_b.get(f"/cases/{case_id}").text)
            assert staff_b.get(link).content == first  # filed on A, downloaded on B
        with browser(b) as reporter_b:
            assert http_login_reporter(reporter_b, code).status_code == 303
            added = reporter_b.post(
                "/case/reply",
                data={"csrf_token": token(reporter_b), "text": "One more"},
                files=[("files", ("second.bin", second))],
            )
            assert added.status_code == 303
            with browser(a, cookies=reporter_b.cookies) as back_on_a:
                links = _file_links(back_on_a.get("/case").text)
                assert sorted(back_on_a.get(link).content for link in links) == sorted(
                    [first, second]
                )
    for host in (a, b):
        assert _files_under(host.data_dir) == []  # nothing of any file on either host


def _multipart_head(csrf: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{csrf}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="text"\r\n\r\nbig file\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def test_sigkill_mid_upload_leaves_no_chunks_and_the_host_restarts(
    tmp_path: Path,
    multi_url: str,  # noqa: F811
) -> None:
    server = RealServer(tmp_path, env={"WHISTLE_DATABASE_URL": multi_url})
    server.start()
    try:
        with browser(server) as reporter:
            filed = reporter.post(
                "/report",
                data={
                    "csrf_token": token(reporter),
                    "category": categories(reporter)[0],
                    "what": "A report, files follow",
                    "mode": "anonymous",
                },
            )
            match = CODE_RE.search(filed.text)
            assert match is not None
            assert http_login_reporter(reporter, match.group(1)).status_code == 303
            killed_at: list[int] = []

            def body() -> Iterator[bytes]:
                yield _multipart_head(token(reporter))
                piece = os.urandom(1024 * 1024)
                for sent in range(50):
                    yield piece
                    if sent == 25:
                        # Wait until the host has streamed sealed chunks into the table.
                        deadline = time.monotonic() + TIMEOUT
                        while time.monotonic() < deadline:
                            size = "SELECT pg_total_relation_size('blob_chunks')"
                            if _scalar(multi_url, size) > 4 * 1024 * 1024:
                                break
                            time.sleep(0.2)
                        killed_at.append(_scalar(multi_url, size))
                        server.kill()
                yield f"\r\n--{BOUNDARY}--\r\n".encode()

            headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
            with pytest.raises(httpx.TransportError):
                reporter.post("/case/reply", content=body(), headers=headers)
            assert killed_at
            assert killed_at[0] > 4 * 1024 * 1024
            cookies = reporter.cookies
        # PostgreSQL rolls the dead host's transaction back: no chunk, no item, no row.
        deadline = time.monotonic() + TIMEOUT
        open_transactions = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'"
        )
        while _scalar(multi_url, open_transactions) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _scalar(multi_url, open_transactions) == 0
        assert _scalar(multi_url, "SELECT count(*) FROM blob_chunks") == 0
        assert _scalar(multi_url, "SELECT count(*) FROM attachments") == 0
        items = "SELECT count(*) FROM case_items WHERE kind = 'attachment'"
        assert _scalar(multi_url, items) == 0
        server.start()
        assert httpx.get(server.url + "/readyz", timeout=30).text == "ready"
        with browser(server, cookies=cookies) as again:
            sent = again.post(
                "/case/reply",
                data={"csrf_token": token(again), "text": "after the restart"},
                files=[("files", ("small.bin", os.urandom(100_000)))],
            )
            assert sent.status_code == 303
        assert _scalar(multi_url, "SELECT count(DISTINCT blob_id) FROM blob_chunks") == 1
    finally:
        server.stop()


def test_two_hosts_starting_at_once_migrate_once(
    tmp_path: Path,
    multi_url: str,  # noqa: F811
) -> None:
    keys = tmp_path / "keys"
    load_keys(keys, create=True)  # the keys every host is given
    env = {"WHISTLE_DATABASE_URL": multi_url}
    servers = [
        RealServer(tmp_path, demo=False, env=env, keys_dir=keys, data_dir=tmp_path / n, name=n)
        for n in ("a", "b")
    ]
    # Hold the migration lock so that both hosts are certainly starting at the same time.
    with psycopg.connect(_libpq(multi_url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (db.MIGRATION_LOCK,))
        try:
            for server in servers:
                server.start(wait=False)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and not all(
                "another process is migrating" in s.output() for s in servers
            ):
                time.sleep(0.2)
            assert all("another process is migrating" in s.output() for s in servers)
            tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            assert _scalar(multi_url, tables) == 0  # both wait: neither has migrated
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (db.MIGRATION_LOCK,))
        try:
            for server in servers:
                server.wait_ready()
            migrated = [s.name for s in servers if "Running upgrade" in s.output()]
            assert len(migrated) == 1, [s.output()[-2000:] for s in servers]
            for server in servers:
                assert httpx.get(server.url + "/readyz", timeout=30).text == "ready"
        finally:
            for server in servers:
                server.stop()
