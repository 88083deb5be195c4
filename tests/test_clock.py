"""The shifted-clock run (scripts/test.sh, docs/testing.md) really shifts every process's clock.

Outside that run these tests check only that the clock agrees with the file system's."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session

from tests.helpers import CHEAP_ARGON2, World
from whistle import case_codes, crypto, db, reports, texts
from whistle.keys import Keys
from whistle.models import AuditEntry, Case, CaseItem

OFFSET = float(os.environ.get("SHIFTED_CLOCK_OFFSET") or 0)


def _file_clock(tmp_path: Path) -> float:
    probe = tmp_path / "probe"
    probe.touch()
    return probe.stat().st_mtime


def test_this_process_runs_at_the_shifted_time(tmp_path: Path) -> None:
    shift = dt.datetime.now(dt.UTC).timestamp() - _file_clock(tmp_path)
    assert abs(shift - OFFSET) < 60


def test_a_child_process_agrees_on_the_time() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert abs(float(child.stdout) - dt.datetime.now(dt.UTC).timestamp()) < 60


# 23:30 UTC on New Year's Eve, years from now: already 1 January in Stockholm.
INJECTED = dt.datetime(2031, 12, 31, 23, 30, tzinfo=dt.UTC)


def test_an_injected_time_is_the_only_time_an_operation_writes(
    engine: Engine, keys: Keys, world: World
) -> None:
    """A function given ``now`` never reads the real clock for part of its work: the case, its
    items and the audit entries all carry the injected moment (Stockholm dates for the law)."""
    code = case_codes.normalise(case_codes.generate())
    access = crypto.derive_case_access(code, keys.pepper, CHEAP_ARGON2)
    report = reports.ReportInput(
        category_id=world.bribery, unit_id=world.unit, what="w", anonymous=True
    )
    with db.session_scope(engine) as s:
        case_id = reports.submit(s, report=report, access=access, keys=keys, now=INJECTED)
        texts.save(s, actor_id=world.admin, name="routine", body_sv="a", body_en="b", now=INJECTED)
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        new_year = dt.date(2032, 1, 1)
        assert case.received_on == new_year
        assert case.ack_due == new_year + dt.timedelta(days=7)
        items = s.execute(select(CaseItem.created_at).where(CaseItem.case_id == case_id))
        assert {stamp.date() for (stamp,) in items} == {new_year}
        audit_times = s.execute(select(AuditEntry.at).where(AuditEntry.action == "text_saved"))
        assert [stamp.replace(tzinfo=dt.UTC) for (stamp,) in audit_times] == [INJECTED]
