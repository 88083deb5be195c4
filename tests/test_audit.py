"""The hash-chained audit log: what is logged, and that tampering is detected."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select, text, update
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.conftest import World, login_staff, post, submit_report
from whistle import audit, db
from whistle.models import AuditEntry, Case

MARKER = "AUDITMARKER4411"


def _activity(world: World, new_client: Callable[[], TestClient], engine: Engine) -> str:
    submit_report(new_client(), world.bribery, what=f"text {MARKER}", name=f"N {MARKER}")
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
    anna = new_client()
    login_staff(anna, "anna")
    anna.get(f"/cases/{case_id}")
    post(anna, f"/cases/{case_id}/post", {"kind": "message", "text": f"msg {MARKER}"})
    post(anna, f"/cases/{case_id}/status", {"status": "investigation"})
    post(new_client(), "/staff/login", {"username": "bertil", "password": "wrong password"})
    return case_id


def test_actions_are_logged_without_content(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    case_id = _activity(world, new_client, engine)
    with Session(engine) as s:
        entries = list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
        result = audit.verify(s)
    actions = [(e.action, e.case_id) for e in entries]
    assert ("login", None) in actions
    assert ("case_opened", case_id) in actions
    assert ("message_sent", case_id) in actions
    assert ("status_changed", case_id) in actions
    assert ("login_failed", None) in actions
    failed = next(e for e in entries if e.action == "login_failed")
    assert failed.subject_id == world.bertil and "wrong" not in failed.detail
    for entry in entries:
        blob = f"{entry.detail}{entry.actor_id}{entry.subject_id}"
        assert MARKER not in blob
    assert result.ok and result.count == len(entries)


def _verify(engine: Engine) -> audit.Verification:
    with Session(engine) as s:
        return audit.verify(s)


def test_edit_is_detected(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _activity(world, new_client, engine)
    with db.session_scope(engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 3).values(detail="closed"))
    result = _verify(engine)
    assert not result.ok and result.first_bad_id == 3 and result.reason == "altered"


def test_delete_in_the_middle_and_at_the_end_is_detected(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _activity(world, new_client, engine)
    count = _verify(engine).count
    with db.session_scope(engine) as s:
        s.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": count})
    assert _verify(engine).reason == "truncated"
    with db.session_scope(engine) as s:
        s.execute(text("DELETE FROM audit_entries WHERE id = 2"))
    result = _verify(engine)
    assert not result.ok and result.first_bad_id == 2


def test_reorder_is_detected(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _activity(world, new_client, engine)
    with db.session_scope(engine) as s:
        one, two = (s.get(AuditEntry, 2), s.get(AuditEntry, 3))
        assert one is not None and two is not None
        fields = ("at", "actor_id", "action", "case_id", "subject_id", "detail")
        first = {f: getattr(one, f) for f in fields}
        second = {f: getattr(two, f) for f in fields}
        for f in fields:
            setattr(one, f, second[f])
            setattr(two, f, first[f])
    result = _verify(engine)
    assert not result.ok and result.first_bad_id == 2


def test_verify_cli_reports_the_first_broken_entry(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from whistle import cli

    _activity(world, new_client, engine)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(settings.data_dir))  # type: ignore[attr-defined]
    monkeypatch.setenv("WHISTLE_KEYS_DIR", str(settings.keys_dir))  # type: ignore[attr-defined]
    monkeypatch.setenv("WHISTLE_DATABASE_URL", settings.effective_database_url)  # type: ignore[attr-defined]
    assert cli.main(["audit-verify"]) == 0
    assert "intact" in capsys.readouterr().out
    with db.session_scope(engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 4).values(actor_id=None))
    assert cli.main(["audit-verify"]) == 1
    assert "BROKEN at entry 4" in capsys.readouterr().err


def test_admin_sees_log_investigator_sees_case_history(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    case_id = _activity(world, new_client, engine)
    admin = new_client()
    login_staff(admin, "admin")
    page = admin.get("/admin/audit")
    assert page.status_code == 200
    assert "Öppnade och dekrypterade ärendet" in page.text and "obruten" in page.text
    assert MARKER not in page.text
    anna = new_client()
    login_staff(anna, "anna")
    history = anna.get(f"/cases/{case_id}?tab=history").text
    assert "Åtkomsthistorik" in history and "Ändrade status" in history
    assert anna.get("/admin/audit").status_code == 404


def test_every_action_has_a_label() -> None:
    assert set(audit.LABELS) == set(audit.ACTIONS)
