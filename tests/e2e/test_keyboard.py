"""Keyboard only: filing a report with Tab, Space, Enter and typing; visible focus; errors tied
to their fields.

These contexts have JavaScript enabled only so that the test can ask the browser which element
has focus; the pages themselves run no script.
"""

from __future__ import annotations

import io
import re

import pypdf
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.flows import file_report, marker, open_case_with, read_code, send_report, t
from tests.e2e.harness import OpenPage

pytestmark = pytest.mark.e2e

MAX_TABS = 60
FOCUS_STYLE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {outline: style.outlineStyle, width: style.outlineWidth, tag: el.tagName,
          id: el.id, text: (el.textContent || '').trim()};
}"""


def focused(page: Page) -> dict[str, str]:
    info: dict[str, str] = page.evaluate(FOCUS_STYLE)
    return info


def tab_to(page: Page, *, element_id: str = "", text: str = "") -> None:
    """Press Tab until the element (by id or by its text) has focus; every element on the way
    must show a visible focus indicator."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        info = focused(page)
        assert info["outline"] != "none", f"no visible focus: {info}"
        assert info["width"] != "0px", f"no visible focus: {info}"
        if (element_id and info["id"] == element_id) or (text and info["text"] == text):
            return
    raise AssertionError(f"Tab never reached {element_id or text!r}")


def test_report_with_keyboard_only(open_page: OpenPage, lang: str) -> None:
    page = open_page(lang=lang)
    page.goto("/report")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    assert focused(page)["outline"] != "none"
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    tab_to(page, element_id="field-category")
    page.keyboard.press("Space")
    expect(page.locator("#field-category")).to_be_checked()
    tab_to(page, element_id="field-what")
    page.keyboard.type("Written with the keyboard alone.")
    tab_to(page, element_id="field-mode")
    page.keyboard.press("Space")
    expect(page.locator("#field-mode")).to_be_checked()
    tab_to(page, element_id="field-meeting")
    page.keyboard.press("Space")
    expect(page.locator("#field-meeting")).to_be_checked()
    tab_to(page, text=t(lang, "Send report"))
    page.keyboard.press("Enter")
    read_code(page, lang)


def test_focus_is_visible_on_every_stop(open_page: OpenPage, lang: str) -> None:
    """Tab through whole pages, header and footer included."""
    page = open_page(lang=lang)
    for path in ("/", "/followup", "/staff/login"):
        page.goto(path)
        stops = 0
        for _ in range(MAX_TABS):
            page.keyboard.press("Tab")
            info = focused(page)
            if info["tag"] == "BODY":
                break  # past the last element
            assert info["outline"] != "none", f"{path}: {info}"
            assert info["width"] != "0px", f"{path}: {info}"
            stops += 1
        assert stops > 3, path


def test_errors_are_tied_to_their_fields(open_page: OpenPage, lang: str) -> None:
    page = open_page(lang=lang)
    page.goto("/report")
    page.get_by_label(t(lang, "Your name")).fill("")
    send_report(page, lang)
    summary = page.locator(".error-summary")
    expect(summary).to_have_attribute("role", "alert")
    errors = page.locator(".field-error")
    assert errors.count() >= 3  # category, what happened, anonymity
    for i in range(errors.count()):
        error_id = errors.nth(i).get_attribute("id")
        assert error_id, "a field error without an id cannot be referenced"
        described = page.locator(f"[aria-describedby~='{error_id}']")
        expect(described).to_have_count(1)
        expect(described).to_have_attribute("aria-invalid", "true")
        # The summary links to the same field.
        name = error_id.removeprefix("error-")
        link = summary.locator(f"a[href='#field-{name}']")
        expect(link).to_have_count(1)
        expect(page.locator(f"#field-{name}")).to_have_count(1)


def test_case_page_with_keyboard_only(open_page: OpenPage, lang: str) -> None:
    """An investigator moves between the sub-pages of a case and adds a task by Tab, Enter
    and typing, with a visible focus on the way (issue 15)."""
    file_report(open_page(lang=lang), lang, what=f"By keyboard. {marker()}")
    page = open_page(lang=lang, user="bertil")
    page.goto("/inbox")
    page.locator("table.inbox a[href^='/cases/']").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text(t(lang, "Case %(ref)s", ref="").strip())
    tab_to(page, text=t(lang, "Actions & tasks"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"tab=tasks"))
    tab_to(page, text=t(lang, "Add a task"))  # the summary of a closed <details>
    page.keyboard.press("Enter")
    tab_to(page, element_id="field-task")
    task = f"Task typed by keyboard {marker()}"
    page.keyboard.type(task)
    tab_to(page, text=t(lang, "Add task"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(t(lang, "Saved."))
    expect(page.locator("ul.tasks .text", has_text=task)).to_have_count(1)


def test_working_copy_with_keyboard_only(open_page: OpenPage, lang: str) -> None:
    """From the case page to the working copy's PDF by Tab, Space and Enter; the PDF holds the
    report (issue 15)."""
    found = marker()
    file_report(open_page(lang=lang), lang, what=f"For the working copy. {found}")
    page = open_page(lang=lang, user="anna")
    open_case_with(page, lang, found)
    tab_to(page, text=t(lang, "Working copy (PDF)"))
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text(
        t(lang, "Working copy of case %(ref)s", ref="").strip()
    )
    tab_to(page, element_id="field-confirm")
    page.keyboard.press("Space")
    tab_to(page, text=t(lang, "Download the working copy (PDF)"))
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    with open(download.value.path(), "rb") as fh:
        reader = pypdf.PdfReader(io.BytesIO(fh.read()))
    assert found in "\n".join(p.extract_text() for p in reader.pages)
