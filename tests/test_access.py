"""Who may read: exclusion by the reporter, triage, recusal, grants, the continuity key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, login_staff, post, submit_report
from whistle import continuity, crypto, db, demo
from whistle.keys import load_keys
from whistle.models import Case, CaseKeyWrap, User
from whistle.settings import Settings

CASE_LINK = re.compile(r'href="/cases/([0-9a-f]{32})"')


def holders(engine: Engine) -> set[str]:
    with Session(engine) as s:
        return set(s.execute(select(CaseKeyWrap.user_id)).scalars())


def only_case(engine: Engine) -> Case:
    with Session(engine) as s:
        [case] = s.execute(select(Case)).scalars().all()
        return case


def test_reporter_sees_readers_and_can_exclude(
    world: World, client: TestClient, engine: Engine
) -> None:
    data = {"category": str(world.bribery), "what": "Bertil is involved", "mode": "anonymous"}
    preview = post(client, "/report", {**data, "action": "readers"})
    assert preview.status_code == 200
    assert "Anna" in preview.text
    assert "Bertil" in preview.text
    assert "Carl" not in preview.text
    assert "Bertil is involved" in preview.text  # nothing typed is lost
    with Session(engine) as s:
        assert s.execute(select(Case)).first() is None  # the preview stores nothing
    code = submit_report(client, world.bribery, what="Bertil is involved", exclude=world.bertil)
    assert len(code.replace(" ", "")) == 16
    assert holders(engine) == {world.anna}


def test_excluded_investigator_cannot_open_and_cannot_be_granted(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    submit_report(new_client(), world.bribery, exclude=world.bertil)
    case = only_case(engine)
    bertil = new_client()
    login_staff(bertil, "bertil")
    assert bertil.get(f"/cases/{case.id}").status_code == 404
    anna = new_client()
    login_staff(anna, "anna")
    page = anna.get(f"/cases/{case.id}").text
    assert "Uteslutna av rapporteraren" in page
    refused = post(anna, f"/cases/{case.id}/grant", {"user_id": world.bertil})
    assert refused.status_code == 400
    assert holders(engine) == {world.anna}


def test_excluding_everyone_goes_to_triage_after_telling_the_reporter(
    world: World, client: TestClient, engine: Engine
) -> None:
    with db.session_scope(engine) as s:
        # Carl is the triage group in this test.
        from whistle import routing

        routing.designate(s, user_id=world.carl, category_id=None)
        demo.approve_as_colleagues(s)
    data = {
        "category": str(world.bribery),
        "what": "Both are involved",
        "mode": "anonymous",
        "exclude": [world.anna, world.bertil],
    }
    first = post(client, "/report", data)
    assert first.status_code == 200
    assert "sorteringsgruppen: Carl" in first.text
    with Session(engine) as s:
        assert s.execute(select(Case)).first() is None
    code = submit_report(
        client,
        world.bribery,
        what="Both are involved",
        exclude=[world.anna, world.bertil],
        confirm_triage="yes",
    )
    assert code
    assert holders(engine) == {world.carl}
    assert only_case(engine).triaged is True


def test_unknown_category_goes_to_triage(world: World, client: TestClient, engine: Engine) -> None:
    with db.session_scope(engine) as s:
        from whistle import routing

        routing.designate(s, user_id=world.bertil, category_id=None)
        demo.approve_as_colleagues(s)
    response = post(
        client, "/report", {"category": "unknown", "what": "Not sure", "mode": "anonymous"}
    )
    assert response.status_code == 200
    case = only_case(engine)
    assert case.category_id is None
    assert case.triaged
    assert holders(engine) == {world.bertil}


def test_recusal_removes_access_and_is_logged(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    submit_report(new_client(), world.bribery)
    case = only_case(engine)
    bertil = new_client()
    login_staff(bertil, "bertil")
    unconfirmed = post(bertil, f"/cases/{case.id}/recuse", {})
    assert unconfirmed.status_code == 400
    assert holders(engine) == {world.anna, world.bertil}
    done = post(bertil, f"/cases/{case.id}/recuse", {"confirm": "yes"})
    assert done.status_code == 303
    assert holders(engine) == {world.anna}
    assert bertil.get(f"/cases/{case.id}").status_code == 404
    assert case.id not in bertil.get("/inbox").text
    anna = new_client()
    login_staff(anna, "anna")
    history = anna.get(f"/cases/{case.id}?tab=history").text
    assert "Klev av (jäv)" in history
    # The last reader cannot step aside.
    last = post(anna, f"/cases/{case.id}/recuse", {"confirm": "yes"})
    assert last.status_code == 400
    assert holders(engine) == {world.anna}


def test_grant_gives_access_only_to_route_members(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    submit_report(new_client(), world.bribery, what="Grant marker")
    case = only_case(engine)
    bertil = new_client()
    login_staff(bertil, "bertil")
    post(bertil, f"/cases/{case.id}/recuse", {"confirm": "yes"})
    anna = new_client()
    login_staff(anna, "anna")
    # Carl is not designated for bribery: refused.
    assert post(anna, f"/cases/{case.id}/grant", {"user_id": world.carl}).status_code == 400
    granted = post(anna, f"/cases/{case.id}/grant", {"user_id": world.bertil})
    assert granted.status_code == 303
    assert holders(engine) == {world.anna, world.bertil}
    assert "Grant marker" in bertil.get(f"/cases/{case.id}").text
    # Someone who does not hold the case cannot grant it, not even to themselves.
    carl = new_client()
    login_staff(carl, "carl")
    assert post(carl, f"/cases/{case.id}/grant", {"user_id": world.carl}).status_code == 404


def test_continuity_key_regrants_a_case_whose_readers_are_all_gone(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
) -> None:
    from whistle.app import create_app

    private_file = tmp_path / "continuity.key"
    continuity.create(settings.keys_dir, private_file)
    assert oct(private_file.stat().st_mode & 0o777) == "0o600"
    keys = load_keys(settings.keys_dir, create=False)
    app = create_app(settings, engine=engine, keys=keys)
    reporter = TestClient(app, base_url="https://testserver", follow_redirects=False)
    submit_report(reporter, world.bribery, what="Continuity marker")
    case = only_case(engine)
    assert case.continuity_wrap is not None
    # Every reader leaves; a new investigator arrives.
    with db.session_scope(engine) as s:
        for uid in (world.anna, world.bertil):
            user = s.get(User, uid)
            assert user is not None
            user.status = "disabled"
        from tests.helpers import CHEAP_ARGON2, PASSWORD, enrol_totp
        from whistle import accounts

        accounts.create_active_user(
            s,
            username="dora",
            display_name="Dora",
            role="investigator",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        enrol_totp(s, "dora", keys.password_key)
    with db.session_scope(engine) as s:
        wrong = crypto.generate_keypair()[0]
        try:
            continuity.regrant(s, private_key=wrong, case_reference=case.id[:8], username="dora")
            raise AssertionError("a wrong private key must not open the case")
        except continuity.ContinuityError:
            pass
    with db.session_scope(engine) as s:
        continuity.regrant(
            s,
            private_key=continuity.read_private(private_file),
            case_reference=case.id[:8],
            username="dora",
        )
    dora = TestClient(app, base_url="https://testserver", follow_redirects=False)
    login_staff(dora, "dora")
    page = dora.get(f"/cases/{case.id}")
    assert page.status_code == 200
    assert "Continuity marker" in page.text
    history = dora.get(f"/cases/{case.id}?tab=history").text
    assert "Gav åtkomst med kontinuitetsnyckeln" in history


def test_continuity_cli(
    world: World, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from whistle import cli

    monkeypatch.setenv("WHISTLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WHISTLE_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", settings.effective_database_url)
    out = tmp_path / "offline.key"
    assert cli.main(["continuity-create", "--private-out", str(out)]) == 0
    assert (settings.keys_dir / "continuity.pub").exists()
    # A second key would split the cases between two keys: refused.
    assert cli.main(["continuity-create", "--private-out", str(tmp_path / "x.key")]) == 2
    assert (
        cli.main(
            [
                "continuity-grant",
                "--private-key",
                str(out),
                "--case",
                "00000000",
                "--username",
                "anna",
            ]
        )
        == 2
    )
