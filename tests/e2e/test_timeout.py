"""The idle timeout loses nothing (WCAG 2.2.1), in Chromium with JavaScript off: a reply sent
after the session ended comes back in the code form and is sent once the code is entered."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import assert_accessible
from tests.e2e.flows import file_report, login_reporter, marker, t
from tests.e2e.harness import DemoServer, OpenPage
from whistle.web.reporter_case import REPORTER_COOKIE

pytestmark = pytest.mark.e2e
# The reporter side in each language, Finnish included (the shared ``lang`` fixture is sv/en).
LANGS = pytest.mark.parametrize("lang", ["sv", "en", "fi"])


@LANGS
def test_a_reply_typed_past_the_timeout_is_sent_after_the_code(
    open_page: OpenPage, lang: str, demo: DemoServer
) -> None:
    reporter = open_page(lang=lang, js=False)
    code = file_report(reporter, lang, what=f"Timeout check {marker()}")
    login_reporter(reporter, lang, code)
    answer = f"A long answer typed slowly.\nSecond line. {marker()}"
    reporter.get_by_label(t(lang, "Write to the investigators")).fill(answer)
    # The session ends while the reporter types: the server no longer knows this browser's
    # session (as after 15 idle minutes); the same path runs as for an expired row.
    reporter.context.clear_cookies(name=REPORTER_COOKIE)
    reporter.get_by_role("button", name=t(lang, "Send"), exact=True).click()

    expect(reporter.locator("h1")).to_have_text(t(lang, "Follow up a report"))
    kept = reporter.get_by_label(t(lang, "Your message, not sent yet"))
    expect(kept).to_have_value(answer)
    assert_accessible(reporter, f"code form with a pending reply ({lang})")
    # Kept in the page only: the server's files never see the typed text.
    secret = answer.split()[-1]
    for path in [demo.log, *demo.data_dir.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"plaintext in {path}"

    reporter.get_by_label(t(lang, "Case code")).fill(code)
    reporter.get_by_role("button", name=t(lang, "Open my case and send the message")).click()
    expect(reporter.get_by_role("status")).to_have_text(t(lang, "Your message has been sent."))
    expect(reporter.get_by_text(secret)).to_have_count(1)


@LANGS
def test_a_meeting_request_typed_past_the_timeout_is_sent_after_the_code(
    open_page: OpenPage, lang: str, demo: DemoServer
) -> None:
    reporter = open_page(lang=lang, js=False)
    code = file_report(reporter, lang, what=f"Meeting timeout check {marker()}")
    login_reporter(reporter, lang, code)
    reporter.get_by_text(t(lang, "Ask to meet an investigator in person")).click()
    wish = f"Evenings after six, not at the office. {marker()}"
    reporter.get_by_label(t(lang, "When and where suits you")).fill(wish)
    reporter.context.clear_cookies(name=REPORTER_COOKIE)
    reporter.get_by_role("button", name=t(lang, "Ask for a meeting"), exact=True).click()

    expect(reporter.locator("h1")).to_have_text(t(lang, "Follow up a report"))
    kept = reporter.get_by_label(t(lang, "Your request to meet an investigator, not sent yet"))
    expect(kept).to_have_value(wish)
    assert_accessible(reporter, f"code form with a pending meeting request ({lang})")
    secret = wish.split()[-1]
    for path in [demo.log, *demo.data_dir.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"plaintext in {path}"

    reporter.get_by_label(t(lang, "Case code")).fill(code)
    reporter.get_by_role("button", name=t(lang, "Open my case and ask for the meeting")).click()
    expect(reporter.get_by_role("status")).to_have_text(t(lang, "Your message has been sent."))
    expect(reporter.get_by_text(secret)).to_have_count(1)
