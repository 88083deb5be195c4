"""Retention (L18): closed cases past the retention period are deleted (private) or stripped of
personal data (public); nothing else is touched, a dry run changes nothing, and the board's
statistics still count what was deleted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, String, func, or_, select, text
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import CHEAP_ARGON2, World, login_reporter, login_staff, post
from whistle import audit, case_codes, crypto, db, deadlines, reports, retention, sessions
from whistle import statistics as stats
from whistle.keys import Keys
from whistle.models import Attachment, AuditEntry, Case, CaseItem, CaseStatistic, Reminder, metadata
from whistle.settings import Settings

TODAY = dt.date(2029, 3, 1)
TWO_YEARS_AGO = deadlines.add_months(TODAY, -24)  # 731 days: 2028 is a leap year
PERIOD = stats.Period("year", 2026)


@dataclass
class Filed:
    id: str
    code: str
    blob: Path


def file_case(
    engine: Engine, keys: Keys, world: World, settings: Settings, *, closed: dt.date | None
) -> Filed:
    """A named report with exclusions, a reporter session, a reminder and an attachment blob."""
    code = case_codes.generate()
    access = crypto.derive_case_access(case_codes.normalise(code), keys.pepper, CHEAP_ARGON2)
    report = reports.ReportInput(
        category_id=world.bribery,
        unit_id=world.unit,
        what="MARKER-REPORT",
        anonymous=False,
        name="MARKER-NAME",
        excluded=(world.bertil,),
    )
    with db.session_scope(engine) as s:
        case_id = reports.submit(s, report=report, access=access, keys=keys)
        case = s.get(Case, case_id)
        assert case is not None
        case.received_on = dt.date(2026, 11, 2)
        case.acknowledged_on = dt.date(2026, 11, 4)
        if closed is not None:
            case.status, case.closed_on, case.outcome = "closed", closed, "referred"
        s.add(case)
        item = s.exec(select(CaseItem).where(CaseItem.case_id == case_id)).scalars().first()
        assert item is not None
        attachment = Attachment(case_id=case_id, item_id=item.id, size=3)
        s.add(attachment)
        s.add(Reminder(case_id=case_id, kind="ack", due_on=case.ack_due, recipient=world.anna))
        sessions.create(
            s, kind="reporter", payload=b"x", lifetime=dt.timedelta(hours=1), case_id=case_id
        )
    settings.blob_dir.mkdir(parents=True, exist_ok=True)
    blob = settings.blob_dir / attachment.id
    blob.write_bytes(b"sealed bytes")
    return Filed(case_id, code, blob)


def run(
    engine: Engine, settings: Settings, *, policy: str, **options: object
) -> retention.RetentionReport:
    with db.session_scope(engine) as s:
        return retention.apply(
            s,
            policy=policy,
            disposal=str(options.get("disposal", "archive")),
            retention_days=int(options.get("retention_days", 730)),
            today=TODAY,
            dry_run=bool(options.get("dry_run", False)),
            blob_dir=settings.blob_dir,
        )


def _is_text(column: Column[object]) -> bool:
    # SQLModel's AutoString is a decorator around String.
    return isinstance(column.type, String) or isinstance(getattr(column.type, "impl", None), String)


def rows_mentioning(engine: Engine, value: str) -> dict[str, int]:
    """How many rows of each table hold ``value`` in any text column (the audit log aside)."""
    found = {}
    with Session(engine) as s:
        for table in metadata.sorted_tables:
            columns = [c for c in table.c if _is_text(c)]
            if table.name == "audit_entries" or not columns:
                continue
            where = or_(*(c.contains(value) for c in columns))
            n = s.execute(select(func.count()).select_from(table).where(where)).scalar_one()
            if n:
                found[table.name] = n
    return found


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with Session(engine) as s:
        return {
            t.name: sorted(map(tuple, s.execute(select(t)).all()), key=repr)
            for t in metadata.sorted_tables
        }


@pytest.fixture
def three(engine: Engine, keys: Keys, world: World, settings: Settings) -> dict[str, Filed]:
    return {
        "old": file_case(engine, keys, world, settings, closed=TWO_YEARS_AGO - dt.timedelta(1)),
        "recent": file_case(engine, keys, world, settings, closed=TWO_YEARS_AGO + dt.timedelta(1)),
        "open": file_case(engine, keys, world, settings, closed=None),
    }


def _open_received_long_ago(engine: Engine, case_id: str) -> None:
    with db.session_scope(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        case.received_on = dt.date(2020, 1, 1)  # years old, but never closed
        s.add(case)


def test_dry_run_changes_nothing(
    engine: Engine, settings: Settings, three: dict[str, Filed]
) -> None:
    before = snapshot(engine)
    report = run(engine, settings, policy="private", dry_run=True)
    assert snapshot(engine) == before
    assert three["old"].blob.exists()
    [action] = report.actions
    assert action.reference == three["old"].id[:8].upper()
    assert action.action == "deleted"
    assert action.blobs == 1
    assert action.rows > 5
    assert any("would be deleted" in line for line in report.lines())
    assert "MARKER" not in "\n".join(report.lines())


def test_private_deletes_the_old_case_everywhere_and_keeps_its_statistics(
    engine: Engine, settings: Settings, three: dict[str, Filed]
) -> None:
    _open_received_long_ago(engine, three["open"].id)
    with Session(engine) as s:
        counted = stats.compute(s, period=PERIOD, threshold=1, today=TODAY)
    before = {name: rows_mentioning(engine, f.id) for name, f in three.items()}
    assert before["old"]  # the helper finds the case where it is
    report = run(engine, settings, policy="private")
    assert [a.reference for a in report.actions] == [three["old"].id[:8].upper()]
    assert rows_mentioning(engine, three["old"].id) == {}
    assert not three["old"].blob.exists()
    # The others are untouched: the one closed a day less than two years ago, the open one.
    for name in ("recent", "open"):
        assert rows_mentioning(engine, three[name].id) == before[name]
        assert three[name].blob.exists()
    with Session(engine) as s:
        # The audit log keeps the deletion by case id, never content; the chain still holds.
        entries = s.execute(select(AuditEntry).where(AuditEntry.case_id == three["old"].id))
        actions = {e.action for e in entries.scalars()}
        assert "retention_deleted" in actions
        assert audit.verify(s).ok
        [row] = s.execute(select(CaseStatistic)).scalars().all()
        assert row.received_month == dt.date(2026, 11, 1)
        assert row.outcome == "referred"
        assert three["old"].id not in repr(row.model_dump())
        # The statistics count the deleted case exactly as before.
        after = stats.compute(s, period=PERIOD, threshold=1, today=TODAY)
    assert after.tables == counted.tables
    assert after.ack_median == counted.ack_median
    # Running again finds nothing more to do.
    assert run(engine, settings, policy="private").actions == ()


def test_public_archive_removes_personal_data_only(
    engine: Engine,
    settings: Settings,
    three: dict[str, Filed],
    new_client: Callable[[], TestClient],
) -> None:
    login_reporter(new_client(), three["old"].code)  # the code works until retention runs
    report = run(engine, settings, policy="public", disposal="archive")
    assert [a.action for a in report.actions] == ["personal_data_removed"]
    old = three["old"].id
    with Session(engine) as s:
        kinds = s.execute(select(CaseItem.kind).where(CaseItem.case_id == old)).scalars().all()
        assert "identity" not in kinds
        assert "exclusions" not in kinds
        assert "report" in kinds
        for name in ("recent", "open"):
            others = s.execute(select(CaseItem.kind).where(CaseItem.case_id == three[name].id))
            assert {"identity", "exclusions"} <= set(others.scalars())
        assert s.execute(select(CaseStatistic)).first() is None
    assert three["old"].blob.exists()  # the archive keeps the documents
    # The investigators can still read it for a masked export; the name is gone.
    anna = new_client()
    login_staff(anna, "anna")
    page = anna.get(f"/cases/{old}")
    assert page.status_code == 200
    assert "MARKER-REPORT" in page.text
    assert "MARKER-NAME" not in page.text
    # The case code opens nothing any more; the recent case's still does.
    assert post(new_client(), "/followup", {"code": three["old"].code}).status_code == 400
    login_reporter(new_client(), three["recent"].code)
    assert run(engine, settings, policy="public", disposal="archive").actions == ()


def test_public_dispose_deletes_like_private(
    engine: Engine, settings: Settings, three: dict[str, Filed]
) -> None:
    report = run(engine, settings, policy="public", disposal="dispose")
    assert [a.action for a in report.actions] == ["deleted"]
    assert rows_mentioning(engine, three["old"].id) == {}
    assert not three["old"].blob.exists()
    assert three["recent"].blob.exists()
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(CaseStatistic)).scalar_one() == 1


def test_the_boundary_day_and_the_settings(
    engine: Engine, keys: Keys, world: World, settings: Settings
) -> None:
    exact = file_case(engine, keys, world, settings, closed=TODAY - dt.timedelta(days=730))
    one_more = file_case(engine, keys, world, settings, closed=TODAY - dt.timedelta(days=731))
    report = run(engine, settings, policy="private", dry_run=True)
    # Kept at most 730 full days after the closing day.
    assert [a.reference for a in report.actions] == [one_more.id[:8].upper()]
    shorter = run(engine, settings, policy="private", dry_run=True, retention_days=30)
    assert {a.reference for a in shorter.actions} == {exact.id[:8].upper(), one_more.id[:8].upper()}
    with pytest.raises(retention.RetentionError, match="policy-not-set"):
        run(engine, settings, policy="")
    with pytest.raises(retention.RetentionError):
        run(engine, settings, policy="private", retention_days=0)
    with pytest.raises(retention.RetentionError):
        run(engine, settings, policy="public", disposal="shred")


def test_the_command(
    engine: Engine,
    keys: Keys,
    world: World,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from whistle import cli

    filed = file_case(engine, keys, world, settings, closed=dt.date(2020, 1, 1))
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WHISTLE_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", settings.effective_database_url)
    assert cli.main(["retention", "--dry-run"]) == 2  # no policy chosen: refuses
    assert "WHISTLE_RETENTION_POLICY" in capsys.readouterr().err
    monkeypatch.setenv("WHISTLE_RETENTION_POLICY", "private")
    assert cli.main(["retention", "--dry-run"]) == 0
    assert filed.id[:8].upper() in capsys.readouterr().out
    assert rows_mentioning(engine, filed.id)
    assert cli.main(["retention"]) == 0
    assert rows_mentioning(engine, filed.id) == {}
    assert not filed.blob.exists()
    with Session(engine) as s:
        assert s.execute(text("SELECT count(*) FROM case_statistics")).scalar_one() == 1


def test_the_background_job(
    engine: Engine,
    settings: Settings,
    three: dict[str, Filed],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="whistle.retention")
    with db.session_scope(engine) as s:
        retention.run_job(s, settings, TODAY)  # no policy: nothing happens
    assert "not set" in caplog.text
    assert rows_mentioning(engine, three["old"].id)
    with db.session_scope(engine) as s:
        retention.run_job(s, settings.replace(retention_policy="private"), TODAY)
    assert rows_mentioning(engine, three["old"].id) == {}
    assert rows_mentioning(engine, three["recent"].id)
    assert "1 cases deleted" in caplog.text
    assert three["old"].id[:8].upper() not in caplog.text.upper()
