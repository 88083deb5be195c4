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

from tests.conftest import World, login_staff, post
from whistle import db, texts
from whistle.models import AuditEntry, OrganisationText

INJECTION = '<script>alert(1)</script> "><img src=x onerror=alert(2)> {{ 7*7 }} <b>bold</b>'


def test_each_save_is_a_new_version(engine: Engine, world: World) -> None:
    first_at = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    with db.session_scope(engine) as s:
        one = texts.save(
            s, actor_id=world.admin, name="routine", body_sv="Ett", body_en="One", now=first_at
        )
        two = texts.save(s, actor_id=world.admin, name="routine", body_sv="Två", body_en="Two")
    assert (one.version, two.version) == (1, 2)
    assert one.author == "Admin" and one.created_at == first_at
    with Session(engine) as s:
        current = texts.current(s, name="routine")
        assert current is not None and current.body("sv") == "Två" and current.body("en") == "Two"
        assert [v.version for v in texts.history(s, name="routine")] == [2, 1]
        old = texts.get(s, name="routine", version=1)
        assert old is not None and old.body_sv == "Ett"  # never overwritten
        assert texts.current(s, name="introduction") is None
        logged = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "text_saved"))
        assert sorted(logged.scalars()) == ["routine 1", "routine 2"]


def test_both_languages_are_required_and_names_are_fixed(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        with pytest.raises(texts.TextError, match="text-required"):
            texts.save(s, actor_id=world.admin, name="routine", body_sv="Bara svenska", body_en=" ")
        with pytest.raises(texts.TextError, match="not-found"):
            texts.save(s, actor_id=world.admin, name="other", body_sv="x", body_en="x")
        with pytest.raises(texts.TextError, match="too-long"):
            long = "x" * (texts.MAX_CHARS + 1)
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
    assert empty.status_code == 200 and "har ännu inte publicerat" in empty.text
    saved = post(
        admin,
        "/admin/texts/routine",
        {"body_sv": "Rutin ett\n\nAndra stycket", "body_en": "Routine one"},
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/texts/routine?done=1"
    post(admin, "/admin/texts/routine", {"body_sv": "Rutin två", "body_en": "Routine two"})
    page = public.get("/info/routine")
    assert page.status_code == 200
    assert "Rutin två" in page.text and "Rutin ett" not in page.text
    assert re.search(r"Version 2, fastställd \d", page.text)
    public.get("/lang/en?next=/info/routine")
    assert "Routine two" in public.get("/info/routine").text
    editor = admin.get("/admin/texts/routine?done=1")
    assert "Sparad som version 2." in editor.text
    assert editor.text.count('href="/admin/texts/routine/') == 2
    first = admin.get("/admin/texts/routine/1")
    assert first.status_code == 200
    assert "<p>Rutin ett</p><p>Andra stycket</p>" in first.text and "Rutin två" not in first.text
    assert admin.get("/admin/texts/routine/3").status_code == 404
    assert admin.get("/admin/texts/nonsense").status_code == 404
    listing = admin.get("/admin/texts")
    assert listing.status_code == 200 and "Skriftlig rutin för kanalen" in listing.text
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
        admin.get("/admin/texts/routine").text,  # inside the textarea
        admin.get("/admin/texts/routine/1").text,
    ]
    for text in pages:
        assert "<script>" not in text and "<img" not in text and "<b>bold" not in text
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
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/staff/login"
    admin = _admin(new_client)
    missing = post(admin, "/admin/texts/routine", {"body_sv": "Bara svenska", "body_en": ""})
    assert missing.status_code == 400 and "Bara svenska" in missing.text  # kept in the form
    with Session(engine) as s:
        count = s.execute(select(func.count()).select_from(OrganisationText)).scalar_one()
        assert count == 0
