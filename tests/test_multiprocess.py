"""Several server processes on one PostgreSQL database, sharing a keys directory: sessions,
failed-attempt budgets and the jobs lease live in the database, so any replica honours what
another one did."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PG_URL
from tests.server import (
    CASE_LINK_RE,
    Authenticator,
    RealServer,
    browser,
    categories,
    http_login_reporter,
    http_login_staff,
    http_submit,
)
from tests.test_backup import whistle_cli
from whistle import attempts, db, jobs
from whistle.demo import DEMO_LOGINS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs WHISTLE_TEST_DATABASE_URL (PostgreSQL)"),
]
BUDGET = 3
WRONG = "0000 0000 0000 0000"


@pytest.fixture
def multi_url() -> Iterator[str]:
    """A database of its own: the shared test database is truncated by other tests."""
    import psycopg
    from sqlalchemy import make_url

    url = make_url(PG_URL)
    name = f"whistle_multi_{os.getpid()}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pair(tmp_path: Path, multi_url: str) -> Iterator[tuple[RealServer, RealServer]]:
    env = {"WHISTLE_DATABASE_URL": multi_url, "WHISTLE_SESSION_ATTEMPTS": str(BUDGET)}
    keys = tmp_path / "keys"
    a = RealServer(tmp_path, env=env, keys_dir=keys, data_dir=tmp_path / "a", name="a")
    b = RealServer(tmp_path, env=env, keys_dir=keys, data_dir=tmp_path / "b", name="b")
    # One after the other: the first start migrates, seeds and creates the pepper.
    a.start()
    try:
        b.start()
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def test_sessions_work_on_every_replica(pair: tuple[RealServer, RealServer]) -> None:
    a, b = pair
    anna = next(login for login in DEMO_LOGINS if login.username == "anna")
    with browser(a) as on_a:
        done = http_login_staff(on_a, "anna", anna.password, Authenticator())
        assert done.headers.get("location") == "/inbox", done.text[:300]
        code = http_submit(on_a, category=categories(on_a)[0], what="Filed on A")
        assert code is not None
        with browser(b, cookies=on_a.cookies) as on_b:
            inbox = on_b.get("/inbox")
            assert inbox.status_code == 200
            [case_id] = CASE_LINK_RE.findall(inbox.text)
            assert "Filed on A" in on_b.get(f"/cases/{case_id}").text
    with browser(b) as reporter_b:
        assert http_login_reporter(reporter_b, code).status_code == 303
        with browser(a, cookies=reporter_b.cookies) as reporter_a:
            assert "Filed on A" in reporter_a.get("/case").text


def _window() -> int:
    # The browser budget's fixed ten-minute window, as whistle.attempts computes it.
    return int(time.time()) // attempts.CASE_CODE_WINDOW


def test_failed_attempt_budget_is_shared(pair: tuple[RealServer, RealServer]) -> None:
    a, b = pair
    # If the window turns over in the middle, the budget legitimately starts afresh: try again
    # in the new window rather than depend on timing.
    for _ in range(3):
        window = _window()
        with browser(a) as on_a:  # one browser, its failures counted on A...
            statuses_a = [http_login_reporter(on_a, WRONG).status_code for _ in range(BUDGET)]
            with browser(b, cookies=on_a.cookies) as on_b:  # ...are honoured on B
                answer_b = http_login_reporter(on_b, WRONG)
        with browser(b) as other:  # and another browser is not locked out (no global budget)
            stranger = http_login_reporter(other, WRONG)
        if _window() == window:
            break
    else:
        pytest.fail("the window turned over three times in a row")
    assert statuses_a == [400] * BUDGET
    assert stranger.status_code == 400
    on_b = answer_b
    assert on_b.status_code == 429
    assert on_b.headers["retry-after"] == "60"


def test_jobs_lease_held_by_another_process(tmp_path: Path, multi_url: str) -> None:
    env = {"WHISTLE_DATABASE_URL": multi_url}
    where = {"data_dir": tmp_path / "data", "keys_dir": tmp_path / "keys", "env": env}
    migrated = whistle_cli("migrate", **where)
    assert migrated.returncode == 0, migrated.stderr
    engine = db.make_engine(multi_url)
    try:
        with db.session_scope(engine) as s:
            assert jobs.acquire(s, holder="replica-elsewhere")
        held = whistle_cli("jobs", **where)
        assert held.returncode == 0, held.stderr
        assert "another process holds the jobs lease" in held.stdout
        with db.session_scope(engine) as s:
            jobs.release(s, holder="replica-elsewhere")
        free = whistle_cli("jobs", **where)
        assert free.returncode == 0, free.stderr
        assert "reminders sent" in free.stdout
    finally:
        engine.dispose()
