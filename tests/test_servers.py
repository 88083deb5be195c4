"""`whistle serve --workers N`: N processes on one port (SO_REUSEPORT), sharing the database."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.server import RealServer, browser, categories, http_login_reporter, http_submit
from whistle import servers

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


@pytest.mark.skipif(not servers.supported(), reason="needs SO_REUSEPORT")
def test_two_worker_processes_serve_one_port_and_stop_together(tmp_path: Path) -> None:
    server = RealServer(tmp_path, args=("--workers", "2")).start()
    try:
        children = _children(server.pid)
        assert len(children) >= 2  # the spawned workers (plus, possibly, a resource tracker)
        # Many short connections land on both processes; the case opens whichever answers.
        codes = []
        for i in range(6):
            with browser(server) as client:
                code = http_submit(client, category=categories(client)[0], what=f"Report {i}")
                assert code
                codes.append(code)
        for code in codes:
            with browser(server) as client:
                assert http_login_reporter(client, code).status_code == 303
    finally:
        server.stop()
    assert server.process is not None
    assert server.process.returncode is not None
    # The workers are joined before the parent exits; a helper process (multiprocessing's
    # resource tracker) may take a moment to notice. Nothing may be left behind.
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)
