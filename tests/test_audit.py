"""The hash-chained audit log: what is logged, and that tampering is detected."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select, text, update
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, login_staff, post, submit_report
from whistle import audit, crypto, db
from whistle.models import AuditEntry, AuditHead, Case

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
    assert failed.subject_id == world.bertil
    assert "wrong" not in failed.detail
    for entry in entries:
        blob = f"{entry.detail}{entry.actor_id}{entry.subject_id}"
        assert MARKER not in blob
    assert result.ok
    assert result.count == len(entries)


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
    assert not result.ok
    assert result.first_bad_id == 3
    assert result.reason == "altered"


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
    assert not result.ok
    assert result.first_bad_id == 2


def test_reorder_is_detected(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _activity(world, new_client, engine)
    with db.session_scope(engine) as s:
        one, two = (s.get(AuditEntry, 2), s.get(AuditEntry, 3))
        assert one is not None
        assert two is not None
        fields = ("at", "actor_id", "action", "case_id", "subject_id", "detail")
        first = {f: getattr(one, f) for f in fields}
        second = {f: getattr(two, f) for f in fields}
        for f in fields:
            setattr(one, f, second[f])
            setattr(two, f, first[f])
    result = _verify(engine)
    assert not result.ok
    assert result.first_bad_id == 2


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
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WHISTLE_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", settings.effective_database_url)
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
    assert "Öppnade och dekrypterade ärendet" in page.text
    assert "obruten" in page.text
    assert MARKER not in page.text
    anna = new_client()
    login_staff(anna, "anna")
    history = anna.get(f"/cases/{case_id}?tab=history").text
    assert "Åtkomsthistorik" in history
    assert "Ändrade status" in history
    assert anna.get("/admin/audit").status_code == 404


def test_every_action_has_a_label() -> None:
    assert set(audit.LABELS) == set(audit.ACTIONS)


def _cut_tail(engine: Engine, keep: int) -> None:
    """The attack of finding 6: delete the newest entries and point the head at the new last."""
    with db.session_scope(engine) as s:
        s.execute(text("DELETE FROM audit_entries WHERE id > :keep"), {"keep": keep})
        last = s.get(AuditEntry, keep)
        assert last is not None
        s.execute(update(AuditHead).values(count=keep, last_hash=last.entry_hash))


def test_cut_tail_is_detected_against_an_exported_head(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _activity(world, new_client, engine)
    exported = _verify(engine).head
    assert exported.count >= 4
    assert audit.Head.parse(exported.token()) == exported
    _cut_tail(engine, exported.count - 2)
    # The chain alone cannot see it: every remaining link holds.
    assert _verify(engine).ok
    with Session(engine) as s:
        result = audit.verify(s, expected=exported)
    assert not result.ok
    assert result.reason == "cut"
    assert result.first_bad_id == exported.count - 1


def test_a_head_exported_before_later_entries_still_verifies(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _activity(world, new_client, engine)
    exported = _verify(engine).head
    login_staff(new_client(), "bertil")  # the log grows after the copy was taken
    with Session(engine) as s:
        result = audit.verify(s, expected=exported)
    assert result.ok
    assert result.count > exported.count


def _rebuild(engine: Engine, entry_hash: Callable[[bytes, AuditEntry], bytes]) -> None:
    """Rewrite entry 2 and recompute every link and the head, as a database administrator could."""
    with db.session_scope(engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 2).values(detail="rewritten"))
        prev = audit.GENESIS
        for entry in s.exec(select(AuditEntry).order_by(AuditEntry.id)).scalars():
            entry.prev_hash = prev
            entry.entry_hash = entry_hash(prev, entry)
            prev = entry.entry_hash
        s.execute(update(AuditHead).values(last_hash=prev))


@pytest.mark.parametrize("attacker", ["unkeyed", "own-key"])
def test_a_rebuilt_chain_without_the_key_fails(
    world: World, new_client: Callable[[], TestClient], engine: Engine, attacker: str
) -> None:
    _activity(world, new_client, engine)
    own = crypto.random_key()
    if attacker == "unkeyed":  # the old scheme: SHA-256 of the link, no key needed
        _rebuild(engine, lambda prev, e: crypto.digest(prev + audit._canonical(e)))
    else:
        _rebuild(engine, lambda prev, e: crypto.mac(own, prev + audit._canonical(e)))
    result = _verify(engine)
    assert not result.ok
    assert result.first_bad_id == 1
    assert result.reason == "altered"


def test_moving_where_keying_begins_is_caught_against_the_head(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _activity(world, new_client, engine)
    exported = _verify(engine).head
    with db.session_scope(engine) as s:  # pretend every entry predates keying...
        s.execute(update(AuditHead).values(keyed_from=exported.count + 1))
    _rebuild(engine, lambda prev, e: crypto.digest(prev + audit._canonical(e)))
    with Session(engine) as s:
        result = audit.verify(s, expected=exported)
    assert not result.ok
    assert result.reason == "rekeyed"


def test_an_engine_without_the_key_cannot_write_or_verify(settings: object, world: World) -> None:
    plain = db.make_engine(settings.effective_database_url)
    try:
        with pytest.raises(audit.AuditKeyMissing), db.session_scope(plain) as s:
            audit.record(s, action="login", actor_id=world.anna)
        with pytest.raises(audit.AuditKeyMissing), Session(plain) as s:
            audit.verify(s)
    finally:
        plain.dispose()


def test_verify_cli_prints_the_head_and_checks_against_it(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from whistle import cli

    _activity(world, new_client, engine)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WHISTLE_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", settings.effective_database_url)
    assert cli.main(["audit-verify"]) == 0
    printed = re.search(r"^head: (\S+)$", capsys.readouterr().out, re.MULTILINE)
    assert printed
    assert printed.group(1) == _verify(engine).head.token()
    assert cli.main(["audit-verify", "--head", printed.group(1)]) == 0
    capsys.readouterr()
    _cut_tail(engine, _verify(engine).count - 1)
    assert cli.main(["audit-verify"]) == 0  # the chain alone: intact
    capsys.readouterr()
    assert cli.main(["audit-verify", "--head", printed.group(1)]) == 1
    assert "BROKEN" in capsys.readouterr().err
    assert cli.main(["audit-verify", "--head", "not-a-head"]) == 2
