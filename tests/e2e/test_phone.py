"""Phones (375×667): the reporter's pages do not scroll sideways, and what one taps is big
enough — at least 24×24 CSS px everywhere (WCAG 2.5.8), 44 px high for controls."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.a11y import assert_accessible
from tests.e2e.flows import file_report, login_reporter, marker, send_report
from tests.e2e.harness import OpenPage

pytestmark = pytest.mark.e2e

# Everything one taps on a reporter page, except links inside running text (exempt in 2.5.8).
TARGETS = (
    "header a, header button, footer a, .actions a, .skip:focus, main button, "
    "main input:not([type=hidden]), main select, main textarea, .option label"
)
# Controls whose height the stylesheet sets to at least 44 px (WCAG 2.5.5, the AAA size).
TALL = "header a, header button, footer a, .actions a, .button, main select, main textarea"
MEASURE = """(selector) => [...document.querySelectorAll(selector)]
  .filter(el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
  .map(el => { const r = el.getBoundingClientRect();
               return {what: el.outerHTML.slice(0, 90), width: r.width, height: r.height}; })"""


def measure(page: Page, selector: str) -> list[dict[str, object]]:
    boxes: list[dict[str, object]] = page.evaluate(MEASURE, selector)
    return boxes


def check_phone_page(page: Page, where: str) -> None:
    scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{where}: scrolls sideways ({scroll} > {inner})"
    boxes = measure(page, TARGETS)
    assert boxes, where
    small = [b for b in boxes if float(str(b["width"])) < 24 or float(str(b["height"])) < 24]
    assert not small, f"{where}: targets under 24×24: {small}"
    short = [b for b in measure(page, TALL) if float(str(b["height"])) < 44]
    assert not short, f"{where}: controls under 44 px high: {short}"


def test_reporter_pages_fit_a_phone(open_page: OpenPage, lang: str) -> None:
    page = open_page(lang=lang, phone=True)
    for path in ("/", "/report", "/followup", "/info/how", "/info/external", "/nope"):
        page.goto(path)
        check_phone_page(page, path)
    page.goto("/report")
    send_report(page, lang)
    check_phone_page(page, "form with errors")
    assert_accessible(page, f"form with errors on a phone ({lang})")

    code = file_report(page, lang, what=f"From a phone. {marker()}")
    check_phone_page(page, "receipt")
    login_reporter(page, lang, code)
    check_phone_page(page, "case")
    assert_accessible(page, f"case on a phone ({lang})")


def test_investigator_case_page_fits_a_phone(open_page: OpenPage, lang: str) -> None:
    """The case page and each of its sub-pages on a phone (issue 15): no sideways scrolling,
    targets big enough, and axe clean."""
    file_report(open_page(lang=lang), lang, what=f"For the phone. {marker()}")
    page = open_page(lang=lang, phone=True, user="bertil")
    page.goto("/inbox")
    check_phone_page(page, "inbox")
    page.locator("table.inbox a[href^='/cases/']").first.click()
    case_path = page.url.split("?")[0]
    for tab in ("reply", "feedback", "meetings", "tasks", "handover", "access", "history"):
        page.goto(f"{case_path}?tab={tab}")
        check_phone_page(page, f"case, {tab}")
    assert_accessible(page, f"case history on a phone ({lang})")
