"""axe-core on every page of every role, in Swedish and English, error states included:
no WCAG 2.1 A/AA violation, and no request to another origin.

Pages are found by following the links each role sees, so a page added later is checked
without this file knowing about it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.a11y import axe_violations, describe
from tests.e2e.flows import (
    DEMO_PASSWORDS,
    file_report,
    login_reporter,
    marker,
    send_report,
    submit_password,
    t,
)
from tests.e2e.harness import DemoServer, OpenPage

pytestmark = pytest.mark.e2e

# Links that are not pages: language switch (a redirect), downloads, and fragments.
NOT_PAGES = re.compile(r"^/(lang/|static/)|\.(csv|pdf|png)(\?|$)|/files/")
# Path segments that are ids: one page per shape is enough (/cases/{id}, /admin/accounts/{id}).
ID_SEGMENT = re.compile(r"/(?:[0-9a-f]{8,}|\d+)(?=/|$)")
MAX_PAGES = 40


class Checker:
    """Runs axe on pages and collects every problem, so one run reports them all."""

    def __init__(self, page: Page, origin: str, follow: str = "") -> None:
        self.page = page
        self.origin = origin
        # Links to follow when crawling (a regex on the path); the public pages every role
        # links to in the footer are checked once, with the reporter's pages.
        self.follow = re.compile(follow or ".")
        browser = page.context.browser
        assert browser is not None
        self._axe_context = browser.new_context(viewport=page.viewport_size)
        self._axe_page = self._axe_context.new_page()
        self.problems: list[str] = []
        self.checked: list[str] = []
        self.foreign: set[str] = set()
        page.on("request", self._request)

    def _request(self, request: object) -> None:
        url: str = getattr(request, "url", "")
        if not url.startswith(self.origin) and not url.startswith("data:"):
            self.foreign.add(url)

    def check(self, label: str) -> None:
        violations = axe_violations(self.page, self._axe_page)
        self.checked.append(label)
        if violations:
            self.problems.append(f"{label} ({self.page.url}):\n{describe(violations)}")

    def crawl(self, *starts: str) -> None:
        """Visit the start paths and every local page linked from them, each shape once."""
        queue = list(starts)
        seen_shapes: set[str] = set()
        while queue and len(seen_shapes) < MAX_PAGES:
            path = queue.pop(0)
            shape = ID_SEGMENT.sub("/{id}", path)
            if shape in seen_shapes:
                continue
            seen_shapes.add(shape)
            response = self.page.goto(path)
            assert response is not None
            if response.status >= 500:
                self.problems.append(f"{path}: HTTP {response.status}")
                continue
            self.check(path)
            links = self.page.locator("a[href^='/']")
            for i in range(links.count()):
                href = (links.nth(i).get_attribute("href") or "").split("#")[0]
                href = urlsplit(href).path
                if href and self.follow.match(href) and not NOT_PAGES.search(href):
                    queue.append(href)

    def assert_clean(self) -> None:
        self._axe_context.close()
        print("axe checked:", ", ".join(self.checked))  # shown with -s, and on failure
        assert not self.foreign, f"requests to another origin: {sorted(self.foreign)}"
        assert not self.problems, "\n\n".join(self.problems)
        assert self.checked


def test_reporter_pages(open_page: OpenPage, lang: str, demo: DemoServer) -> None:
    page = open_page(lang=lang, js=False)
    checker = Checker(page, demo.url)
    checker.crawl("/", "/report", "/followup", "/no-such-page")

    # The form with validation errors.
    page.goto("/report")
    send_report(page, lang)
    expect(page.locator(".error-summary")).to_be_visible()
    checker.check("report form with errors")

    # A wrong case code.
    page.goto("/followup")
    page.get_by_label(t(lang, "Case code")).fill("1234 5678 9012 3456")
    page.get_by_role("button", name=t(lang, "Open my case")).click()
    expect(page.locator(".error-summary")).to_be_visible()
    checker.check("wrong case code")

    # A form sent after its CSRF cookie is gone ("the form had expired").
    page.goto("/followup")
    page.context.clear_cookies(name="whistle_csrf")
    page.get_by_label(t(lang, "Case code")).fill("1234 5678 9012 3456")
    page.get_by_role("button", name=t(lang, "Open my case")).click()
    expect(page.locator("h1")).to_have_text(t(lang, "The form had expired"))
    checker.check("expired form")
    checker.assert_clean()


def test_reporter_case_pages(open_page: OpenPage, lang: str, demo: DemoServer) -> None:
    page = open_page(lang=lang, js=False)
    checker = Checker(page, demo.url, follow="/case")
    code = file_report(page, lang, what=f"Accessibility check. {marker()}")
    checker.check("receipt")
    login_reporter(page, lang, code)
    checker.crawl("/case")
    page.goto("/case")
    page.get_by_role("button", name=t(lang, "Send"), exact=True).click()
    expect(page.locator(".field-error")).to_be_visible()
    checker.check("empty reply")
    checker.assert_clean()


def test_staff_login_pages(open_page: OpenPage, lang: str, demo: DemoServer) -> None:
    page = open_page(lang=lang, js=False)
    checker = Checker(page, demo.url, follow="/(staff|activate)/")
    checker.crawl("/staff/login", "/staff/recover", "/activate/no-such-invitation")
    # A username that does not exist: no demo account gets closer to its lock-out.
    submit_password(page, lang, "nobody", "wrong password")
    expect(page.locator(".error-summary")).to_be_visible()
    checker.check("wrong login")
    # The second step of a demo login, then a wrong code there.
    submit_password(page, lang, "bertil", DEMO_PASSWORDS["bertil"])
    expect(page.locator("h1")).to_have_text(t(lang, "Second factor"))
    checker.check("second factor")
    page.get_by_label(t(lang, "Code"), exact=True).fill("000000")
    page.get_by_role("button", name=t(lang, "Continue")).click()
    expect(page.locator(".error-summary")).to_be_visible()
    checker.check("wrong second factor")
    checker.assert_clean()


def test_new_account_pages(open_page: OpenPage, lang: str, demo: DemoServer) -> None:
    """Activation, its errors, the recovery code and setting up the second factor."""
    username = f"eva-{lang}"
    printed = demo.cli("create-investigator", "--username", username, "--name", f"Eva Ek {lang}")
    match = re.search(r"/activate/\S+", printed)
    assert match, printed
    page = open_page(lang=lang, js=False)
    checker = Checker(page, demo.url)
    page.goto(match.group(0))
    checker.check("activation")
    new_password = page.get_by_label(t(lang, "New password"))
    new_password.fill("a long enough password")
    page.get_by_label(t(lang, "Repeat the password")).fill("another long password")
    page.get_by_role("button", name=t(lang, "Activate")).click()
    expect(page.locator(".error-summary")).to_be_visible()
    checker.check("activation with an error")
    new_password.fill("a long enough password")
    page.get_by_label(t(lang, "Repeat the password")).fill("a long enough password")
    page.get_by_role("button", name=t(lang, "Activate")).click()
    expect(page.locator("h1")).to_have_text(t(lang, "Your account is active"))
    checker.check("recovery code")
    submit_password(page, lang, username, "a long enough password")
    expect(page.locator("h1")).to_have_text(t(lang, "Set up your second factor"))
    checker.check("second factor set-up")
    page.get_by_label(t(lang, "Code"), exact=True).fill("000000")
    page.get_by_role("button", name=t(lang, "Continue")).click()
    expect(page.locator(".error-summary")).to_be_visible()
    checker.check("second factor set-up with a wrong code")
    checker.assert_clean()


def test_investigator_pages(open_page: OpenPage, lang: str, demo: DemoServer) -> None:
    found = marker()
    file_report(open_page(lang=lang), lang, what=f"For the investigator's pages. {found}")
    page = open_page(lang=lang, user="bertil")
    checker = Checker(
        page, demo.url, follow="/(inbox|cases|oral|staff|readers|labels|search|leavers)"
    )
    checker.crawl("/inbox")
    assert any(p.startswith("/cases/") for p in checker.checked), checker.checked
    assert "/readers" in checker.checked, checker.checked
    assert {"/labels", "/search", "/leavers"} <= set(checker.checked), checker.checked
    # Every sub-page of the case page (the crawler sees them as one shape), and a filtered inbox.
    case_path = next(p for p in checker.checked if p.startswith("/cases/"))
    for tab in ("feedback", "meetings", "tasks", "handover", "access", "history"):
        page.goto(f"{case_path}?tab={tab}")
        checker.check(f"case, {tab}")
    page.goto("/inbox?show=overdue&sort=received")
    checker.check("inbox filtered")
    page.goto(f"{case_path}/copy")
    checker.check("working copy")
    page.get_by_role("button", name=t(lang, "Download the working copy (PDF)")).click()
    expect(page.locator(".error-summary")).to_be_visible()  # not confirmed
    checker.check("working copy without the confirmation")
    page.goto("/search")
    page.get_by_label(t(lang, "Search for")).fill(found)
    page.get_by_role("button", name=t(lang, "Search"), exact=True).click()
    expect(page.locator("ul.results li")).to_have_count(1)
    checker.check("search results")
    page.goto("/leavers")
    page.get_by_role("button", name=t(lang, "Show what will be given")).click()
    checker.check("a leaver's cases, preview")
    # An error on the case page: an empty note.
    page.goto(next(p for p in checker.checked if p.startswith("/cases/")))
    page.get_by_role("button", name=t(lang, "Save note")).click()
    expect(page.locator(".error-summary")).to_be_visible()
    checker.check("case with an error")
    page.goto("/oral")
    page.get_by_role("button", name=t(lang, "Register and get the case code")).click()
    expect(page.locator(".error-summary")).to_be_visible()
    checker.check("oral report with errors")
    checker.assert_clean()


def test_administrator_pages(open_page: OpenPage, lang: str, demo: DemoServer) -> None:
    page = open_page(lang=lang, user="admin")
    checker = Checker(page, demo.url, follow="/(admin|staff)")
    checker.crawl("/admin")
    assert len(checker.checked) > 1, checker.checked
    checker.assert_clean()


def test_registrar_pages(open_page: OpenPage, lang: str, demo: DemoServer) -> None:
    """The register (the demo's units are public), its printable version and an empty year."""
    file_report(open_page(lang=lang), lang, what=f"For the register. {marker()}")
    page = open_page(lang=lang, user="rut")
    checker = Checker(page, demo.url, follow="/(registrar|staff)")
    checker.crawl("/registrar")
    assert "/registrar/print" in ",".join(checker.checked), checker.checked
    page.goto("/registrar?year=1999")
    checker.check("register of a year without entries")
    checker.assert_clean()
