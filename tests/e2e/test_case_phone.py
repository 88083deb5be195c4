"""The reporter's case page on a 360 px phone: what is new and the reply box come first, the
older thread is folded, so the reply is within two screens even for a case with 10 messages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import assert_accessible
from tests.e2e.flows import file_report, login_reporter, marker, open_case_with, t
from tests.e2e.harness import OpenPage

pytestmark = pytest.mark.e2e

SCREEN = {"width": 360, "height": 640}


def test_reply_within_two_screens_for_ten_messages(open_page: OpenPage, lang: str) -> None:
    reporter = open_page(lang=lang, js=False, phone=True)
    reporter.set_viewport_size(SCREEN)
    secret = marker()
    long_text = " ".join(["The invoices were split into smaller amounts."] * 12)
    code = file_report(reporter, lang, what=f"{long_text} {secret}")
    login_reporter(reporter, lang, code)
    for n in range(8):
        reporter.get_by_label(t(lang, "Write to the investigators")).fill(f"{long_text} ({n})")
        reporter.get_by_role("button", name=t(lang, "Send"), exact=True).click()
        expect(reporter.get_by_role("status")).to_have_text(t(lang, "Your message has been sent."))

    investigator = open_page(lang=lang, user="bertil")
    open_case_with(investigator, lang, secret)
    question = f"Which supplier was it? {marker()}"
    investigator.get_by_label(t(lang, "Message or question")).fill(question)
    investigator.get_by_role("button", name=t(lang, "Send to the reporter")).click()
    expect(investigator.get_by_role("status")).to_have_text(t(lang, "Saved."))

    reporter.goto("/case")
    expect(reporter.get_by_text(question)).to_be_visible()  # what is new, unfolded
    earlier = reporter.locator("details#messages")
    expect(earlier).not_to_have_attribute("open", "")
    expect(earlier.locator("summary")).to_contain_text("9")
    assert reporter.locator("details#messages .thread .item").count() == 9
    box = reporter.get_by_label(t(lang, "Write to the investigators"))
    top = box.evaluate("el => el.getBoundingClientRect().top + window.scrollY")
    assert top + 60 < 2 * SCREEN["height"], f"reply box at {top} px"
    scroll, inner = reporter.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll <= inner
    assert_accessible(reporter, f"case with 10 messages on a phone ({lang})")

    # Unfolding shows the older thread, the report first.
    earlier.locator("summary").click()
    expect(reporter.get_by_text(secret)).to_be_visible()
