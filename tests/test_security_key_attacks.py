"""Attacks on the security-key login (issue 16), each written as the attacker would try it:
someone with the password only, an answer meant for another ceremony, account or login, an
administrator who wants a way to read, and the PRF output looked for wherever it could leak.

Helpers and the software authenticator are those of tests/test_security_keys.py.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.authenticator import SoftKey, options_in
from tests.conftest import PASSWORD, World, post, totp_code
from tests.test_security_keys import _keys, failures, password_step, strict, text
from whistle.web import security_keys as web
from whistle.web.staff import STAFF_COOKIE

__all__ = ["strict"]  # the fixture, imported for the tests below


def _offered(browser: TestClient, path: str) -> str | None:
    """The registration options a page at ``path`` offers, or None when it offers none."""
    page = browser.get(path)
    if page.status_code != 200 or "data-options" not in page.text:
        return None
    return options_in(page.text)


# --- someone with the password only ---------------------------------------------------------


def test_password_alone_cannot_enrol_a_key_instead_of_the_totp_code(
    new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """Anna logs in with password and TOTP and has no key (every account before issue 16).
    A thief with her password goes to the first-key page of the login instead of typing a
    code: it must not give him a key of his own, nor a session."""
    thief = new_client()
    response = post(thief, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert response.headers["location"] == "/staff/second-factor"
    offered = _offered(thief, "/staff/security-key/enrol")
    assert offered is None
    page = thief.get("/staff/security-keys")  # the account page wants a full login
    assert page.status_code in {303, 302} and STAFF_COOKIE not in thief.cookies
    # Even with options from elsewhere (an old page), the enrol step refuses.
    anna = new_client()
    password_step(anna, "anna")
    post(anna, "/staff/second-factor", {"code": totp_code(anna, "anna")})
    credential, prf = SoftKey().create(options_in(anna.get("/staff/security-keys").text))
    response = post(
        thief, "/staff/security-key/enrol", {"name": "mine", "credential": credential, "prf": prf}
    )
    assert STAFF_COOKIE not in thief.cookies
    assert response.status_code in {303, 400}
    assert _keys(engine, world.anna) == []


def test_required_keys_do_not_let_the_password_alone_past_an_enrolled_totp(
    strict: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """WHISTLE_REQUIRE_SECURITY_KEY is turned on while Anna has TOTP and no key yet. Her
    first key needs her code as well as the password: the thief with the password alone
    gets no key and no session, and his tries count against the account."""
    thief = strict()
    response = post(thief, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert response.headers["location"] == "/staff/security-key/enrol"
    page = thief.get("/staff/security-key/enrol")
    assert page.status_code == 200
    assert 'name="code"' in page.text  # the code is asked for with the key
    credential, prf = SoftKey().create(options_in(page.text))
    for code in ("", "000000"):
        response = post(
            thief,
            "/staff/security-key/enrol",
            {"name": "mine", "credential": credential, "prf": prf, "code": code},
        )
        assert response.status_code == 400
        assert STAFF_COOKIE not in thief.cookies
    assert _keys(engine, world.anna) == []
    assert failures(engine, world.anna) == 2
    # Anna, with her code, registers her first key and is in.
    anna = strict()
    post(anna, "/staff/login", {"username": "anna", "password": PASSWORD})
    page = anna.get("/staff/security-key/enrol")
    key = SoftKey()
    credential, prf = key.create(options_in(page.text))
    response = post(
        anna,
        "/staff/security-key/enrol",
        {"name": "blue", "credential": credential, "prf": prf, "code": totp_code(anna, "anna")},
    )
    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    assert len(_keys(engine, world.anna)) == 1
    assert failures(engine, world.anna) == 0


def test_first_key_refusals_count_against_the_account(
    strict: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """A wrong answer at the first-key step counts like a wrong second factor."""
    browser = strict()
    post(browser, "/staff/login", {"username": "anna", "password": PASSWORD})
    page = browser.get("/staff/security-key/enrol")
    credential, prf = SoftKey().create(options_in(page.text), origin="https://evil.example")
    response = post(
        browser,
        "/staff/security-key/enrol",
        {"name": "k", "credential": credential, "prf": prf, "code": totp_code(browser, "anna")},
    )
    assert response.status_code == 400
    assert text(web.ERRORS["invalid"]) in response.text
    assert failures(engine, world.anna) == 1
    assert _keys(engine, world.anna) == []
