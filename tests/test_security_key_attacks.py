"""Attacks on the security-key login (issue 16), each written as the attacker would try it:
someone with the password only, an answer meant for another ceremony, account or login, an
administrator who wants a way to read, and the PRF output looked for wherever it could leak.

Helpers and the software authenticator are those of tests/test_security_keys.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy import text as sql_text
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.authenticator import SoftKey, b64url, options_in, unb64url
from tests.helpers import CHEAP_ARGON2, PASSWORD, World, login_staff, post, totp_code
from tests.test_security_keys import (
    _keys,
    add_key,
    anna,
    anna_with_key,
    failures,
    key_step,
    password_step,
    strict,
    text,
)
from whistle import accounts, db, jobs, security_keys, sessions
from whistle.keys import Keys
from whistle.models import SecurityKeyChallenge, User, utcnow
from whistle.settings import Settings
from whistle.web.auth import PENDING_COOKIE, STAFF_COOKIE
from whistle.web.errors import message

__all__ = ["anna", "anna_with_key", "strict"]  # fixtures, for the tests below


RP = security_keys.relying_party("https://testserver", name="Testkommunen")


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
    assert page.status_code in {303, 302}
    assert STAFF_COOKIE not in thief.cookies
    # Even with options made for his own login (as an old page would have), the step refuses.
    with Session(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        offered = security_keys.registration_options(
            s, user=user, rp=RP, session_secret=thief.cookies.get(PENDING_COOKIE) or ""
        )
        s.commit()
    credential, prf = SoftKey().create(offered)
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
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"
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
    assert text(message("invalid")) in response.text
    assert failures(engine, world.anna) == 1
    assert _keys(engine, world.anna) == []


# --- answers meant for another ceremony, account or login -----------------------------------


def _assertion(key: SoftKey, options: str, **changes: object) -> tuple[str, str]:
    """An assertion for ``options``, with fields of its client data or authenticator data
    changed the way an attacker (or a confused browser) would."""
    credential, prf = key.get(options)
    data = json.loads(credential)
    client = json.loads(unb64url(data["response"]["clientDataJSON"]))
    auth = unb64url(data["response"]["authenticatorData"])
    if "type" in changes:
        client["type"] = changes["type"]
    if "rp_id" in changes:
        auth = hashlib.sha256(str(changes["rp_id"]).encode()).digest() + auth[32:]
    client_json = json.dumps(client).encode()
    data["response"]["clientDataJSON"] = b64url(client_json)
    data["response"]["authenticatorData"] = b64url(auth)
    data["response"]["signature"] = b64url(key.sign(auth + hashlib.sha256(client_json).digest()))
    if "user_handle" in changes:
        data["response"]["userHandle"] = b64url(str(changes["user_handle"]).encode())
    return json.dumps(data), prf


def _login_refused(browser: TestClient, answer: tuple[str, str], code: str) -> None:
    """The answer and its PRF output (so that only the answer can be why it is refused)."""
    credential, prf = answer
    response = post(browser, "/staff/security-key/login", {"credential": credential, "prf": prf})
    assert response.status_code == 400, response.text
    assert text(message(code)) in response.text
    assert STAFF_COOKIE not in browser.cookies


def test_a_registration_challenge_does_not_log_in(
    anna_with_key: SoftKey,
    anna: TestClient,
    new_client: Callable[[], TestClient],
    world: World,
    engine: Engine,
) -> None:
    """The account page's registration challenge, signed as a login: refused, counted."""
    offered = json.loads(options_in(anna.get("/staff/security-keys").text))
    browser = new_client()
    page = json.loads(options_in(password_step(browser, "anna")))
    page["challenge"] = offered["challenge"]
    _login_refused(browser, _assertion(anna_with_key, json.dumps(page)), "expired")
    assert failures(engine, world.anna) == 1


def test_a_login_challenge_of_another_account_is_refused(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    bertil = new_client()
    login_staff(bertil, "bertil")
    assert add_key(bertil, SoftKey()).status_code == 200
    other = new_client()
    for_bertil = json.loads(options_in(password_step(other, "bertil")))
    browser = new_client()
    page = json.loads(options_in(password_step(browser, "anna")))
    page["challenge"] = for_bertil["challenge"]
    _login_refused(browser, _assertion(anna_with_key, json.dumps(page)), "expired")
    assert failures(engine, world.anna) == 1


def test_an_answer_given_in_one_login_is_refused_in_another(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """Anna's answer is caught on its way (a proxy, malware) before it arrives, and sent in
    the thief's own login of her account (he has her password): the challenge belongs to
    Anna's login, not to his."""
    anna = new_client()
    caught = anna_with_key.get(options_in(password_step(anna, "anna")))
    thief = new_client()
    password_step(thief, "anna")
    _login_refused(thief, caught, "expired")
    # In Anna's own login it would have been accepted: the refusal was for the right reason.
    anna2 = new_client()
    answer, prf = anna_with_key.get(options_in(password_step(anna2, "anna")))
    ok = post(anna2, "/staff/security-key/login", {"credential": answer, "prf": prf})
    assert ok.status_code == 303


def test_a_registration_challenge_of_another_session_is_refused(
    anna: TestClient, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    other = new_client()
    login_staff(other, "anna")
    credential, prf = SoftKey().create(options_in(other.get("/staff/security-keys").text))
    response = post(
        anna,
        "/staff/security-keys/add",
        {"name": "k", "password": PASSWORD, "credential": credential, "prf": prf},
    )
    assert response.status_code == 400
    assert text(message("expired")) in response.text
    assert _keys(engine, world.anna) == []


def test_a_login_answer_of_the_wrong_type_is_refused(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    browser = new_client()
    page = options_in(password_step(browser, "anna"))
    _login_refused(browser, _assertion(anna_with_key, page, type="webauthn.create"), "invalid")
    assert failures(engine, world.anna) == 1


def test_an_answer_for_another_rp_id_is_refused(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    browser = new_client()
    page = options_in(password_step(browser, "anna"))
    _login_refused(browser, _assertion(anna_with_key, page, rp_id="evil.example"), "invalid")


def test_an_answer_naming_another_user_is_refused(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """The user handle, where the authenticator gives one, is the account's id."""
    browser = new_client()
    page = options_in(password_step(browser, "anna"))
    _login_refused(
        browser, _assertion(anna_with_key, page, user_handle=world.bertil), "unknown-key"
    )
    # Anna's own id is fine.
    again = new_client()
    credential, prf = _assertion(
        anna_with_key, options_in(password_step(again, "anna")), user_handle=world.anna
    )
    response = post(again, "/staff/security-key/login", {"credential": credential, "prf": prf})
    assert response.status_code == 303


# --- the administrator, forged requests, and what a stranger can learn or fill ---------------


def test_an_administrator_can_neither_remove_nor_weaken_an_investigators_key(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """The administrator wants a way to read: remove Anna's PRF key (so the password-only
    wrap returns), or switch her account off and on. Neither removes the key nor gives back a
    password-only wrap; the key pages act on the administrator's own account only."""
    [stored] = _keys(engine, world.anna)
    admin = new_client()
    login_staff(admin, "admin")
    refused = post(admin, f"/staff/security-keys/{stored.id}/remove", {"password": PASSWORD})
    assert refused.status_code == 400
    assert text(message("unknown-key")) in refused.text
    assert stored.name not in admin.get("/staff/security-keys").text
    for active in ("no", "yes"):
        response = post(admin, f"/admin/accounts/{world.anna}/status", {"active": active})
        assert response.status_code == 303, response.text
    assert [k.id for k in _keys(engine, world.anna)] == [stored.id]
    with Session(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        assert user.status == "active"
        assert user.private_key_sealed is None  # still locked to the key


def test_key_pages_refuse_forged_requests(
    anna_with_key: SoftKey,
    anna: TestClient,
    new_client: Callable[[], TestClient],
    world: World,
    engine: Engine,
) -> None:
    """Another site makes Anna's browser post to the key pages: no CSRF token, refused."""
    [stored] = _keys(engine, world.anna)
    for path, data in (
        ("/staff/security-keys/add", {"name": "x", "password": PASSWORD}),
        (f"/staff/security-keys/{stored.id}/remove", {"password": PASSWORD}),
    ):
        assert anna.post(path, data=data).status_code == 403
    browser = new_client()
    password_step(browser, "anna")
    for path in ("/staff/security-key/login", "/staff/security-key/enrol"):
        assert browser.post(path, data={"outcome": "cancelled"}).status_code == 403
    assert failures(engine, world.anna) == 0
    assert len(_keys(engine, world.anna)) == 1


def test_the_login_page_does_not_tell_who_has_a_key(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World
) -> None:
    """Before the password is right, an account with keys, one without and a name that does
    not exist look the same: no key list, no challenge, no script."""
    shown = []
    for name in ("anna", "bertil", "nobody"):
        browser = new_client()
        response = post(browser, "/staff/login", {"username": name, "password": "wrong"})
        assert response.status_code == 400
        assert "data-options" not in response.text
        assert "webauthn.js" not in response.text
        shown.append(response.text.replace(name, "NAME"))
        assert browser.get("/staff/second-factor").headers["location"] == "/staff/login"
    csrf = re.compile(r'name="csrf_token" value="[^"]*"')
    assert len({csrf.sub("", page) for page in shown}) == 1


def test_strangers_make_no_challenges(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """Fresh visitors without the password cannot grow the challenge table, and logins that
    have the password keep at most OPEN_CHALLENGES per account however many there are."""
    with Session(engine) as s:
        before = len(s.exec(select(SecurityKeyChallenge)).all())
    for _ in range(10):
        stranger = new_client()
        stranger.get("/staff/second-factor")
        stranger.get("/staff/security-key/enrol")
        post(stranger, "/staff/security-key/login", {"credential": "{}"})
        post(stranger, "/staff/login", {"username": "nobody", "password": "wrong"})
    with Session(engine) as s:
        assert len(s.exec(select(SecurityKeyChallenge)).all()) == before
    for _ in range(3 * security_keys.OPEN_CHALLENGES):
        password_step(new_client(), "anna")
    with Session(engine) as s:
        logins = s.exec(
            select(SecurityKeyChallenge).where(SecurityKeyChallenge.purpose == "login")
        ).all()
    assert len(logins) == security_keys.OPEN_CHALLENGES


def test_expired_challenges_are_swept_by_the_jobs(
    anna: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    anna.get("/staff/security-keys")
    later = utcnow() + security_keys.CHALLENGE_LIFETIME + dt.timedelta(seconds=1)
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        jobs.run(engine, settings=settings, client=client, now=later)
    with Session(engine) as s:
        assert s.exec(select(SecurityKeyChallenge)).all() == []


# --- the PRF output is a secret ---------------------------------------------------------------


def test_the_prf_output_reaches_no_log_audit_row_or_session(
    anna: TestClient,
    new_client: Callable[[], TestClient],
    world: World,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Register a PRF key and log in with it, logging everything; then look for its output
    (raw, hex, base64url) in the log, every column of every table, and the sessions' payloads."""
    caplog.set_level(logging.DEBUG)
    key = SoftKey()
    assert add_key(anna, key).status_code == 200
    browser = new_client()
    page = password_step(browser, "anna")
    assert key_step(browser, key, page).status_code == 303
    [stored] = _keys(engine, world.anna)
    assert stored.prf_salt is not None
    secret = key.prf_output(stored.prf_salt)
    markers = [secret, secret.hex().encode(), b64url(secret).encode()]
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert all(m not in logged for m in markers)
    with engine.connect() as conn:
        for name in inspect(engine).get_table_names():
            for row in conn.execute(sql_text(f"SELECT * FROM {name}")):
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    assert all(m not in raw for m in markers), name
    for client in (anna, browser):
        for cookie in (STAFF_COOKIE, PENDING_COOKIE):
            value = client.cookies.get(cookie)
            if not value:
                continue
            with Session(engine) as s:
                for kind in ("staff", "pending"):
                    loaded = sessions.load(s, value, kind=kind, idle=dt.timedelta(hours=1))
                    if loaded is not None:
                        assert all(m not in loaded.payload for m in markers)


# --- the required-key setting: what is left, on purpose ---------------------------------------


def test_an_account_with_no_factor_yet_registers_its_first_key_with_the_password(
    strict: Callable[[], TestClient], world: World, engine: Engine, keys: Keys
) -> None:
    """Trust on first use, as for the first TOTP enrolment (docs/threat-model.md §6.13): an
    investigator just activated, with no code app and no key, registers a key with the
    password alone; no code is asked for, since there is none."""
    with db.session_scope(engine) as s:
        accounts.create_active_user(
            s,
            username="dora",
            display_name="Dora",
            role="investigator",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
    browser = strict()
    response = post(browser, "/staff/login", {"username": "dora", "password": PASSWORD})
    assert response.headers["location"] == "/staff/security-key/enrol"
    page = browser.get("/staff/security-key/enrol")
    assert 'name="code"' not in page.text
    credential, prf = SoftKey().create(options_in(page.text))
    response = post(
        browser, "/staff/security-key/enrol", {"name": "k", "credential": credential, "prf": prf}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"


def test_a_login_begun_before_keys_were_required_starts_again(
    new_client: Callable[[], TestClient],
    strict: Callable[[], TestClient],
    world: World,
    engine: Engine,
) -> None:
    """The setting is switched on while Anna's login waits for its code: the login has no
    permission to register a key, so she is sent back to the password (no redirect loop)."""
    before = new_client()
    password_step(before, "anna")
    after = strict()
    for cookie in before.cookies.jar:
        after.cookies.jar.set_cookie(cookie)
    assert after.get("/staff/second-factor").headers["location"] == "/staff/security-key/enrol"
    assert after.get("/staff/security-key/enrol").headers["location"] == "/staff/login"
    assert _keys(engine, world.anna) == []


def test_a_stolen_session_cannot_guess_the_password_through_the_key_forms(
    anna: TestClient, new_client: Callable[[], TestClient]
) -> None:
    for guess in range(10):
        page = anna.get("/staff/security-keys")
        credential, prf = SoftKey().create(options_in(page.text))
        wrong = post(
            anna,
            "/staff/security-keys/add",
            {"name": "k", "password": f"guess {guess}", "credential": credential, "prf": prf},
        )
        assert wrong.status_code == 400
        assert text(message("wrong-password")) in wrong.text
    page = anna.get("/staff/security-keys")
    credential, prf = SoftKey().create(options_in(page.text))
    right = post(
        anna,
        "/staff/security-keys/add",
        {"name": "k", "password": PASSWORD, "credential": credential, "prf": prf},
    )
    assert right.status_code == 400
    assert text(message("password-locked")) in right.text
    owner = new_client()
    locked = post(owner, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert text(message("password-locked")) in locked.text
