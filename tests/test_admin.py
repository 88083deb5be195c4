"""Administration on the web: routing, units and categories, accounts — and no case content."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import PASSWORD, World, login_staff, post, submit_report
from whistle import accounts, db
from whistle.models import Category, Designation, Unit, User


def admin_client(new_client: Callable[[], TestClient]) -> TestClient:
    admin = new_client()
    login_staff(admin, "admin")
    return admin


def test_route_table_add_remove_and_thin_route_warning(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    admin = admin_client(new_client)
    page = admin.get("/admin/routes")
    assert page.status_code == 200
    # "Other" has only Anna and Carl... and the triage group has nobody: warned.
    assert "Färre än två" in page.text or "färre än två" in page.text
    assert "Sorteringsgrupp (okänd kategori)" in page.text
    added = post(
        admin,
        "/admin/routes",
        {"user_id": world.carl, "category": str(world.bribery), "unit": str(world.unit)},
    )
    assert added.status_code == 303
    with Session(engine) as s:
        row = s.execute(
            select(Designation).where(
                Designation.user_id == world.carl, Designation.unit_id == world.unit
            )
        ).scalar_one()
    assert row.status == "pending"  # four eyes: an investigator who reads bribery approves
    bertil = new_client()
    login_staff(bertil, "bertil")
    assert post(bertil, f"/readers/{row.id}/approve", {}).status_code == 303
    # The new line routes reports about that unit to Carl too.
    submit_report(new_client(), world.bribery, unit=str(world.unit))
    carl = new_client()
    login_staff(carl, "carl")
    assert len(re.findall(r'href="/cases/[0-9a-f]{32}"', carl.get("/inbox").text)) == 1
    removed = post(admin, f"/admin/routes/{row.id}/delete", {})
    assert removed.status_code == 303
    with Session(engine) as s:
        assert s.get(Designation, row.id) is None
    triage = post(admin, "/admin/routes", {"user_id": world.carl, "category": "triage"})
    assert triage.status_code == 303
    refused = post(admin, "/admin/routes", {"user_id": world.admin, "category": str(world.bribery)})
    assert refused.status_code == 400  # administrators are never readers


def test_units_and_categories(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    admin = admin_client(new_client)
    assert admin.get("/admin/structure").status_code == 200
    bad = post(admin, "/admin/units", {"name_sv": "", "name_en": "x"})
    assert bad.status_code == 400
    assert (
        post(admin, "/admin/units", {"name_sv": "Bolaget", "name_en": "The company"}).status_code
        == 303
    )
    ok = post(
        admin,
        f"/admin/categories/{world.other}",
        {"name_sv": "Övrigt", "name_en": "Other matters", "active": "no"},
    )
    assert ok.status_code == 303
    with Session(engine) as s:
        assert s.execute(select(Unit).where(Unit.name_sv == "Bolaget")).first() is not None
        other = s.get(Category, world.other)
        assert other is not None
        assert other.name_sv == "Övrigt"
        assert not other.active
    # An inactive category is not offered to reporters.
    assert "Övrigt" not in new_client().get("/report").text


def test_invite_activate_deactivate(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    admin = admin_client(new_client)
    invited = post(
        admin,
        "/admin/accounts",
        {"username": "frida", "display_name": "Frida F", "role": "investigator"},
    )
    assert invited.status_code == 200
    # The link is not on the admin's screen: the operator prints one for the person.
    assert "/activate/" not in invited.text
    assert "whistle activation-link --username frida" in invited.text
    with db.session_scope(engine) as s:
        token = accounts.renew_invitation(s, username="frida")
    person = new_client()
    activated = post(person, f"/activate/{token}", {"password": PASSWORD, "confirm": PASSWORD})
    assert activated.status_code == 200
    duplicate = post(
        admin, "/admin/accounts", {"username": "frida", "display_name": "F", "role": "admin"}
    )
    assert duplicate.status_code == 400
    assert "upptaget" in duplicate.text
    # Deactivating the only reader of a case warns first.
    submit_report(new_client(), world.bribery)
    bertil = new_client()
    login_staff(bertil, "bertil")
    [case_id] = re.findall(r'href="/cases/([0-9a-f]{32})"', bertil.get("/inbox").text)
    anna = new_client()
    login_staff(anna, "anna")
    assert post(anna, f"/cases/{case_id}/recuse", {"confirm": "yes"}).status_code == 303
    confirm = admin.get(f"/admin/accounts/{world.bertil}")
    assert confirm.status_code == 200
    assert "1 ärende kan bara läsas av den här personen" in confirm.text
    done = post(admin, f"/admin/accounts/{world.bertil}/status", {"active": "no"})
    assert done.status_code == 303
    assert bertil.get("/inbox").status_code == 303  # sessions ended
    with Session(engine) as s:
        user = s.get(User, world.bertil)
        assert user is not None
        assert user.status == "disabled"
    assert (
        post(admin, f"/admin/accounts/{world.bertil}/status", {"active": "yes"}).status_code == 303
    )
    self_off = post(admin, f"/admin/accounts/{world.admin}/status", {"active": "no"})
    assert self_off.status_code == 400
