"""Which side speaks which language, right to left, and the organisation's own texts.

The reporter side and the information pages speak sv, en, fi and ar; the staff side sv and en
(a staff page asked for in Finnish or Arabic comes in Swedish). Arabic pages run right to
left, with case codes and numbers left to right in Latin digits. The texts the organisation
edits exist in Swedish and English only: on a Finnish or Arabic page they are the Swedish
text, marked lang="sv" (and dir="ltr"), with a note that says so."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable

import lxml.html
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.helpers import CODE_RE, World, csrf, login_staff, post
from whistle import i18n
from whistle.web import pages, reporter, reporter_case, staff
from whistle.web.context import REPORTER_MODULES

ARABIC_DIGITS = re.compile("[\u0660-\u0669\u06f0-\u06f9]")  # ٠-٩ and ۰-۹


NOTE = "The organisation publishes this text in Swedish and English. Here it is in Swedish."


def _translated(locale: str, message: str) -> str:
    token = i18n.set_locale(locale)
    try:
        return i18n.gettext(message)
    finally:
        i18n.reset_locale(token)


def _switch(page: str) -> list[tuple[str, str, str, str]]:
    """The language switch: (href, lang, hreflang, text) of each link."""
    tree = lxml.html.fromstring(page)
    return [
        (a.get("href"), a.get("lang"), a.get("hreflang"), a.text_content().strip())
        for a in tree.xpath("//ul[@class='languages']//a")
    ]


def _html(page: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(page)


@pytest.mark.parametrize("locale", i18n.REPORTER_LOCALES)
def test_reporter_page_offers_every_other_language_in_itself(
    world: World, new_client: Callable[[], TestClient], locale: str
) -> None:
    browser = new_client()
    chosen = browser.get(f"/lang/{locale}?next=/report")
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/report"
    page = browser.get("/report").text
    root = _html(page)
    assert root.get("lang") == locale
    assert root.get("dir") == ("rtl" if locale == "ar" else None)
    others = [code for code in i18n.REPORTER_LOCALES if code != locale]
    assert _switch(page) == [
        (f"/lang/{code}?next=/report", code, code, i18n.NATIVE_NAMES[code]) for code in others
    ]
    assert "<script" not in page  # the switch is plain links


@pytest.mark.parametrize("locale", ["fi", "ar"])
def test_staff_pages_stay_swedish_and_offer_only_english(
    world: World, new_client: Callable[[], TestClient], locale: str
) -> None:
    carl = new_client()
    carl.get(f"/lang/{locale}")
    login_page = carl.get("/staff/login").text
    assert '<html lang="sv">' in login_page
    assert "Logga in" in login_page
    assert [code for _href, code, _hl, _text in _switch(login_page)] == ["en"]
    login_staff(carl, "carl")
    inbox = carl.get("/inbox").text
    assert '<html lang="sv">' in inbox
    assert 'dir="rtl"' not in inbox
    assert [code for _href, code, _hl, _text in _switch(inbox)] == ["en"]
    # The same browser's reporter pages keep the chosen language.
    assert f'<html lang="{locale}"' in carl.get("/").text


def test_the_switch_accepts_only_known_languages_and_local_targets(client: TestClient) -> None:
    unknown = client.get("/lang/de?next=/report")
    assert unknown.status_code == 303
    assert "whistle_lang" not in unknown.headers.get("set-cookie", "")
    assert client.get("/lang/ar?next=https://evil.example/").headers["location"] == "/"
    assert client.get("/lang/ar?next=//evil.example/").headers["location"] == "/"
    assert 'lang="ar" dir="rtl"' in client.get("/").text


def test_the_sides_are_told_apart_by_their_routes() -> None:
    for route in [*reporter.routes, *reporter_case.routes, *pages.routes]:
        assert isinstance(route, Route)
        assert route.endpoint.__module__ in REPORTER_MODULES
    for route in staff.routes:
        assert isinstance(route, Route)
        assert route.endpoint.__module__ not in REPORTER_MODULES


def test_directions_and_latin_digits() -> None:
    assert [i18n.direction(code) for code in i18n.LOCALES] == ["ltr", "ltr", "ltr", "rtl"]
    token = i18n.set_locale("ar")
    try:
        size, date = i18n.filesize(1_400), i18n.date(dt.date(2026, 3, 4))
        assert size == "1.4\N{NO-BREAK SPACE}kB"
        assert "2026" in date
        assert not ARABIC_DIGITS.search(date)
        assert i18n.ngettext("%(num)s byte", "%(num)s bytes", 516).startswith("516")
    finally:
        i18n.reset_locale(token)
    token = i18n.set_locale("fi")
    try:
        assert i18n.filesize(1_400) == "1,4\N{NO-BREAK SPACE}kB"
        assert i18n.date(dt.date(2026, 3, 4)) == "4.3.2026"
    finally:
        i18n.reset_locale(token)


def test_arabic_receipt_keeps_the_case_code_left_to_right(world: World, client: TestClient) -> None:
    client.get("/lang/ar")
    receipt = client.post(
        "/report",
        data={
            "csrf_token": csrf(client),
            "category": str(world.other),
            "what": "Something happened",
            "mode": "anonymous",
        },
    )
    assert receipt.status_code == 200
    assert CODE_RE.search(receipt.text)
    (code,) = _html(receipt.text).xpath("//p[@class='code']//bdi")
    assert code.get("dir") == "ltr"
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code.text_content())
    assert not ARABIC_DIGITS.search(receipt.text.split("<main", 1)[1])
    login = _html(client.get("/followup").text).xpath("//input[@name='code']")[0]
    assert login.get("dir") == "ltr"


@pytest.mark.parametrize("locale", ["fi", "ar"])
def test_organisation_texts_show_in_swedish_marked_as_swedish(
    world: World, new_client: Callable[[], TestClient], locale: str
) -> None:
    admin = new_client()
    login_staff(admin, "admin")
    fields = {"body_sv": "Vår rutin på svenska", "body_en": "Our routine in English"}
    saved = post(admin, "/admin/texts/routine", {**fields, "decision_ref": "KS 2026/12 § 4"})
    assert saved.status_code == 303
    reader = new_client()
    reader.get(f"/lang/{locale}")
    page = reader.get("/info/routine").text
    assert "Our routine in English" not in page
    (text,) = _html(page).xpath("//div[@class='organisation-text']")
    assert text.get("lang") == "sv"
    assert text.text_content().strip() == "Vår rutin på svenska"
    assert text.get("dir") == ("ltr" if locale == "ar" else None)
    note = _translated(locale, NOTE)
    assert html.escape(note) in page
    # Units and categories on the form: the Swedish names, marked.
    form = _html(reader.get("/report").text)
    labels = {label.text_content(): label.get("lang") for label in form.xpath("//label")}
    assert labels["Mutor"] == "sv"
    assert "Bribery" not in labels
    # In Swedish and English: the text in that language, no note, no marking.
    reader.get("/lang/en")
    english = reader.get("/info/routine").text
    (text,) = _html(english).xpath("//div[@class='organisation-text']")
    assert text.get("lang") is None
    assert "Our routine in English" in english
    assert html.escape(note) not in english


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_authorities_swedish_names_are_marked_swedish(client: TestClient, locale: str) -> None:
    client.get(f"/lang/{locale}")
    cells = _html(client.get("/info/external").text).xpath("//tbody//th|//tbody//td")
    assert cells
    assert all(cell.get("lang") == "sv" for cell in cells)
    assert all(cell.get("dir") == ("ltr" if locale == "ar" else None) for cell in cells)
