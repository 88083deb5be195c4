"""The `whistle` command, called in-process with its environment in temporary directories.

No server is started: `serve` is only tested for refusing a bad configuration.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import uvicorn
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.helpers import CSRF_COOKIE, PASSWORD
from whistle import approvals, audit, cli, db
from whistle.app import create_app
from whistle.keys import load_keys
from whistle.models import AuditEntry, Category, Designation, Unit, User
from whistle.settings import Settings

LINK = re.compile(r"https://whistle\.example\.se/activate/([A-Za-z0-9_-]+)")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("WHISTLE_") and name != "WHISTLE_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    values = {
        # A folder that does not exist yet, as on a new host.
        "WHISTLE_DATA_DIR": str(tmp_path / "new" / "data"),
        "WHISTLE_KEYS_DIR": str(tmp_path / "new" / "keys"),
        "WHISTLE_BASE_URL": "https://whistle.example.se",
        # TESTS ONLY: cheap Argon2 for the activation below.
        "WHISTLE_ARGON2_MEMORY_KIB": "8",
        "WHISTLE_ARGON2_TIME_COST": "1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code (returned or raised), stdout and stderr of one command."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def _settings() -> Settings:
    return Settings.from_env(os.environ)


def _db() -> Session:
    return Session(db.make_engine(_settings().effective_database_url))


def test_migrate_on_a_new_host(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "migrate")
    assert code == 0
    assert "newest schema" in out
    assert (Path(env["WHISTLE_DATA_DIR"]) / "whistle.db").is_file()


def test_add_category_and_unit(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "add-category", "--sv", "Mutor", "--en", "Bribery")
    assert code == 0
    assert out.strip() == "category 1"
    code, out, _ = run(
        capsys, "add-category", "--sv", "Jäv", "--en", "Conflicts", "--position", "2"
    )
    assert code == 0
    assert out.strip() == "category 2"
    code, out, _ = run(capsys, "add-unit", "--sv", "Förvaltning Norr", "--en", "North")
    assert code == 0
    assert out.strip() == "unit 1"
    with _db() as s:
        categories = s.exec(select(Category).order_by(Category.id)).all()
        assert [(c.name_sv, c.name_en, c.position) for c in categories] == [
            ("Mutor", "Bribery", 0),
            ("Jäv", "Conflicts", 2),
        ]
        [unit] = s.exec(select(Unit)).all()
        assert (unit.name_sv, unit.name_en) == ("Förvaltning Norr", "North")


def _invite(capsys: pytest.CaptureFixture[str], username: str, *extra: str) -> str:
    code, out, _ = run(
        capsys, "create-investigator", "--username", username, "--name", username.title(), *extra
    )
    assert code == 0, out
    match = LINK.search(out)
    assert match, out
    return match.group(1)


def _activate_through_the_web(token: str) -> str:
    settings = _settings()
    engine = db.make_engine(settings.effective_database_url)
    app = create_app(settings, engine=engine, keys=load_keys(settings.keys_dir, create=True))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as browser:
        form = browser.get(f"/activate/{token}")
        assert form.status_code == 200
        response = browser.post(
            f"/activate/{token}",
            data={
                "csrf_token": browser.cookies[CSRF_COOKIE],
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
        )
        assert response.status_code == 200, response.text
        return response.text


def test_create_investigator_prints_a_link_that_activates(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "add-category", "--sv", "Mutor", "--en", "Bribery")
    token = _invite(capsys, "anna", "--category", "1")
    with _db() as s:
        user = s.exec(select(User).where(User.username == "anna")).one()
        assert user.status == "invited"
        assert user.public_key is None
    page = _activate_through_the_web(token)
    assert PASSWORD not in page
    with _db() as s:
        user = s.exec(select(User).where(User.username == "anna")).one()
        assert user.status == "active"
        assert user.public_key is not None
    # The link works once.
    settings = _settings()
    app = create_app(
        settings,
        engine=db.make_engine(settings.effective_database_url),
        keys=load_keys(settings.keys_dir, create=False),
    )
    with TestClient(app, base_url="https://testserver") as browser:
        assert browser.get(f"/activate/{token}").status_code == 404


def test_create_investigator_refuses_bad_input(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "create-investigator", "--username", "Anna A", "--name", "X")
    assert code == 2
    assert "invalid-username" in err
    code, _out, err = run(
        capsys, "create-investigator", "--username", "anna", "--name", "A", "--category", "9"
    )
    assert code == 2
    assert err.startswith("error")
    with _db() as s:  # nothing was half-created
        assert s.exec(select(User)).all() == []


def test_create_admin(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "create-admin", "--username", "it-admin", "--name", "IT")
    assert code == 0
    assert LINK.search(out)
    with _db() as s:
        assert s.exec(select(User)).one().role == "admin"


def _routing_warnings(capsys: pytest.CaptureFixture[str], category: str) -> tuple[str, list[str]]:
    code, out, _ = run(capsys, "routing")
    assert code == 0
    lines = out.splitlines()
    return out, [x for x in lines if category in x and "fewer than two readers" in x]


def _approve_as(username: str, line_user: str) -> None:
    """An investigator approves a pending line on /readers (here: the domain call it makes)."""
    settings = _settings()
    engine = audit.keyed(
        db.make_engine(settings.effective_database_url), load_keys(settings.keys_dir, create=False)
    )
    with db.session_scope(engine) as s:
        approver = s.exec(select(User).where(User.username == username)).one()
        subject = s.exec(select(User).where(User.username == line_user)).one()
        row = s.exec(select(Designation).where(Designation.user_id == subject.id)).one()
        assert row.id is not None
        approvals.approve(s, approver_id=approver.id, designation_id=row.id)


def test_designate_and_routing_warns_about_fewer_than_two_readers(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "add-category", "--sv", "Mutor", "--en", "Bribery")
    _activate_through_the_web(_invite(capsys, "anna"))
    _activate_through_the_web(_invite(capsys, "bertil"))
    _out, warnings = _routing_warnings(capsys, "Mutor")
    assert len(warnings) == 1
    # Both are active: a line from the console is pending too (four eyes), and reads nothing.
    code, out, _ = run(capsys, "designate", "--username", "anna", "--category", "1")
    assert code == 0
    assert "pending" in out
    assert "/readers" in out
    out, warnings = _routing_warnings(capsys, "Mutor")
    assert "anna (PENDING approval)" in out
    assert "NOBODY" in warnings[0]
    _approve_as("bertil", "anna")
    out, warnings = _routing_warnings(capsys, "Mutor")
    assert len(warnings) == 1
    assert "anna" in warnings[0]
    code, _, _ = run(capsys, "designate", "--username", "bertil", "--category", "1")
    assert code == 0
    _approve_as("anna", "bertil")
    out, warnings = _routing_warnings(capsys, "Mutor")
    assert warnings == []
    assert "anna" in out
    assert "bertil" in out
    assert "PENDING" not in out


def test_at_set_up_routes_take_effect_at_once_and_are_recorded(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "add-category", "--sv", "Mutor", "--en", "Bribery")
    # Nobody has activated an account yet: there is nobody to approve, so the lines given at
    # set-up take effect at once, and the audit log says so.
    anna = _invite(capsys, "anna", "--category", "1")
    _invite(capsys, "bertil", "--category", "1")
    _activate_through_the_web(anna)
    code, out, _ = run(capsys, "create-investigator", "--username", "cia", "--name", "Cia",
                       "--category", "1")  # fmt: skip
    assert code == 0
    assert "pending" in out
    with _db() as s:
        rows = {
            s.exec(select(User.username).where(User.id == d.user_id)).one(): d.status
            for d in s.exec(select(Designation)).all()
        }
        assert rows == {"anna": "active", "bertil": "active", "cia": "pending"}
        actions = [e.action for e in s.exec(select(AuditEntry)).all()]
        assert actions.count("route_first_reader") == 2


def test_activation_link_prints_a_fresh_link_for_an_invitee_only(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = _invite(capsys, "anna")
    code, out, _ = run(capsys, "activation-link", "--username", "anna")
    assert code == 0
    match = LINK.search(out)
    assert match
    assert match.group(1) != first
    _activate_through_the_web(match.group(1))
    with _db() as s:
        user = s.exec(select(User).where(User.username == "anna")).one()
        assert user.status == "active"
        assert "invitation_renewed" in [e.action for e in s.exec(select(AuditEntry)).all()]
    # An active account gets no link: it would let whoever runs it take the account over.
    code, out, err = run(capsys, "activation-link", "--username", "anna")
    assert code == 2
    assert "error" in err
    assert not LINK.search(out)
    code, _out, err = run(capsys, "activation-link", "--username", "nobody")
    assert code == 2


def test_designate_refuses_unknown_user_or_category(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "add-category", "--sv", "Mutor", "--en", "Bribery")
    _invite(capsys, "anna")
    run(capsys, "create-admin", "--username", "it-admin", "--name", "IT")
    for argv in (
        ("--username", "nobody", "--category", "1"),
        ("--username", "it-admin", "--category", "1"),
        ("--username", "anna", "--category", "9"),
    ):
        code, _out, err = run(capsys, "designate", *argv)
        assert code == 2, argv
        assert err.startswith("error"), argv


def test_serve_refuses_a_placeholder_database_password(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", "postgresql+psycopg://u:changeme@127.0.0.1/x")
    code, _out, err = run(capsys, "serve")
    assert code == 2
    assert "placeholder" in err
    assert started == []
    assert not Path(env["WHISTLE_KEYS_DIR"]).exists()  # nothing was set up either


def test_serve_refuses_plain_http_outside_localhost(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    monkeypatch.setenv("WHISTLE_BASE_URL", "http://whistle.example.se")
    code, _out, err = run(capsys, "serve")
    assert code == 2
    assert "https" in err
    assert started == []
