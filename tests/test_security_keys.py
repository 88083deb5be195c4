"""Security keys (WebAuthn) on the server: registering, logging in, PRF wraps, and every
refusal the issue names — another origin, a replayed answer, an old counter, another account's
key, a cancelled ceremony — each counted like a wrong code, nothing half-saved.

The answers come from a software authenticator (tests/authenticator.py), which can also answer
the way no honest browser would. The real browser runs in tests/e2e/test_security_keys.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.authenticator import SoftKey, b64url, options_in
from tests.helpers import CHEAP_ARGON2, PASSWORD, World, login_staff, post, totp_code
from whistle import accounts, crypto, i18n, security_keys, sessions
from whistle.app import create_app
from whistle.keys import Keys
from whistle.models import SecurityKey, SecurityKeyChallenge, User, utcnow
from whistle.settings import Settings
from whistle.web import security_keys as web
from whistle.web.auth import E_KEY_REQUIRED, PENDING_COOKIE, STAFF_COOKIE
from whistle.web.errors import message


def text(message: str) -> str:
    """A message as the (Swedish, default) page shows it, HTML-escaped like the page."""
    token = i18n.set_locale("sv")
    try:
        shown = i18n.gettext(message)
    finally:
        i18n.reset_locale(token)
    return shown.replace("'", "&#39;").replace('"', "&#34;")


def _user(engine: Engine, user_id: str) -> User:
    with Session(engine) as s:
        user = s.get(User, user_id)
        assert user is not None
        return user


def _keys(engine: Engine, user_id: str) -> list[SecurityKey]:
    with Session(engine) as s:
        return list(s.exec(select(SecurityKey).where(SecurityKey.user_id == user_id)).all())


def add_key(client: TestClient, key: SoftKey, *, name: str = "blue key", **answer: str):
    page = client.get("/staff/security-keys")
    assert page.status_code == 200
    credential, prf = key.create(options_in(page.text), **answer)
    return post(
        client,
        "/staff/security-keys/add",
        {"name": name, "password": PASSWORD, "credential": credential, "prf": prf},
    )


def password_step(client: TestClient, username: str) -> str:
    """The password step; the second step's page."""
    response = post(client, "/staff/login", {"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/staff/second-factor"
    page = client.get("/staff/second-factor")
    assert page.status_code == 200
    return page.text


def key_step(client: TestClient, key: SoftKey, page: str, **answer: str):
    credential, prf = key.get(options_in(page), **answer)
    return post(client, "/staff/security-key/login", {"credential": credential, "prf": prf})


def staff_private_key(client: TestClient, engine: Engine) -> bytes:
    """What the logged-in session holds: the investigator's unlocked private key."""
    with Session(engine) as s:
        loaded = sessions.load(
            s, client.cookies.get(STAFF_COOKIE), kind="staff", idle=dt.timedelta(minutes=30)
        )
        assert loaded is not None
        return loaded.payload


def failures(engine: Engine, user_id: str) -> int:
    return _user(engine, user_id).factor_failures


@pytest.fixture
def anna(client: TestClient, world: World) -> TestClient:
    login_staff(client, "anna")
    return client


def test_prf_key_registers_then_logs_in_and_unlocks(
    anna: TestClient, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    before = _user(engine, world.anna)
    key = SoftKey()
    response = add_key(anna, key)
    assert response.status_code == 200, response.text
    assert text("The security key has been added.") in response.text
    [stored] = _keys(engine, world.anna)
    assert stored.name == "blue key"
    assert stored.prf_salt
    assert stored.private_key_sealed
    assert stored.sign_count == 1
    assert stored.last_used_at is None
    # The password-only wrap is gone: from now on the password alone unlocks nothing.
    assert _user(engine, world.anna).private_key_sealed is None
    assert b"PRF" not in stored.private_key_sealed  # (a sealed blob, nothing readable)

    browser = new_client()
    page = password_step(browser, "anna")
    assert 'action="/staff/security-key/login"' in page
    assert 'name="code"' not in page  # no TOTP form: a code could not unlock the key
    response = key_step(browser, key, page)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/inbox"
    assert crypto.public_key_of(staff_private_key(browser, engine)) == before.public_key
    [used] = _keys(engine, world.anna)
    assert used.sign_count == 2
    assert used.last_used_at is not None
    assert failures(engine, world.anna) == 0


def test_database_and_password_alone_cannot_unwrap_a_prf_key(
    anna: TestClient, world: World, engine: Engine, keys: Keys
) -> None:
    """The thief with a copy of the database, keys/ and the password (a keylogger, say):
    every wrap the row holds is tried with the password's key, and none opens."""
    key = SoftKey()
    assert add_key(anna, key).status_code == 200
    user = _user(engine, world.anna)
    [stored] = _keys(engine, world.anna)
    assert stored.private_key_sealed is not None
    assert stored.prf_salt is not None
    assert user.password_salt is not None
    kek = crypto.derive_login_keys(
        PASSWORD, user.password_salt, CHEAP_ARGON2, password_key=keys.password_key
    ).current.kek
    assert user.private_key_sealed is None
    for guess in (bytes(32), crypto.digest(stored.prf_salt), stored.prf_salt):
        with pytest.raises(crypto.CryptoError):
            crypto.open_with_security_key(
                stored.private_key_sealed,
                kek=kek,
                prf_output=guess,
                user_id=user.id,
                key_id=stored.id,
            )
    # The salt is stored; the key's output for it is not, anywhere in the row.
    secret = key.prf_output(stored.prf_salt)
    for column in (stored.private_key_sealed, stored.public_key, stored.credential_id):
        assert secret not in column
    # With the key's output it opens: the test above failed for the right reason.
    private = crypto.open_with_security_key(
        stored.private_key_sealed, kek=kek, prf_output=secret, user_id=user.id, key_id=stored.id
    )
    assert crypto.public_key_of(private) == user.public_key


def test_prf_account_cannot_log_in_with_totp(
    anna: TestClient, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    assert add_key(anna, SoftKey()).status_code == 200
    browser = new_client()
    password_step(browser, "anna")
    response = post(browser, "/staff/second-factor", {"code": totp_code(browser, "anna")})
    assert response.status_code == 400
    assert text(E_KEY_REQUIRED) in response.text
    assert STAFF_COOKIE not in browser.cookies


def test_key_without_prf_is_a_second_factor_only(
    anna: TestClient, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    key = SoftKey(prf=False)
    assert add_key(anna, key).status_code == 200
    [stored] = _keys(engine, world.anna)
    assert stored.private_key_sealed is None
    assert stored.prf_salt is None
    assert _user(engine, world.anna).private_key_sealed is not None  # password still opens it
    browser = new_client()
    response = key_step(browser, key, password_step(browser, "anna"))
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"
    assert crypto.public_key_of(staff_private_key(browser, engine)) == (
        _user(engine, world.anna).public_key
    )
    # TOTP still works for this account.
    other = new_client()
    login_staff(other, "anna")


def _refused(
    response: object, engine: Engine, user_id: str, code: str, *, counted: int = 1
) -> None:
    assert response.status_code == 400, response.text
    assert text(message(code)) in response.text
    assert failures(engine, user_id) == counted


@pytest.fixture
def anna_with_key(anna: TestClient, world: World) -> SoftKey:
    key = SoftKey()
    assert add_key(anna, key).status_code == 200
    return key


def test_answer_for_another_origin_is_refused_and_counted(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """A phishing site relays our challenge: the browser puts its own origin in the answer."""
    browser = new_client()
    page = password_step(browser, "anna")
    response = key_step(browser, anna_with_key, page, origin="https://whistle.example.net")
    _refused(response, engine, world.anna, "invalid")
    assert STAFF_COOKIE not in browser.cookies
    [stored] = _keys(engine, world.anna)
    assert stored.sign_count == 1
    assert stored.last_used_at is None


def test_replayed_answer_is_refused(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    first = new_client()
    credential, prf = anna_with_key.get(options_in(password_step(first, "anna")))
    ok = post(first, "/staff/security-key/login", {"credential": credential, "prf": prf})
    assert ok.status_code == 303
    # A recorded answer sent again, in a new login: its challenge was used.
    thief = new_client()
    password_step(thief, "anna")
    again = post(thief, "/staff/security-key/login", {"credential": credential, "prf": prf})
    _refused(again, engine, world.anna, "expired")
    assert STAFF_COOKIE not in thief.cookies


def test_counter_that_does_not_grow_is_refused(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """A clone of the key answers with the counter it had when it was copied."""
    browser = new_client()
    page = password_step(browser, "anna")
    anna_with_key.count = 0  # the next answer carries 1, which the server has seen
    _refused(key_step(browser, anna_with_key, page), engine, world.anna, "cloned")
    assert _keys(engine, world.anna)[0].sign_count == 1


def test_backup_eligibility_that_changes_is_refused(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    browser = new_client()
    page = password_step(browser, "anna")
    anna_with_key.backup_eligible = True
    _refused(key_step(browser, anna_with_key, page), engine, world.anna, "cloned")


def test_another_accounts_key_is_refused(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    bertil = new_client()
    login_staff(bertil, "bertil")
    assert add_key(bertil, SoftKey()).status_code == 200
    browser = new_client()
    page = password_step(browser, "bertil")  # Bertil's challenge, Anna's key
    _refused(key_step(browser, anna_with_key, page), engine, world.bertil, "unknown-key")
    assert STAFF_COOKIE not in browser.cookies


def test_cancelled_ceremony_is_a_clear_message_and_counted(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    browser = new_client()
    password_step(browser, "anna")
    response = post(browser, "/staff/security-key/login", {"outcome": "cancelled"})
    _refused(response, engine, world.anna, "cancelled")
    assert 'action="/staff/security-key/login"' in response.text  # try again from here
    # Malformed answers cost nothing to check and count the same.
    for junk in ("{", '{"id": "x"}', "x" * 20_000):
        post(browser, "/staff/security-key/login", {"credential": junk})
    assert failures(engine, world.anna) == 4


def test_wrong_answers_use_up_the_accounts_budget(
    anna_with_key: SoftKey, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    """Five wrong answers lock the second step for the account, the right key too, whatever
    login they come from (the budget TOTP codes use)."""
    for _ in range(5):
        browser = new_client()
        page = password_step(browser, "anna")
        key_step(browser, anna_with_key, page, origin="https://evil.example")
    browser = new_client()
    response = key_step(browser, anna_with_key, password_step(browser, "anna"))
    assert response.status_code == 429
    assert STAFF_COOKIE not in browser.cookies


def test_registration_refusals_save_nothing(anna: TestClient, world: World, engine: Engine) -> None:
    response = add_key(anna, SoftKey(), origin="https://evil.example")
    assert response.status_code == 400
    assert text(message("invalid")) in response.text
    wrong = anna.get("/staff/security-keys")
    credential, prf = SoftKey().create(options_in(wrong.text))
    response = post(
        anna,
        "/staff/security-keys/add",
        {"name": "k", "password": "not the password", "credential": credential, "prf": prf},
    )
    assert text(message("wrong-password")) in response.text
    response = add_key(anna, SoftKey(), name="  ")
    assert text(message("invalid-name")) in response.text
    assert _keys(engine, world.anna) == []
    assert _user(engine, world.anna).private_key_sealed is not None
    # The same key twice: refused, the first stays.
    key = SoftKey()
    assert add_key(anna, key).status_code == 200
    response = add_key(anna, key)
    assert text(message("duplicate")) in response.text
    assert len(_keys(engine, world.anna)) == 1


def test_registration_answer_cannot_be_replayed(
    anna: TestClient, world: World, engine: Engine
) -> None:
    page = anna.get("/staff/security-keys")
    credential, prf = SoftKey().create(options_in(page.text))
    data = {"name": "k", "password": PASSWORD, "credential": credential, "prf": prf}
    assert post(anna, "/staff/security-keys/add", data).status_code == 200
    with Session(engine) as s:
        s.exec(select(SecurityKey)).one()
        # Removed by hand, so only the used challenge stands in the way.
        for row in s.exec(select(SecurityKey)).all():
            s.delete(row)
        s.commit()
    response = post(anna, "/staff/security-keys/add", data)
    assert text(message("expired")) in response.text
    assert _keys(engine, world.anna) == []


def test_challenge_expires(anna: TestClient, world: World, engine: Engine) -> None:
    page = anna.get("/staff/security-keys")
    credential, prf = SoftKey().create(options_in(page.text))
    later = utcnow() + security_keys.CHALLENGE_LIFETIME + dt.timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        response = post(
            anna,
            "/staff/security-keys/add",
            {"name": "k", "password": PASSWORD, "credential": credential, "prf": prf},
        )
    assert text(message("expired")) in response.text


def test_removing_needs_a_fresh_login_with_another_factor(
    new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    totp_browser = new_client()
    login_staff(totp_browser, "anna")
    first, second = SoftKey(), SoftKey()
    assert add_key(totp_browser, first, name="first").status_code == 200
    assert add_key(totp_browser, second, name="second").status_code == 200
    first_id, second_id = (k.id for k in sorted(_keys(engine, world.anna), key=lambda k: k.name))

    with_first = new_client()
    assert key_step(with_first, first, password_step(with_first, "anna")).status_code == 303
    refused = post(with_first, f"/staff/security-keys/{first_id}/remove", {"password": PASSWORD})
    assert refused.status_code == 400
    assert text(message("not-fresh")) in refused.text
    wrong = post(with_first, f"/staff/security-keys/{second_id}/remove", {"password": "nope"})
    assert text(message("wrong-password")) in wrong.text
    assert len(_keys(engine, world.anna)) == 2
    # Another account's key is not found through this one.
    bertil = new_client()
    login_staff(bertil, "bertil")
    foreign = post(bertil, f"/staff/security-keys/{second_id}/remove", {"password": PASSWORD})
    assert text(message("not-fresh")) not in foreign.text
    assert foreign.status_code == 400
    assert len(_keys(engine, world.anna)) == 2

    done = post(with_first, f"/staff/security-keys/{second_id}/remove", {"password": PASSWORD})
    assert done.status_code == 200
    assert text("The security key has been removed.") in done.text
    assert [k.id for k in _keys(engine, world.anna)] == [first_id]
    # Ten minutes on, the login is not fresh any more, whatever factor it used.
    later = utcnow() + web.FRESH_LOGIN + dt.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        stale = post(
            totp_browser, f"/staff/security-keys/{first_id}/remove", {"password": PASSWORD}
        )
    assert text(message("not-fresh")) in stale.text


def test_password_change_keeps_the_prf_key_working(
    anna: TestClient, new_client: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    key = SoftKey()
    assert add_key(anna, key).status_code == 200
    new = "a completely different passphrase"
    response = post(anna, "/staff/password", {"current": PASSWORD, "password": new, "confirm": new})
    assert response.status_code == 200, response.text
    browser = new_client()
    post(browser, "/staff/login", {"username": "anna", "password": new})
    page = browser.get("/staff/second-factor").text
    assert key_step(browser, key, page).status_code == 303
    assert crypto.public_key_of(staff_private_key(browser, engine)) == (
        _user(engine, world.anna).public_key
    )


def test_recovery_code_recovers_and_forgets_every_key(
    client: TestClient, world: World, engine: Engine, keys: Keys
) -> None:
    """Losing every key is a forgotten password: the recovery code opens the private key,
    the keys are removed, and the password-only wrap is back."""
    with Session(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        prepared = accounts.prepare(PASSWORD, CHEAP_ARGON2, password_key=keys.password_key)
        assert prepared.recovery is not None
        private = crypto.open_sealed(
            crypto.derive_peppered_password_keys(
                PASSWORD, user.password_salt or b"", CHEAP_ARGON2, password_key=keys.password_key
            ).kek,
            user.private_key_sealed or b"",
            purpose="private-key",
            case_id="",
            item_id=user.id,
        )
        code = accounts._issue_recovery_code(user, private=private, recovery=prepared.recovery)
        s.add(user)
        s.commit()
    login_staff(client, "anna")
    assert add_key(client, SoftKey()).status_code == 200
    assert _user(engine, world.anna).private_key_sealed is None
    new = "a brand new passphrase here"
    response = post(
        client,
        "/staff/recover",
        {"username": "anna", "recovery_code": code, "password": new, "confirm": new},
    )
    assert response.status_code == 200, response.text
    assert (
        text(
            "Any security keys of your account have been removed: register them again on the "
            "security keys page once you are logged in."
        )
        in response.text
    )
    assert _keys(engine, world.anna) == []
    with Session(engine) as s:
        assert s.exec(select(SecurityKeyChallenge)).all() == []
    assert _user(engine, world.anna).private_key_sealed is not None


# --- WHISTLE_REQUIRE_SECURITY_KEY --------------------------------------------------------


@pytest.fixture
def strict(settings: Settings, engine: Engine, keys: Keys) -> Iterator[Callable[[], TestClient]]:
    app = create_app(settings.replace(require_security_key=True), engine=engine, keys=keys)
    opened: list[TestClient] = []

    def make() -> TestClient:
        browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
        browser.__enter__()
        opened.append(browser)
        return browser

    yield make
    for browser in opened:
        browser.__exit__(None, None, None)


def test_required_key_refuses_totp_and_enrols_a_first_key(
    strict: Callable[[], TestClient], world: World, engine: Engine
) -> None:
    browser = strict()
    response = post(browser, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert response.headers["location"] == "/staff/security-key/enrol"
    # The published or stolen TOTP secret does not get in.
    refused = post(browser, "/staff/second-factor", {"code": totp_code(browser, "anna")})
    assert STAFF_COOKIE not in browser.cookies
    assert refused.status_code in {303, 400}
    page = browser.get("/staff/security-key/enrol")
    assert page.status_code == 200
    key = SoftKey()
    credential, prf = key.create(options_in(page.text))
    # Anna has a code app, so her first key takes its code too (the password alone must not).
    response = post(
        browser,
        "/staff/security-key/enrol",
        {
            "name": "blue key",
            "credential": credential,
            "prf": prf,
            "code": totp_code(browser, "anna"),
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"
    assert _user(engine, world.anna).private_key_sealed is None
    # Next time: the key, and never a code.
    again = strict()
    page_text = password_step(again, "anna")
    assert 'name="code"' not in page_text
    refused = post(again, "/staff/second-factor", {"code": totp_code(again, "anna")})
    assert refused.status_code == 400
    assert text(E_KEY_REQUIRED) in refused.text
    assert key_step(again, key, page_text).status_code == 303
    # Someone with only the password cannot register a key of their own now.
    thief = strict()
    post(thief, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert thief.get("/staff/security-key/enrol").headers["location"] == "/staff/second-factor"
    with Session(engine) as s:
        rp = security_keys.relying_party("https://testserver", name="Testkommunen")
        offered = security_keys.registration_options(
            s,
            user=_user(engine, world.anna),
            rp=rp,
            session_secret=thief.cookies.get(PENDING_COOKIE) or "",
        )
        s.commit()
    intruder, prf = SoftKey().create(offered)
    response = post(
        thief, "/staff/security-key/enrol", {"name": "mine", "credential": intruder, "prf": prf}
    )
    assert response.headers["location"] == "/staff/second-factor"
    assert len(_keys(engine, world.anna)) == 1


def test_required_key_leaves_administrators_on_totp(
    strict: Callable[[], TestClient], world: World
) -> None:
    browser = strict()
    response = post(browser, "/staff/login", {"username": "admin", "password": PASSWORD})
    assert response.headers["location"] == "/staff/second-factor"
    response = post(browser, "/staff/second-factor", {"code": totp_code(browser, "admin")})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"


def test_demo_mode_keeps_totp() -> None:
    settings = Settings.from_env({"WHISTLE_REQUIRE_SECURITY_KEY": "true"}, demo=True)
    assert settings.require_security_key
    assert not settings.security_key_required
    assert Settings.from_env({"WHISTLE_REQUIRE_SECURITY_KEY": "true"}).security_key_required


def test_relying_party_comes_from_the_base_url() -> None:
    rp = security_keys.relying_party("https://visslan.example.se/", name="Kommunen")
    assert (rp.rp_id, rp.origin) == ("visslan.example.se", "https://visslan.example.se")
    rp = security_keys.relying_party("http://localhost:8000", name="")
    assert (rp.rp_id, rp.origin, rp.name) == ("localhost", "http://localhost:8000", "localhost")


def test_prf_output_is_checked_for_shape() -> None:
    assert security_keys.decode_prf("") is None
    assert security_keys.decode_prf(b64url(bytes(32))) == bytes(32)
    for bad in ("***", b64url(bytes(31)), b64url(bytes(64))):
        with pytest.raises(security_keys.SecurityKeyError):
            security_keys.decode_prf(bad)


def test_only_security_key_pages_may_run_a_script(client: TestClient, world: World) -> None:
    login_staff(client, "anna")
    page = client.get("/staff/security-keys")
    assert page.headers["content-security-policy"].endswith("; script-src 'self'")
    assert '<script src="/static/webauthn.js" defer></script>' in page.text
    assert "<script>" not in page.text  # never inline code
    script = client.get("/static/webauthn.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    for other in ("/inbox", "/staff/password"):
        response = client.get(other)
        assert "script-src" not in response.headers["content-security-policy"]
        assert "<script" not in response.text


def test_reloading_a_page_keeps_only_a_few_challenges(
    anna: TestClient, world: World, engine: Engine
) -> None:
    first = options_in(anna.get("/staff/security-keys").text)
    for _ in range(3 * security_keys.OPEN_CHALLENGES):
        anna.get("/staff/security-keys")
    with Session(engine) as s:
        rows = s.exec(select(SecurityKeyChallenge)).all()
    assert len(rows) == security_keys.OPEN_CHALLENGES
    # The oldest went first: an answer to it is refused.
    credential, prf = SoftKey().create(first)
    response = post(
        anna,
        "/staff/security-keys/add",
        {"name": "k", "password": PASSWORD, "credential": credential, "prf": prf},
    )
    assert text(message("expired")) in response.text
