"""The reporter's path with JavaScript disabled, in Swedish and English: form, validation error,
case code, follow-up with the code typed with spaces, reading an investigator's answer, replying."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import assert_accessible
from tests.e2e.flows import (
    fill_report,
    login_reporter,
    marker,
    open_case_with,
    read_code,
    send_report,
    t,
)
from tests.e2e.harness import DemoServer, OpenPage

pytestmark = pytest.mark.e2e


def test_validation_error_keeps_text_and_links_to_fields(open_page: OpenPage, lang: str) -> None:
    page = open_page(lang=lang, js=False)
    page.goto("/")
    page.get_by_role("link", name=t(lang, "Make a report")).first.click()
    expect(page.locator("h1")).to_have_text(t(lang, "Make a report"))
    typed = "The supplier paid for the\nhead of procurement's holiday. " + marker()
    # No category and no choice of anonymity: two errors, and what was typed must survive.
    page.get_by_label(t(lang, "Describe what happened")).fill(typed)
    send_report(page, lang)

    expect(page).to_have_title(f"{t(lang, 'Error')}: {t(lang, 'Make a report')} – Demokommunen")
    expect(page.get_by_label(t(lang, "Describe what happened"))).to_have_value(typed)
    summary = page.locator(".error-summary")
    expect(summary).to_have_attribute("role", "alert")
    links = summary.locator("a")
    targets = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert targets == {"#field-category", "#field-mode"}
    # Both errors say "choose one of the options": each link also names its field.
    expect(summary).to_contain_text(t(lang, "Kind of wrongdoing"))
    expect(summary).to_contain_text(t(lang, "How do you want to report?"))
    for target in targets:
        assert target is not None
        expect(page.locator(target)).to_have_count(1)
    assert_accessible(page, f"/report with errors ({lang})")

    # Following a summary link lands on the field (no script needed: it is a fragment link).
    links.first.click()
    assert page.url.endswith(links.first.get_attribute("href") or "")

    fill_report(page, lang, what=typed)
    send_report(page, lang)
    read_code(page, lang)


def test_report_follow_up_and_reply_without_javascript(
    open_page: OpenPage, lang: str, demo: DemoServer
) -> None:
    reporter = open_page(lang=lang, js=False)
    reporter.goto("/")
    expect(reporter.locator("h1")).to_have_text(t(lang, "Report wrongdoing safely"))
    reporter.get_by_role("link", name=t(lang, "Make a report")).first.click()
    secret = marker()
    fill_report(reporter, lang, what=f"Invoices were split to avoid procurement. {secret}")
    send_report(reporter, lang)
    code = read_code(reporter, lang)
    assert_accessible(reporter, f"receipt ({lang})")

    # Nothing the reporter wrote is readable in the server's files or its log.
    for path in [demo.log, *demo.data_dir.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"plaintext in {path}"

    # An investigator answers through the browser.
    investigator = open_page(lang=lang, user="bertil")
    open_case_with(investigator, lang, secret)
    question = f"Which supplier was it? {marker()}"
    investigator.get_by_label(t(lang, "Message or question")).fill(question)
    investigator.get_by_role("button", name=t(lang, "Send to the reporter")).click()
    expect(investigator.get_by_role("status")).to_have_text(t(lang, "Saved."))

    # The reporter comes back in a new browser with the code typed with spaces.
    returning = open_page(lang=lang, js=False)
    returning.goto("/")
    returning.get_by_role("link", name=t(lang, "I have a case code")).click()
    assert " " in code
    login_reporter(returning, lang, code)
    expect(returning.get_by_text(question)).to_be_visible()
    expect(returning.get_by_text(secret)).to_be_visible()
    assert_accessible(returning, f"/case ({lang})")

    answer = f"It was Acme Travel AB. {marker()}"
    returning.get_by_label(t(lang, "Write to the investigators")).fill(answer)
    returning.get_by_role("button", name=t(lang, "Send"), exact=True).click()
    expect(returning.get_by_role("status")).to_have_text(t(lang, "Your message has been sent."))
    expect(returning.get_by_text(answer)).to_have_count(1)

    investigator.reload()
    expect(investigator.get_by_text(answer)).to_be_visible()

    returning.get_by_role("button", name=t(lang, "Leave case")).click()
    expect(returning.get_by_role("status")).to_have_text(
        t(lang, "You have left your case. Close this browser window if others use this device.")
    )
    returning.goto("/case")
    expect(returning.get_by_label(t(lang, "Case code"))).to_be_visible()
