"""Translations: every message id in the code and templates is translated in every locale, the
compiled catalogues match the .po files, and every public page renders in each language (the
staff side in Swedish or English)."""

from __future__ import annotations

import datetime as dt
import gettext
import html
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from sqlalchemy import text
from starlette.testclient import TestClient

from tests.helpers import CSRF_COOKIE, World, login_reporter, submit_report
from whistle import i18n

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "whistle" / "translations"
MessageId = str | tuple[str, ...]


def placeholder(locale: str) -> bool:
    """The rtl branch's stand-in catalogue (msgstr = msgid) until the translators' one is merged:
    the tests that need a real translation are expected to fail on it, and only on it."""
    po = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    return "PLACEHOLDER" in po.read_text(encoding="utf-8").split("msgid", 1)[0]


def _languages(locales: tuple[str, ...] | list[str]) -> list[object]:
    reason = "placeholder catalogue: msgstr copied from the English msgid"
    return [
        pytest.param(code, marks=pytest.mark.xfail(placeholder(code), reason=reason, strict=True))
        for code in locales
    ]


@cache
def extracted_ids() -> frozenset[MessageId]:
    """What `make messages` extracts: babel.cfg's method map, plus the N_ marker."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    ids: set[MessageId] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        ids.add(tuple(message) if isinstance(message, list | tuple) else message)
    return frozenset(ids)


def _catalogue(locale: str) -> Catalog:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def test_extraction_finds_the_code_and_the_templates() -> None:
    ids = extracted_ids()
    assert "Skip to content" in ids  # templates/base.html
    assert "This field is required." in ids  # whistle/reports.py, marked with N_
    assert any(isinstance(i, tuple) for i in ids), "no plural message found"


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_message_id_is_translated(locale: str) -> None:
    catalogue = _catalogue(locale)
    problems = []
    for msgid in sorted(extracted_ids(), key=str):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalogue.get(key)
        if message is None:
            problems.append(f"missing: {msgid!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if isinstance(msgid, tuple):
            strings = message.string if isinstance(message.string, tuple | list) else ()
            if message.id != msgid or len(strings) != catalogue.num_plurals:
                problems.append(f"plural forms: {msgid!r}")
            if not all(strings):
                problems.append(f"empty plural: {msgid!r}")
        elif not message.string:
            problems.append(f"empty: {msgid!r}")
    assert problems == [], f"{locale}: run `make messages` and translate:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_compiled_catalogue_matches_the_po_file(locale: str) -> None:
    """The .mo the app loads says what the .po says (`make translations` was run)."""
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        compiled = Translations(fh)
    catalogue = _catalogue(locale)
    # Which form each count takes (Arabic has six: 0, 1, 2, 3-10, 11-99, 100-102 ...).
    form_of = gettext.c2py(catalogue.plural_expr)
    stale = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        if isinstance(message.id, tuple | list):
            singular, plural = message.id[0], message.id[1]
            forms = list(message.string)
            counts = (0, 1, 2, 3, 11, 100)
            got = [compiled.ngettext(singular, plural, n) for n in counts]
            if got != [forms[form_of(n)] for n in counts]:
                stale.append(singular)
        elif compiled.gettext(message.id) != message.string:
            stale.append(message.id)
    assert stale == [], f"{locale}: run `make translations`: {stale[:5]}"


def test_english_catalogue_is_identity() -> None:
    english = {m.id: m.string for m in _catalogue("en") if m.id}
    assert all(string == msgid for msgid, string in english.items()), "en msgstr must = msgid"


@pytest.mark.parametrize("locale", _languages([code for code in i18n.LOCALES if code != "en"]))
def test_catalogue_is_translated_not_copied_from_english(locale: str) -> None:
    """A msgstr copied from the English msgid counts as translated for pybabel, not for a
    reader: nine in ten must differ (the rest are codes and names: "GDPR", "%(size)s")."""
    strings = {m.id: m.string for m in _catalogue(locale) if m.id and isinstance(m.id, str)}
    translated = sum(1 for msgid, string in strings.items() if string != msgid)
    assert translated > 0.9 * len(strings), f"{locale}: {translated} of {len(strings)} translated"


# ---------------------------------------------------------------------------------------------
# pages in every language

PUBLIC_PAGES = [
    "/",
    "/report",
    "/followup",
    "/info/how",
    "/info/routine",
    "/info/external",
    "/info/privacy",
    "/info/accessibility",
    "/info/signing-key",
]
# The staff side speaks Swedish and English only: in another language it comes in Swedish.
STAFF_PAGES = ["/staff/login"]


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", text))


@cache
def _foreign_phrases(locale: str) -> tuple[str, ...]:
    """Long sentences of the other languages that differ from this language's: none may show on
    a page in this language (an untranslated or stale string)."""
    own = {m.id: m.string for m in _catalogue(locale) if isinstance(m.id, str) and m.id}
    phrases: set[str] = set()
    for other in i18n.LOCALES:
        if other == locale:
            continue
        for message in _catalogue(other):
            if not isinstance(message.id, str) or not message.id or not message.string:
                continue
            if "%" in message.id or len(message.string) < 25:
                continue
            if message.string != own.get(message.id):
                phrases.add(message.string)
    return tuple(sorted(phrases))


def _html_tag(locale: str) -> str:
    return f'<html lang="{locale}"' + (' dir="rtl">' if locale == "ar" else ">")


def _check_language(text: str, locale: str, url: str) -> None:
    assert _html_tag(locale) in text, url
    page = _plain(text)
    leaked = [phrase for phrase in _foreign_phrases(locale) if phrase in page]
    assert leaked == [], (locale, url, leaked[:3])


@pytest.fixture
def rendered(app: Any, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The names of the templates rendered during the test."""
    names: set[str] = set()
    env: jinja2.Environment = app.state.ctx.templates
    original: Callable[..., jinja2.Template] = env.get_template

    def recording(name: str | jinja2.Template, *args: Any, **kwargs: Any) -> jinja2.Template:
        template = original(name, *args, **kwargs)
        names.add(template.name or "")
        return template

    monkeypatch.setattr(env, "get_template", recording)
    return names


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_public_pages_render_in_each_language(
    world: World, new_client: Callable[[], TestClient], rendered: set[str], locale: str
) -> None:
    client = new_client()
    client.cookies.set("whistle_lang", locale)
    for url in PUBLIC_PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        _check_language(response.text, locale, url)
    staff_locale = locale if locale in i18n.STAFF_LOCALES else "sv"
    for url in STAFF_PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        _check_language(response.text, staff_locale, url)
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    _check_language(missing.text, locale, "404")
    invalid = client.get("/activate/not-a-valid-token")
    assert invalid.status_code == 404
    _check_language(invalid.text, staff_locale, "activate")
    # The receipt (with the case code) and the reporter's case page.
    receipt = client.post(
        "/report",
        data={
            "csrf_token": client.cookies[CSRF_COOKIE],
            "category": str(world.other),
            "what": "Something happened",
            "mode": "anonymous",
        },
    )
    assert receipt.status_code == 200
    _check_language(receipt.text, locale, "receipt")
    code = submit_report(client, world.other)
    login_reporter(client, code)
    case = client.get("/case")
    assert case.status_code == 200
    _check_language(case.text, locale, "/case")
    # As after an oral report: the reporter takes a code of their own.
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE cases SET code_handed_over = :yes"), {"yes": True})
    asked = client.get("/case/new-code")
    assert asked.status_code == 200
    _check_language(asked.text, locale, "/case/new-code")
    taken = client.post("/case/new-code", data={"csrf_token": client.cookies[CSRF_COOKIE]})
    assert taken.status_code == 200
    _check_language(taken.text, locale, "new code")
    # Every template of the reporter side and of the information pages was rendered here.
    public = {
        f"{folder}/{path.name}"
        for folder in ("reporter", "pages")
        for path in (ROOT / "templates" / folder).glob("*.html")
    }
    assert public - rendered == set()


def test_language_cookie_with_an_unknown_value_falls_back_to_swedish(
    world: World, client: TestClient
) -> None:
    client.cookies.set("whistle_lang", "de")
    assert '<html lang="sv">' in client.get("/").text


def test_every_locale_has_a_catalogue_that_make_updates() -> None:
    """`make messages` and `make translations` cover the same locales as the code."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(r"^LOCALES := (.+)$", makefile, re.MULTILINE)
    assert found
    assert tuple(found.group(1).split()) == i18n.LOCALES
    assert set(i18n.STAFF_LOCALES) <= set(i18n.LOCALES)
    assert i18n.DEFAULT_LOCALE in i18n.STAFF_LOCALES
    for locale in i18n.LOCALES:
        assert (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").exists(), locale


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_cached_datetime_filter_prints_what_babel_prints(locale: str) -> None:
    """The page's datetime filter keeps formatted minutes (whistle/web/context.py); it must
    print exactly what Babel prints, across a daylight-saving change and for naive UTC."""
    from babel.dates import format_datetime

    from whistle.web.context import STOCKHOLM, _local_datetime

    token = i18n.set_locale(locale)
    try:
        for moment in (
            dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=dt.UTC),  # 01:59 CET
            dt.datetime(2026, 3, 29, 1, 0, 1, tzinfo=dt.UTC),  # 03:00 CEST
            dt.datetime(2026, 10, 25, 0, 30, 30, 999, tzinfo=dt.UTC),
            dt.datetime(2026, 12, 31, 23, 59, 59),  # naive: stored UTC
        ):
            aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
            expected = format_datetime(aware.astimezone(STOCKHOLM), format="short", locale=locale)
            assert _local_datetime(moment) == expected
            assert _local_datetime(moment) == expected  # and again, from the cache
    finally:
        i18n.reset_locale(token)


def test_an_organisation_name_shows_in_english_only_on_an_english_page() -> None:
    """One rule for the names the organisation keeps in sv/en, as in the templates' macro:
    Swedish on Swedish, Finnish and Arabic pages (marked lang="sv" there), English on English."""

    class Unit:
        name_sv, name_en = "Ekonomi", "Finance"

    assert [i18n.localized(Unit(), locale=code) for code in ("sv", "en", "fi", "ar")] == [
        "Ekonomi",
        "Finance",
        "Ekonomi",
        "Ekonomi",
    ]
    with i18n.using("en"):
        assert i18n.pick("Ekonomi", "Finance") == "Finance"
