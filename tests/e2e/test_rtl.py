"""Arabic, right to left, in Chromium with JavaScript off: every reporter page runs right to
left (dir="rtl", the layout mirrored), passes axe, fits a 360 px phone without sideways
scrolling, and the case code still reads left to right; the same pages in Finnish fit too.
The language switch works without JavaScript, and the staff side stays Swedish/English."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.a11y import axe_violations, describe
from tests.e2e.flows import file_report, login_reporter, marker, send_report, t
from tests.e2e.harness import OpenPage
from whistle import i18n

pytestmark = pytest.mark.e2e

NARROW = {"width": 360, "height": 740}
PAGES = (
    "/",
    "/report",
    "/followup",
    "/info/how",
    "/info/routine",
    "/info/external",
    "/info/privacy",
    "/info/accessibility",
    "/nope",
)
# The heading's text against its box: right to left, the text sits at the right edge.
GEOMETRY = """() => {
  const h1 = document.querySelector('main h1');
  const range = document.createRange();
  range.selectNodeContents(h1);
  const text = range.getBoundingClientRect(), box = h1.getBoundingClientRect();
  return {dir: getComputedStyle(document.documentElement).direction,
          scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
          startGap: box.right - text.right, endGap: text.left - box.left};
}"""
# Boxes marked by a thick border on the start side (logical CSS): on the right, right to left.
START_BORDERS = """() => [...document.querySelectorAll(
    '.warning, .notice, .warning-text, .has-error, .thread .item')]
  .filter(el => el.getClientRects().length > 0)
  .map(el => { const style = getComputedStyle(el);
    return {what: el.outerHTML.slice(0, 60), left: parseFloat(style.borderLeftWidth),
            right: parseFloat(style.borderRightWidth)}; })"""
# The case code's first and last group on screen: left to right means the first is left.
CODE_ORDER = """() => {
  const code = document.querySelector('.receipt .code strong');
  const text = code.firstChild;
  const box = (start, end) => { const r = document.createRange();
    r.setStart(text, start); r.setEnd(text, end); return r.getBoundingClientRect(); };
  const n = text.length;
  return {direction: getComputedStyle(code).direction, first: box(0, 4).left,
          last: box(n - 4, n).left};
}"""


def check_page(page: Page, checker: Page, lang: str, where: str, problems: list[str]) -> None:
    """Language and direction, no sideways scrolling, mirrored (right to left only), axe."""
    rtl = i18n.direction(lang) == "rtl"
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    if rtl:
        expect(html).to_have_attribute("dir", "rtl")
    box = page.evaluate(GEOMETRY)
    if box["dir"] != i18n.direction(lang):
        problems.append(f"{where}: direction {box['dir']}")
    if box["scroll"] > box["inner"]:
        problems.append(f"{where}: scrolls sideways ({box['scroll']} > {box['inner']})")
    if rtl:
        # Mirrored: the heading's text starts at the right edge, the start borders are right.
        if box["startGap"] >= 1 or box["endGap"] < box["startGap"]:
            problems.append(f"{where}: heading not aligned to the right ({box})")
        wrong_side = [b for b in page.evaluate(START_BORDERS) if b["right"] <= b["left"]]
        if wrong_side:
            problems.append(f"{where}: start border on the left: {wrong_side}")
    violations = axe_violations(page, checker)
    if violations:
        problems.append(f"axe on {where}:\n{describe(violations)}")


@pytest.mark.parametrize("lang", ["ar", "fi"])
def test_reporter_pages_in_arabic_and_finnish_fit_360_px(open_page: OpenPage, lang: str) -> None:
    """Arabic runs right to left; Finnish, with its long compound words, must still fit."""
    page = open_page(lang=lang, js=False, phone=True)
    page.set_viewport_size(NARROW)
    browser = page.context.browser
    assert browser is not None
    axe_context = browser.new_context(viewport=NARROW)
    checker = axe_context.new_page()
    problems: list[str] = []
    try:
        for path in PAGES:
            page.goto(path)
            check_page(page, checker, lang, path, problems)
        page.goto("/report")
        send_report(page, lang)
        check_page(page, checker, lang, "form with errors", problems)
        assert page.evaluate(START_BORDERS), "no bordered box to check on the form with errors"
        code = file_report(page, lang, what=f"من الهاتف / puhelimesta. {marker()}")
        check_page(page, checker, lang, "receipt", problems)
        order = page.evaluate(CODE_ORDER)
        assert order["direction"] == "ltr", order
        assert order["first"] < order["last"], f"the case code reads right to left: {order}"
        login_reporter(page, lang, code)
        check_page(page, checker, lang, "case", problems)
    finally:
        axe_context.close()
    assert not problems, "\n".join(problems)


def test_language_switch_works_without_javascript(open_page: OpenPage) -> None:
    page = open_page(lang="sv", js=False)
    page.goto("/info/how")
    switch = page.locator("header ul.languages a")
    expect(switch).to_have_count(3)
    for code in ("en", "fi", "ar"):
        link = page.locator(f"header ul.languages a[hreflang={code}]")
        expect(link).to_have_attribute("lang", code)
        expect(link).to_have_text(i18n.NATIVE_NAMES[code])
    page.locator("header ul.languages a[hreflang=ar]").click()
    expect(page).to_have_url(re.compile(r"/info/how$"))
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("h1")).to_have_text(t("ar", "How reporting works"))
    page.locator("header ul.languages a[hreflang=fi]").click()
    expect(page.locator("html")).to_have_attribute("lang", "fi")
    expect(page.locator("html")).not_to_have_attribute("dir", "rtl")
    # The staff side speaks Swedish and English only, and offers only those.
    page.goto("/staff/login")
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.locator("header ul.languages a")).to_have_count(1)
    expect(page.locator("header ul.languages a")).to_have_attribute("hreflang", "en")
