"""The organisation's texts (L3, L13): every save is a new dated version by a named author, the
public pages show the newest, nothing the administrator writes is rendered as markup, and only
administrators can write."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, login_staff, post
from whistle import db, texts
from whistle.app import create_app
from whistle.keys import Keys
from whistle.models import AuditEntry, OrganisationText
from whistle.settings import Settings

INJECTION = '<script>alert(1)</script> "><img src=x onerror=alert(2)> {{ 7*7 }} <b>bold</b>'


def test_each_save_is_a_new_version(engine: Engine, world: World) -> None:
    first_at = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    with db.session_scope(engine) as s:
        one = texts.save(
            s, actor_id=world.admin, name="routine", body_sv="Ett", body_en="One", now=first_at
        )
        two = texts.save(s, actor_id=world.admin, name="routine", body_sv="Två", body_en="Two")
    assert (one.version, two.version) == (1, 2)
    assert one.author == "Admin"
    assert one.created_at == first_at
    with Session(engine) as s:
        current = texts.current(s, name="routine")
        assert current is not None
        assert current.body("sv") == "Två"
        assert current.body("en") == "Two"
        assert [v.version for v in texts.history(s, name="routine")] == [2, 1]
        old = texts.get(s, name="routine", version=1)
        assert old is not None
        assert old.body_sv == "Ett"
        assert texts.current(s, name="introduction") is None
        logged = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "text_saved"))
        assert sorted(logged.scalars()) == ["routine 1", "routine 2"]


def test_both_languages_are_required_and_names_are_fixed(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        with pytest.raises(texts.TextError, match="text-required"):
            texts.save(s, actor_id=world.admin, name="routine", body_sv="Bara svenska", body_en=" ")
        with pytest.raises(texts.TextError, match="not-found"):
            texts.save(s, actor_id=world.admin, name="other", body_sv="x", body_en="x")
        long = "x" * (texts.MAX_CHARS + 1)
        with pytest.raises(texts.TextError, match="too-long"):
            texts.save(s, actor_id=world.admin, name="routine", body_sv=long, body_en="x")


def test_paragraphs() -> None:
    body = "First line\r\nsecond line\r\n\r\n  \r\nNext paragraph\n \n\nLast"
    assert texts.paragraphs(body) == [
        ["First line", "second line"],
        ["Next paragraph"],
        ["Last"],
    ]
    assert texts.paragraphs("") == []


def _admin(new_client: Callable[[], TestClient]) -> TestClient:
    admin = new_client()
    login_staff(admin, "admin")
    return admin


def test_admin_edits_and_the_public_sees_the_newest(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    admin = _admin(new_client)
    public = new_client()
    empty = public.get("/info/routine")
    assert empty.status_code == 200
    assert "har ännu inte publicerat" in empty.text
    saved = post(
        admin,
        "/admin/texts/routine",
        {"body_sv": "Rutin ett\n\nAndra stycket", "body_en": "Routine one"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/texts/routine?done=1"
    post(admin, "/admin/texts/routine", {"body_sv": "Rutin två", "body_en": "Routine two"})
    page = public.get("/info/routine")
    assert page.status_code == 200
    assert "Rutin två" in page.text
    assert "Rutin ett" not in page.text
    # Saving is not adopting: without a decision the page says "published", never "adopted".
    assert re.search(r"Version 2, publicerad \d", page.text)
    assert "antagen" not in page.text
    assert "fastställd" not in page.text
    public.get("/lang/en?next=/info/routine")
    assert "Routine two" in public.get("/info/routine").text
    editor = admin.get("/admin/texts/routine?done=1")
    assert "Sparad som version 2." in editor.text
    assert editor.text.count('href="/admin/texts/routine/') == 2
    first = admin.get("/admin/texts/routine/1")
    assert first.status_code == 200
    assert "<p>Rutin ett</p><p>Andra stycket</p>" in first.text
    assert "Rutin två" not in first.text
    assert admin.get("/admin/texts/routine/3").status_code == 404
    assert admin.get("/admin/texts/nonsense").status_code == 404
    listing = admin.get("/admin/texts")
    assert listing.status_code == 200
    assert "Skriftlig rutin för kanalen" in listing.text
    # The footer links the routine on every public page.
    assert 'href="/info/routine"' in new_client().get("/").text


def test_the_introduction_is_on_the_information_page(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    admin = _admin(new_client)
    post(
        admin,
        "/admin/texts/introduction",
        {"body_sv": "Välkommen till\nvår kanal", "body_en": "Welcome"},
    )
    page = new_client().get("/info/how")
    assert "<p>Välkommen till<br>vår kanal</p>" in page.text
    assert 'href="/info/routine"' in page.text


def test_injection_is_escaped_everywhere(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    admin = _admin(new_client)
    for name in texts.NAMES:
        response = post(admin, f"/admin/texts/{name}", {"body_sv": INJECTION, "body_en": INJECTION})
        assert response.status_code == 303
    pages = [
        new_client().get("/info/routine").text,
        new_client().get("/info/how").text,
        new_client().get("/info/privacy").text,
        admin.get("/admin/texts/routine").text,  # inside the textarea
        admin.get("/admin/texts/routine/1").text,
    ]
    for text in pages:
        assert "<script>" not in text
        assert "<img" not in text
        assert "<b>bold" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "{{ 7*7 }}" in text  # shown as typed, never evaluated as a template


def test_only_administrators_write(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna = new_client()
    login_staff(anna, "anna")
    denied = post(anna, "/admin/texts/routine", {"body_sv": "Kupp", "body_en": "Coup"})
    assert denied.status_code == 404
    anonymous = post(new_client(), "/admin/texts/routine", {"body_sv": "Kupp", "body_en": "x"})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/staff/login"
    admin = _admin(new_client)
    missing = post(admin, "/admin/texts/routine", {"body_sv": "Bara svenska", "body_en": ""})
    assert missing.status_code == 400
    assert "Bara svenska" in missing.text
    with Session(engine) as s:
        count = s.execute(select(func.count()).select_from(OrganisationText)).scalar_one()
        assert count == 0


def test_the_routine_shows_its_adoption_not_its_save_date(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    admin = _admin(new_client)
    fields = {"body_sv": "Rutin", "body_en": "Routine", "decision_ref": "KS 2026/12  § 4"}
    saved = post(admin, "/admin/texts/routine", {**fields, "adopted_on": "2026-03-15"})
    assert saved.status_code == 303
    page = new_client().get("/info/routine").text
    assert "Version 1, antagen 15 mars 2026 (beslut KS 2026/12 § 4)." in page
    with Session(engine) as s:
        row = s.exec(select(OrganisationText)).scalars().one()
        assert row.adopted_on == dt.date(2026, 3, 15)
        assert row.decision_ref == "KS 2026/12 § 4"
    # The editor offers the recorded decision again for the next version.
    editor = admin.get("/admin/texts/routine").text
    assert 'value="2026-03-15"' in editor
    assert 'value="KS 2026/12 § 4"' in editor


@pytest.mark.parametrize(
    ("adopted_on", "message"),
    [
        ("15/3 2026", "Skriv datumet då rutinen antogs som ÅÅÅÅ-MM-DD"),
        ("2999-01-01", "kan inte ligga i framtiden"),
    ],
)
def test_a_bad_adoption_date_saves_nothing_and_keeps_the_text(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    adopted_on: str,
    message: str,
) -> None:
    admin = _admin(new_client)
    fields = {"body_sv": "Min långa rutin", "body_en": "My routine", "adopted_on": adopted_on}
    response = post(admin, "/admin/texts/routine", fields)
    assert response.status_code == 400
    assert message in response.text
    assert "Min långa rutin" in response.text
    assert f'value="{adopted_on}"' in response.text
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(OrganisationText)).scalar() == 0


def test_the_privacy_notice_names_controller_dpo_and_the_organisations_text(
    world: World, new_client: Callable[[], TestClient], settings: Settings
) -> None:
    public = new_client()
    page = public.get("/info/privacy").text
    assert "är personuppgiftsansvarig" in page
    assert "Fråga organisationen hur du når" in page
    assert "Integritetsskyddsmyndigheten" in page
    assert "artikel 13 och 14" in page
    assert f"senast {settings.retention_days} dagar" in page
    admin = _admin(new_client)
    post(admin, "/admin/texts/privacy", {"body_sv": "Dataskydd: dpo@kommun.se", "body_en": "DPO"})
    assert "Dataskydd: dpo@kommun.se" in public.get("/info/privacy").text
    # Every public page links it.
    assert 'href="/info/privacy"' in public.get("/").text


def test_the_accessibility_statement_gives_status_gaps_assessment_and_a_contact(
    settings: Settings, engine: Engine, keys: Keys
) -> None:
    """DOS-lagen 13 §: reporting inaccessibility goes to a contact of its own, never into a
    whistleblowing case, and the statement says when and how it was assessed."""
    configured = settings.replace(
        accessibility_contact="tillganglighet@kommun.se",
        accessibility_assessed=dt.date(2026, 9, 1),
        dpo_contact="dso@kommun.se",
    )
    app = create_app(configured, engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver") as browser:
        page = browser.get("/info/accessibility").text
        assert "delvis förenlig" in page
        assert "Kända brister" in page
        assert "gjordes 1 sep. 2026" in page
        assert "axe-core" in page
        assert "kontakta oss på tillganglighet@kommun.se" in page
        assert "Det blir inget visselblåsarärende" in page
        assert 'href="/report"' not in page.split("<main")[1].split("</main>")[0]
        assert "Du når vårt dataskyddsombud på dso@kommun.se" in browser.get("/info/privacy").text


def test_without_settings_the_statements_say_what_is_missing(
    new_client: Callable[[], TestClient],
) -> None:
    page = new_client().get("/info/accessibility").text
    assert "har ännu inte angett när" in page
    assert "kontakta organisationen på vanligt sätt" in page
