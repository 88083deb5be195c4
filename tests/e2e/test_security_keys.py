"""Security keys in Chromium, with the DevTools virtual authenticator (the ``WebAuthn`` domain
through Playwright's CDP session), with and without the PRF extension: register, log out, log
in; a PRF account cannot log in with TOTP; the new pages pass axe.

The server runs under ``http://localhost:<port>``: WebAuthn needs a domain as RP ID, and
Chromium refuses an IP address. The server-level refusals (other origin, replay, clone,
another account's key) are in tests/test_security_keys.py, where answers can be forged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect
from sqlalchemy import create_engine
from sqlmodel import Session, select

from tests.e2e.a11y import axe_violations, describe
from tests.e2e.flows import DEMO_PASSWORDS, login_staff, second_factor_code, submit_password, t
from tests.e2e.harness import CHEAP_ARGON2_ENV, DemoServer, demo_server
from whistle import crypto
from whistle.crypto import Argon2Params
from whistle.keys import load_keys
from whistle.models import SecurityKey, User
from whistle.web.auth import E_KEY_REQUIRED
from whistle.web.errors import message

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def localhost(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(tmp_path_factory.mktemp("e2e-webauthn"), host="localhost") as server:
        yield server


def _authenticator(page: Page, *, prf: bool) -> tuple[CDPSession, str]:
    """A platform authenticator that verifies its user and answers at once."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    options: dict[str, Any] = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
        "hasPrf": prf,
    }
    found = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, str(found["authenticatorId"])


def _context(browser: Browser, server: DemoServer, lang: str) -> BrowserContext:
    context = browser.new_context(base_url=server.url)
    domain = server.url.split("//")[1].split(":")[0]
    context.add_cookies([{"name": "whistle_lang", "value": lang, "domain": domain, "path": "/"}])
    return context


def _rows(server: DemoServer, username: str) -> tuple[User, list[SecurityKey]]:
    engine = create_engine(f"sqlite:///{Path(server.data_dir) / 'whistle.db'}")
    try:
        with Session(engine) as s:
            user = s.exec(select(User).where(User.username == username)).one()
            keys = list(s.exec(select(SecurityKey).where(SecurityKey.user_id == user.id)).all())
            return user, keys
    finally:
        engine.dispose()


def _no_violations(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, describe(violations)


def _thief_opens_nothing(server: DemoServer, username: str, user: User, key: SecurityKey) -> None:
    """The database, keys/ and the password, tried with the crypto functions directly: the
    password's key opens the outer layer only, and no output of the key is stored."""
    pepper_keys = load_keys(server.workdir / "keys", create=False)
    params = Argon2Params(
        time_cost=int(CHEAP_ARGON2_ENV["WHISTLE_ARGON2_TIME_COST"]),
        memory_kib=int(CHEAP_ARGON2_ENV["WHISTLE_ARGON2_MEMORY_KIB"]),
        parallelism=1,
    )
    assert user.password_salt is not None
    assert key.private_key_sealed is not None
    kek = crypto.derive_login_keys(
        DEMO_PASSWORDS[username], user.password_salt, params, password_key=pepper_keys.password_key
    ).current.kek
    for guess in (bytes(32), key.prf_salt or b"", crypto.digest(key.credential_id)):
        with pytest.raises(crypto.CryptoError):
            crypto.open_with_security_key(
                key.private_key_sealed, kek=kek, prf_output=guess, user_id=user.id, key_id=key.id
            )
    inner = crypto.open_sealed(
        kek,
        key.private_key_sealed,
        purpose="private-key-security-key-outer",
        case_id=user.id,
        item_id=key.id,
    )
    assert len(inner) > crypto.PRIVATE_KEY_LEN  # still sealed: the password gave ciphertext


def _register(page: Page, lang: str, username: str, name: str) -> None:
    page.goto("/staff/security-keys")
    expect(page.locator("h1")).to_have_text(t(lang, "Security keys"))
    _no_violations(page)
    page.get_by_label(t(lang, "Name of the key")).fill(name)
    page.get_by_label(t(lang, "Your password"), exact=True).fill(DEMO_PASSWORDS[username])
    page.get_by_role("button", name=t(lang, "Add security key")).click()
    expect(page.get_by_role("status")).to_have_text(t(lang, "The security key has been added."))
    expect(page.get_by_role("table")).to_contain_text(name)


def _key_login(page: Page, lang: str, username: str) -> None:
    submit_password(page, lang, username, DEMO_PASSWORDS[username])
    page.wait_for_url(re.compile(r"/staff/second-factor$"))
    page.get_by_role("button", name=t(lang, "Use security key")).click()
    page.wait_for_url(re.compile(r"/inbox$"))


@pytest.mark.parametrize("prf", [True, False], ids=["prf", "no-prf"])
def test_register_log_out_and_log_in_with_a_key(
    browser: Browser, localhost: DemoServer, prf: bool
) -> None:
    lang = "sv" if prf else "en"
    username = "anna" if prf else "bertil"
    context = _context(browser, localhost, lang)
    try:
        page = context.new_page()
        cdp, authenticator = _authenticator(page, prf=prf)
        login_staff(page, lang, username)
        _register(page, lang, username, "blue key" if prf else "work phone")
        user, [key] = _rows(localhost, username)
        # With PRF the private key is sealed to the key and the password-only wrap is gone;
        # without, the key is a second factor and the password still opens the private key.
        assert (key.private_key_sealed is not None) is prf
        assert (user.private_key_sealed is None) is prf
        if prf:
            _thief_opens_nothing(localhost, username, user, key)
        page.get_by_role("button", name=t(lang, "Log out"), exact=True).click()
        page.wait_for_url(re.compile(r"/staff/login$"))

        _key_login(page, lang, username)
        expect(page.locator("h1")).to_have_text(t(lang, "Cases"))
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(credentials["credentials"]) == 1
        _user, [used] = _rows(localhost, username)
        assert used.last_used_at is not None
        assert used.sign_count >= key.sign_count
    finally:
        context.close()

    # Another browser without the key: with PRF a TOTP code no longer gets in.
    other = _context(browser, localhost, lang)
    try:
        page = other.new_page()
        submit_password(page, lang, username, DEMO_PASSWORDS[username])
        page.wait_for_url(re.compile(r"/staff/second-factor$"))
        _no_violations(page)
        if prf:
            expect(page.get_by_label(t(lang, "Code"), exact=True)).to_have_count(0)
            return
        page.get_by_label(t(lang, "Code"), exact=True).fill(second_factor_code(username))
        page.get_by_role("button", name=t(lang, "Continue")).click()
        page.wait_for_url(re.compile(r"/inbox$"))
    finally:
        other.close()


def test_prf_account_refuses_a_code_posted_anyway(browser: Browser, localhost: DemoServer) -> None:
    """The form is not offered, but a code sent by hand is refused too (after the test above
    has locked Anna's key to her security key)."""
    user, keys = _rows(localhost, "anna")
    if user.private_key_sealed is not None or not keys:
        pytest.skip("runs after test_register_log_out_and_log_in_with_a_key[prf]")
    context = _context(browser, localhost, "en")
    try:
        page = context.new_page()
        submit_password(page, "en", "anna", DEMO_PASSWORDS["anna"])
        page.wait_for_url(re.compile(r"/staff/second-factor$"))
        token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
        response = page.request.post(
            "/staff/second-factor",
            form={"csrf_token": token, "code": second_factor_code("anna")},
            max_redirects=0,
        )
        assert response.status == 400
        assert t("en", E_KEY_REQUIRED) in response.text().replace("&#39;", "'")
    finally:
        context.close()


def test_failed_ceremony_shows_a_message(browser: Browser, localhost: DemoServer) -> None:
    """The browser's ceremony fails (here: the key is registered already, so the
    authenticator refuses it): the page says so, keeps what was typed, and saves nothing."""
    context = _context(browser, localhost, "sv")
    try:
        page = context.new_page()
        _authenticator(page, prf=False)
        login_staff(page, "sv", "admin")
        _register(page, "sv", "admin", "first key")
        page.get_by_label(t("sv", "Name of the key")).fill("same key again")
        page.get_by_label(t("sv", "Your password"), exact=True).fill(DEMO_PASSWORDS["admin"])
        page.get_by_role("button", name=t("sv", "Add security key")).click()
        expect(page.get_by_role("alert")).to_contain_text(t("sv", message("cancelled")))
        expect(page.get_by_label(t("sv", "Name of the key"))).to_have_value("same key again")
        _no_violations(page)
        assert len(_rows(localhost, "admin")[1]) == 1
    finally:
        context.close()
