"""Steps that several browser tests take: filing a report, logging in, finding a case.

Texts are looked up in the compiled catalogues, so a test reads like the page in either
language and a missing translation shows up as a failing test.
"""

from __future__ import annotations

import re
import secrets
import time

from playwright.sync_api import Page, expect

from whistle import crypto, demo, i18n

CODE_RE = re.compile(r"^\d{4} \d{4} \d{4} \d{4}$")
STAFF_HOME = re.compile(r"/(inbox|admin|registrar)$")
DEMO_PASSWORDS = {login.username: login.password for login in demo.DEMO_LOGINS}


def t(lang: str, message: str, **variables: object) -> str:
    token = i18n.set_locale(lang)
    try:
        return i18n.gettext(message, **variables)
    finally:
        i18n.reset_locale(token)


def category_name(lang: str, index: int = 0) -> str:
    sv, en, _dsv, _den = demo.CATEGORIES[index]
    # The organisation's names exist in Swedish and English; other languages show the Swedish.
    return en if lang == "en" else sv


def marker() -> str:
    """A unique word to put in a report and look for later (and not find where it must not be)."""
    return "marker" + secrets.token_hex(6)


def fill_report(page: Page, lang: str, *, what: str, category: int | None = 0) -> None:
    """Fill the report form (already open) as an anonymous reporter, without sending it."""
    if category is not None:
        page.get_by_label(category_name(lang, category), exact=True).check()
    page.get_by_label(t(lang, "Describe what happened")).fill(what)
    when = "Våren, på upphandlingsenheten" if lang == "sv" else "Spring, the procurement office"
    page.get_by_label(t(lang, "When and where")).fill(when)
    page.get_by_label(t(lang, "Anonymously – I do not give my name")).check()


def send_report(page: Page, lang: str) -> None:
    page.get_by_role("button", name=t(lang, "Send report")).click()


def read_code(page: Page, lang: str) -> str:
    """The case code from the receipt page, as shown (four groups of four digits)."""
    expect(page.locator("h1")).to_have_text(t(lang, "Your report has been sent"))
    code = page.locator(".receipt .code strong").inner_text().strip()
    assert CODE_RE.match(code), code
    return code


def file_report(page: Page, lang: str, *, what: str, category: int = 0) -> str:
    page.goto("/report")
    fill_report(page, lang, what=what, category=category)
    send_report(page, lang)
    return read_code(page, lang)


def login_reporter(page: Page, lang: str, code: str) -> None:
    page.goto("/followup")
    page.get_by_label(t(lang, "Case code")).fill(code)
    page.get_by_role("button", name=t(lang, "Open my case")).click()
    expect(page.locator("h1")).to_have_text(t(lang, "Your case"))


# The server refuses a TOTP code from a time step it has already accepted for that account
# (replay), and accepts the steps around now. This process remembers the steps it has used.
_used_steps: dict[str, int] = {}


def second_factor_code(username: str) -> str:
    """A demo TOTP code for a step not used before; waits for the clock when both are used."""
    now = time.time()
    # The step before now is accepted too, but only while the clock stays in this step.
    earliest = int(now) // crypto.TOTP_STEP - (1 if now % crypto.TOTP_STEP < 20 else 0)
    step = max(_used_steps.get(username, -1) + 1, earliest)
    while step > int(time.time()) // crypto.TOTP_STEP + 1:
        time.sleep(1)
    _used_steps[username] = step
    return demo.current_code(step * crypto.TOTP_STEP)


def submit_password(page: Page, lang: str, username: str, password: str) -> None:
    page.goto("/staff/login")
    page.get_by_label(t(lang, "Username")).fill(username)
    page.get_by_label(t(lang, "Password"), exact=True).fill(password)
    page.get_by_role("button", name=t(lang, "Log in")).click()


def login_staff(page: Page, lang: str, username: str) -> None:
    """Password, then the second factor; ends on the inbox or the admin overview."""
    submit_password(page, lang, username, DEMO_PASSWORDS[username])
    page.wait_for_url(re.compile(r"/staff/second-factor$"))
    page.get_by_label(t(lang, "Code"), exact=True).fill(second_factor_code(username))
    page.get_by_role("button", name=t(lang, "Continue")).click()
    page.wait_for_url(STAFF_HOME)


def open_case_with(page: Page, lang: str, text: str) -> str:
    """From the inbox, open the case whose report contains ``text``; return its URL path.

    The inbox shows no content (only references and dates), so the investigator opens cases
    until the report is found, as a person would.
    """
    page.goto("/inbox")
    expect(page.locator("h1")).to_have_text(t(lang, "Cases"))
    links = page.locator("table.inbox tbody th a")
    paths = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    for path in paths:
        page.goto(path)
        if page.get_by_text(text).count():
            return path
    raise AssertionError(f"no case in the inbox contains {text!r}")
