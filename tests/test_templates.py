"""The templates keep to their shared parts: the CSRF field is written once, in the macro of
templates/partials/forms.html, and every form that posts calls it. Pages read the settings
through the template-safe :class:`Site` view, never the whole :class:`Settings`."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from whistle.app import create_app
from whistle.keys import Keys
from whistle.settings import SPECS, Settings
from whistle.web.context import Site

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
FORMS = TEMPLATES / "partials" / "forms.html"
CSRF_CALL = "{{ forms.csrf() }}"
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
POSTS = re.compile(r"""\bmethod\s*=\s*["']?post\b""", re.IGNORECASE)


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def _relative(path: Path) -> str:
    return str(path.relative_to(TEMPLATES))


def test_the_csrf_field_is_written_only_in_its_macro() -> None:
    by_hand = [
        _relative(path)
        for path in _templates()
        if path != FORMS and re.search(r"""name\s*=\s*["']?csrf_token""", path.read_text())
    ]
    assert by_hand == [], f"use {CSRF_CALL} instead of writing the field: {by_hand}"


def test_every_form_that_posts_calls_the_csrf_macro() -> None:
    forms = [
        (path, attributes, body)
        for path in _templates()
        for attributes, body in FORM.findall(path.read_text())
    ]
    posting = [(path, body) for path, attributes, body in forms if POSTS.search(attributes)]
    assert len(posting) > 50  # the scan finds the forms
    missing = sorted({_relative(path) for path, body in posting if CSRF_CALL not in body})
    assert missing == [], f"a form that posts lacks {CSRF_CALL}: {missing}"


def test_a_template_that_calls_the_csrf_macro_imports_it_with_context() -> None:
    """The macro reads the page's csrf_token: imported without context it could not."""
    wrong = [
        _relative(path)
        for path in _templates()
        if CSRF_CALL in (text := path.read_text())
        and '{% import "partials/forms.html" as forms with context %}' not in text
    ]
    assert wrong == []


# Settings no page may see: credentials, and URLs that can carry them.
SECRETS = {
    "smtp_password": "pw-never-on-a-page",
    "smtp_username": "user-never-on-a-page",
    "database_url": "postgresql+psycopg://whistle:db-pw-never-on-a-page@db/whistle",
    "webhook_url": "https://hooks.invalid/token-never-on-a-page",
}


def test_the_secret_settings_are_the_ones_flagged_in_their_specs() -> None:
    assert set(SECRETS) == {spec.attr for spec in SPECS if spec.secret}


SITE_FIELD = re.compile(r"\bsite\.([A-Za-z_]\w*)")


def test_the_site_view_holds_no_secret_setting() -> None:
    fields = {field.name for field in dataclasses.fields(Site)}
    assert fields.isdisjoint(SECRETS)
    assert not [name for name in fields if re.search("password|secret|token|url|key_dir", name)]
    site = Site.from_settings(Settings().replace(**SECRETS))
    assert not [value for value in SECRETS.values() if value in repr(site)]


def test_every_field_a_template_reads_is_in_the_site_view() -> None:
    """StrictUndefined fails only on the pages a test renders: a misspelt field fails here."""
    fields = {field.name for field in dataclasses.fields(Site)}
    read = {
        (_relative(path), name)
        for path in _templates()
        for name in SITE_FIELD.findall(path.read_text())
    }
    assert len({name for _, name in read}) >= 10  # the scan finds what the templates read
    assert sorted((path, name) for path, name in read if name not in fields) == []


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The variables every page rendered during the test was given."""
    seen: list[dict[str, Any]] = []
    original = jinja2.Template.render

    def recording(self: jinja2.Template, *args: Any, **kwargs: Any) -> str:
        seen.append(dict(*args, **kwargs))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", recording)
    return seen


def test_pages_get_the_site_view_and_not_the_settings(
    settings: Settings, engine: Engine, keys: Keys, contexts: list[dict[str, Any]]
) -> None:
    configured = settings.replace(
        **SECRETS, smtp_host="smtp.invalid", dpo_contact="dpo@example.org", retention_days=321
    )
    app = create_app(configured, engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver") as client:
        pages = {url: client.get(url) for url in ("/", "/report", "/info/privacy", "/staff/login")}
    assert {url: page.status_code for url, page in pages.items()} == dict.fromkeys(pages, 200)
    assert "dpo@example.org" in pages["/info/privacy"].text
    assert "321" in pages["/info/privacy"].text
    assert len(contexts) >= len(pages)
    assert [sorted(c) for c in contexts if "settings" in c] == []
    assert all(c["site"] == Site.from_settings(configured) for c in contexts)
    leaked = [
        (url, value)
        for url, page in pages.items()
        for value in SECRETS.values()
        if value in page.text
    ]
    assert leaked == []


# A name chosen by the page's language, written out instead of names.localized().
BY_LANGUAGE = re.compile(
    r"""\b\w+_(?:sv|en)\s+if\s+(?:text_)?locale\s*==|(?:text_)?locale\s*==\s*["'](?:sv|en)["']\s+else"""
)
NAMES = TEMPLATES / "partials" / "names.html"


def test_names_in_two_languages_are_chosen_by_the_localized_macro() -> None:
    written_out = [
        _relative(path)
        for path in _templates()
        if path != NAMES and BY_LANGUAGE.search(path.read_text())
    ]
    assert written_out == [], f"use names.localized(obj, field): {written_out}"
