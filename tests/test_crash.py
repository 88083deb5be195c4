"""Crash safety: a case code the server returned survives a SIGKILL in the middle of a burst.

SQLite runs in WAL mode with ``synchronous=FULL`` and each report is one transaction, so a code
is only shown after its case, report item and wraps are durable — and nothing half-written is
left behind by the requests the kill interrupted.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

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
from whistle.demo import DEMO_LOGINS

THREADS = 6
KILL_AFTER = 18  # codes returned before the SIGKILL; the inbox shows 50 per page


def _burst(server: RealServer, category: str) -> list[str]:
    codes: list[str] = []
    enough = threading.Condition()
    stop = threading.Event()

    def worker(number: int) -> None:
        with browser(server) as client:
            serial = 0
            while not stop.is_set():
                serial += 1
                try:
                    code = http_submit(client, category=category, what=f"burst {number}.{serial}")
                except httpx.TransportError:
                    return  # the server is gone
                if code is not None:
                    with enough:
                        codes.append(code)
                        enough.notify_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    with enough:
        # A bound on a hang, not a timing assertion: the count is what is checked.
        enough.wait_for(lambda: len(codes) >= KILL_AFTER, timeout=300)
        server.kill()  # mid-burst: other submissions are in flight right now
        returned = list(codes)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    # A response can complete between the kill and the lock; those codes count too.
    return returned + [c for c in codes if c not in returned]


def _orphans(database: Path) -> dict[str, int]:
    checks = {
        "cases without a report item": "SELECT COUNT(*) FROM cases c WHERE NOT EXISTS "
        "(SELECT 1 FROM case_items i WHERE i.case_id = c.id AND i.kind = 'report')",
        "cases without a wrap": "SELECT COUNT(*) FROM cases c WHERE NOT EXISTS "
        "(SELECT 1 FROM case_key_wraps w WHERE w.case_id = c.id)",
        "wraps without a case": "SELECT COUNT(*) FROM case_key_wraps w WHERE NOT EXISTS "
        "(SELECT 1 FROM cases c WHERE c.id = w.case_id)",
        "items without a case": "SELECT COUNT(*) FROM case_items i WHERE NOT EXISTS "
        "(SELECT 1 FROM cases c WHERE c.id = i.case_id)",
    }
    with sqlite3.connect(database) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in checks.items()}


@pytest.mark.slow
def test_sigkill_mid_burst_loses_no_confirmed_report(tmp_path: Path) -> None:
    server = RealServer(tmp_path)
    server.start()
    try:
        with browser(server) as client:
            category = categories(client)[0]
        codes = _burst(server, category)
        assert len(codes) >= KILL_AFTER
        assert server.process is not None
        assert server.process.returncode == -9
        server.start()  # the same data and keys
        for code in codes:
            with browser(server) as reporter:
                assert http_login_reporter(reporter, code).status_code == 303, code
                assert reporter.get("/case").status_code == 200, code
        anna = next(login for login in DEMO_LOGINS if login.username == "anna")
        with browser(server) as staff:
            done = http_login_staff(staff, "anna", anna.password, Authenticator())
            assert done.headers.get("location") == "/inbox", done.text[:300]
            listed = CASE_LINK_RE.findall(staff.get("/inbox").text)
            assert len(listed) >= len(codes)
            for case_id in listed:
                assert staff.get(f"/cases/{case_id}").status_code == 200, case_id
    finally:
        server.stop()
    database = server.data_dir / "whistle.db"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total = conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    assert total == len(listed)
    assert _orphans(database) == dict.fromkeys(_orphans(database), 0)
