"""Investigators and administrators in a real browser, in Swedish and English."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.flows import (
    file_report,
    login_reporter,
    login_staff,
    marker,
    open_case_with,
    submit_password,
    t,
)
from tests.e2e.harness import OpenPage

pytestmark = pytest.mark.e2e


def saved(page: Page, lang: str) -> None:
    expect(page.get_by_role("status")).to_have_text(t(lang, "Saved."))


def test_investigator_handles_a_case(open_page: OpenPage, lang: str) -> None:
    reporter = open_page(lang=lang)
    secret = marker()
    code = file_report(reporter, lang, what=f"A councillor approved his brother's bid. {secret}")

    anna = open_page(lang=lang)
    login_staff(anna, lang, "anna")
    expect(anna).to_have_url(re.compile(r"/inbox$"))
    expect(anna.locator("table.inbox")).to_be_visible()
    case_path = open_case_with(anna, lang, secret)
    expect(anna.locator("h1")).to_have_text(re.compile(re.escape(t(lang, "Case %(ref)s", ref=""))))

    anna.get_by_role("button", name=t(lang, "Send confirmation")).click()
    saved(anna, lang)
    expect(anna.get_by_role("button", name=t(lang, "Send confirmation"))).to_have_count(0)

    question = f"Do you have the tender documents? {marker()}"
    anna.get_by_label(t(lang, "Message or question")).fill(question)
    anna.get_by_role("button", name=t(lang, "Send to the reporter")).click()
    saved(anna, lang)

    note = f"Check the minutes of the board meeting. {marker()}"
    anna.get_by_label(t(lang, "Note for the investigators (never shown to the reporter)")).fill(
        note
    )
    anna.get_by_role("button", name=t(lang, "Save note")).click()
    saved(anna, lang)
    expect(anna.get_by_text(note)).to_be_visible()

    # Status and closing sit with the feedback, one sub-page over; the thread stays beside it.
    tabs = anna.get_by_role("navigation", name=t(lang, "Work on the case"))
    tabs.get_by_role("link", name=t(lang, "Feedback")).click()
    expect(anna.get_by_text(note)).to_be_visible()
    anna.get_by_label(t(lang, "Set status")).select_option(label=t(lang, "Closed"))
    anna.get_by_label(t(lang, "Outcome (when closing)")).select_option(
        label=t(lang, "Not substantiated")
    )
    anna.get_by_role("button", name=t(lang, "Change status")).click()
    saved(anna, lang)
    assert anna.url.split("?")[0].endswith(case_path)
    facts = anna.locator("dl.facts")
    expect(facts).to_contain_text(t(lang, "Closed"))

    # The reporter sees the confirmation, the question and the closed status, never the note.
    back = open_page(lang=lang, js=False)
    login_reporter(back, lang, code)
    expect(back.get_by_text(question)).to_be_visible()
    expect(back.locator("dl.facts")).to_contain_text(t(lang, "Closed"))
    expect(back.get_by_text(note)).to_have_count(0)
    expect(back.get_by_label(t(lang, "Write to the investigators"))).to_have_count(0)


def test_wrong_staff_login_is_refused(open_page: OpenPage, lang: str) -> None:
    page = open_page(lang=lang, js=False)
    submit_password(page, lang, "anna", "not-the-password")
    summary = page.locator(".error-summary")
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_contain_text(t(lang, "Wrong username or password."))
    expect(page.get_by_label(t(lang, "Username"))).to_have_value("anna")
    expect(page.get_by_label(t(lang, "Password"), exact=True)).to_have_value("")


def test_administrator_sees_the_overview_and_no_case(open_page: OpenPage, lang: str) -> None:
    admin = open_page(lang=lang)
    login_staff(admin, lang, "admin")
    expect(admin).to_have_url(re.compile(r"/admin$"))
    expect(admin.locator("h1")).to_have_text(t(lang, "Administration"))
    expect(admin.get_by_role("heading", name=t(lang, "Cases by status"))).to_be_visible()
    # Every page the administrator's menu links to opens (the pages themselves are checked
    # for accessibility in test_accessibility.py).
    menu = admin.get_by_role("navigation", name=t(lang, "Main menu")).locator("a[href^='/admin']")
    paths = sorted({menu.nth(i).get_attribute("href") or "" for i in range(menu.count())})
    assert "/admin" in paths
    for path in paths:
        response = admin.goto(path)
        assert response is not None, path
        assert response.status == 200, path
        expect(admin.locator("h1")).to_have_count(1)
    # An administrator has no inbox and cannot open cases: the same 404 as for a missing page.
    response = admin.goto("/inbox")
    assert response is not None
    assert response.status == 404
    expect(admin.locator("h1")).to_have_text(t(lang, "Page not found"))


def test_investigator_cannot_open_administration(open_page: OpenPage, lang: str) -> None:
    page = open_page(lang=lang, user="bertil")
    response = page.goto("/admin")
    assert response is not None
    assert response.status == 404
    expect(page.locator("h1")).to_have_text(t(lang, "Page not found"))


def test_administrator_changes_a_route(open_page: OpenPage, lang: str) -> None:
    admin = open_page(lang=lang, user="admin")
    admin.goto("/admin/routes")
    expect(admin.locator("h1")).to_have_text(t(lang, "Routing"))
    # Bertil is not designated for the fourth category in the demo: give him that route.
    category = admin.locator("#field-category option").nth(3)
    category_name = (category.text_content() or "").strip()
    admin.locator("#field-category").select_option(index=3)
    admin.locator("#field-unit").select_option(value="")
    admin.locator("#field-user_id").select_option(label="Bertil Berg (bertil)")
    admin.get_by_role("button", name=t(lang, "Add route")).click()
    expect(admin.get_by_role("status")).to_have_text(
        t(
            lang,
            "Saved. The new route takes effect when an investigator who already reads this kind "
            "of report approves it.",
        )
    )
    row = admin.locator("tr", has_text=category_name).filter(has_text="Bertil Berg")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(t(lang, "Awaiting approval by an investigator"))
    # Four eyes: Anna, who reads that kind of report, approves the new reader.
    anna = open_page(lang=lang, user="anna")
    anna.goto("/inbox")
    anna.get_by_role("link", name=re.compile(re.escape(t(lang, "Readers")))).first.click()
    expect(anna.locator("h1")).to_have_text(t(lang, "Readers"))
    pending = anna.locator("tr", has_text="Bertil Berg (bertil)").filter(has_text=category_name)
    pending.get_by_role("button", name=re.compile(t(lang, "Approve"))).click()
    expect(anna.get_by_role("status")).to_have_text(
        t(lang, "The route is approved and now in effect for new reports.")
    )
    admin.reload()
    row = admin.locator("tr", has_text=category_name).filter(has_text="Bertil Berg")
    expect(row).to_contain_text(t(lang, "In effect"))
    # And take it away again.
    row.get_by_role("button").click()
    saved(admin, lang)
    expect(
        admin.locator("tr", has_text=category_name).filter(has_text="Bertil Berg")
    ).to_have_count(0)
