"""A leaver's cases: one bulk grant with a preview, excluded cases listed, wraps released."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, delete, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import (
    CHEAP_ARGON2,
    PASSWORD,
    World,
    enrol_totp,
    login_staff,
    post,
    submit_report,
)
from whistle import accounts, casework, continuity, db, demo, leavers, routing
from whistle.keys import Keys, load_keys
from whistle.models import CaseKeyWrap
from whistle.settings import Settings


def _dora(engine: Engine, category: int, keys: Keys) -> str:
    """A new investigator designated for the category (approved by colleagues)."""
    with db.session_scope(engine) as s:
        user, _ = accounts.create_active_user(
            s,
            username="dora",
            display_name="Dora",
            role="investigator",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        enrol_totp(s, "dora", keys.password_key)
        routing.designate(s, category_id=category, user_id=user.id)
        demo.approve_as_colleagues(s)
        return user.id


def _holders(engine: Engine) -> dict[str, set[str]]:
    with Session(engine) as s:
        found: dict[str, set[str]] = {}
        for wrap in s.execute(select(CaseKeyWrap)).scalars():
            found.setdefault(wrap.case_id, set()).add(wrap.user_id)
        return found


def test_bulk_grant_gives_every_case_but_the_excluded_ones(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    dora = _dora(engine, world.bribery, keys)
    reporter = new_client()
    seen: list[str] = []

    def filed(**fields: str) -> str:
        submit_report(reporter, world.bribery, **fields)
        new = set(_holders(engine)) - set(seen)
        (case_id,) = new
        seen.append(case_id)
        return case_id

    plain = filed()
    second = filed()
    excluded = filed(exclude=dora)
    only_bertil = filed()
    submit_report(reporter, world.other)  # Anna and Carl: not Bertil's
    anna = new_client()
    login_staff(anna, "anna")
    assert post(anna, f"/cases/{only_bertil}/recuse", {"confirm": "yes"}).status_code == 303
    with Session(engine) as s:  # as if Dora had joined after these cases were filed
        s.execute(delete(CaseKeyWrap).where(CaseKeyWrap.user_id == dora))
        s.commit()
    before = _holders(engine)
    assert all(dora not in readers for readers in before.values())

    form = {"leaver": world.bertil, "successor": dora}
    preview = post(anna, "/leavers", form)
    assert preview.status_code == 200
    assert _holders(engine) == before  # a preview grants nothing
    text = preview.text
    assert casework.reference(excluded) in text.split("Uteslutna av rapporteraren, behöver")[1]
    assert "2 ärenden kommer att ges till efterträdaren." in text
    assert "Du kan inte läsa 1 av ärendena för den som slutar" in text

    done = post(anna, "/leavers", {**form, "confirm": "yes"})
    assert done.status_code == 200
    assert "2 ärenden gavs till efterträdaren." in done.text
    after = _holders(engine)
    assert dora in after[plain]
    assert dora in after[second]
    assert dora not in after[excluded]
    assert dora not in after[only_bertil]
    # Carl is not designated for bribery: every one of Bertil's cases is outside his route.
    with Session(engine) as s:
        key = accounts.authenticate(
            s,
            username="anna",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        plan = leavers.grant_all(
            s,
            user_id=world.anna,
            private_key=key.private_key,
            leaver_id=world.bertil,
            successor_id=world.carl,
            confirm=False,
        )
        assert plan.grant == []
        assert set(plan.outside) == {plain, second, excluded}


def test_deactivated_leaver_keeps_only_the_cases_nobody_else_reads(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    submit_report(reporter, world.bribery)
    submit_report(reporter, world.bribery)
    cases_ = list(_holders(engine))
    anna = new_client()
    login_staff(anna, "anna")
    lonely = cases_[0]
    assert post(anna, f"/cases/{lonely}/recuse", {"confirm": "yes"}).status_code == 303
    admin = new_client()
    login_staff(admin, "admin")
    assert (
        post(admin, f"/admin/accounts/{world.bertil}/status", {"active": "no"}).status_code == 303
    )
    holders = _holders(engine)
    assert holders[cases_[1]] == {world.anna}  # released: Anna reads it
    assert holders[lonely] == {world.bertil}  # blocks: nobody else can read it
    page = admin.get(f"/admin/accounts/{world.bertil}").text
    assert casework.reference(lonely) in page
    assert casework.reference(cases_[1]) not in page
    assert "Marker" not in page


def test_continuity_key_gives_a_leaver_s_cases_to_a_successor(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    keys: Keys,
) -> None:
    from whistle.app import create_app

    private_file = tmp_path / "continuity.key"
    continuity.create(settings.keys_dir, private_file)
    app = create_app(settings, engine=engine, keys=load_keys(settings.keys_dir, create=False))
    reporter = TestClient(app, base_url="https://testserver", follow_redirects=False)
    submit_report(reporter, world.bribery, exclude=world.anna)  # Bertil only
    dora = _dora(engine, world.bribery, keys)
    with db.session_scope(engine) as s:
        plan = leavers.grant_all_with_continuity(
            s,
            private_key=continuity.read_private(private_file),
            leaver_id=world.bertil,
            successor_id=dora,
        )
    assert len(plan.grant) == 1
    (case_id,) = plan.grant
    assert _holders(engine)[case_id] == {world.bertil, dora}
