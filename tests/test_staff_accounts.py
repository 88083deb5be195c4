"""Staff accounts on the web: activation, TOTP enrolment and checks, password change,
recovery, throttling, logout everywhere."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.helpers import (
    CHEAP_ARGON2,
    PASSWORD,
    TOTP_SECRET,
    World,
    login_staff,
    post,
    submit_report,
    totp_code,
)
from whistle import accounts, crypto, db, second_factor
from whistle.keys import Keys
from whistle.models import AuditEntry, User, WebSession, utcnow

NEW_PASSWORD = "a brand new long passphrase"


def invite(engine: Engine, username: str) -> str:
    with db.session_scope(engine) as s:
        invitation = accounts.create_user(
            s, username=username, display_name=username.title(), role="investigator"
        )
    return invitation.token


def enrolment_secret(html: str) -> bytes:
    match = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html)
    assert match, "the enrolment page shows the key as text"
    text = match.group(1).replace(" ", "")
    return base64.b32decode(text + "=" * (-len(text) % 8))


def test_activation_enrolment_and_login_end_to_end(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    token = invite(engine, "erik")
    browser = new_client()
    page = browser.get(f"/activate/{token}")
    assert page.status_code == 200
    assert "Erik" in page.text
    short = post(browser, f"/activate/{token}", {"password": "short", "confirm": "short"})
    assert short.status_code == 400
    assert "minst 12 tecken" in short.text
    done = post(browser, f"/activate/{token}", {"password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 200
    assert re.search(r"<strong>([A-Z2-9]{5} ){4}[A-Z2-9]{5}</strong>", done.text)
    # The link works once.
    assert browser.get(f"/activate/{token}").status_code == 404
    # First login: password, then enrolment with a server-rendered QR code.
    step1 = post(browser, "/staff/login", {"username": "erik", "password": PASSWORD})
    assert step1.status_code == 303
    assert step1.headers["location"] == "/staff/enrol"
    enrol = browser.get("/staff/enrol")
    assert enrol.status_code == 200
    assert "<svg" in enrol.text
    assert "<script" not in enrol.text
    secret = enrolment_secret(enrol.text)
    wrong = post(browser, "/staff/enrol", {"code": "000000"})
    assert wrong.status_code == 400
    code = crypto.totp_code(secret, at=time.time())
    ok = post(browser, "/staff/enrol", {"code": code})
    assert ok.status_code == 303
    assert ok.headers["location"] == "/inbox"
    assert browser.get("/inbox").status_code == 200
    with Session(engine) as s:
        user = s.execute(select(User).where(User.username == "erik")).scalar_one()
        assert user.totp_sealed is not None
        assert secret not in user.totp_sealed
    # Second login asks for the code, and the code just used is refused (replay).
    other = new_client()
    post(other, "/staff/login", {"username": "erik", "password": PASSWORD})
    replay = post(other, "/staff/second-factor", {"code": code})
    assert replay.status_code == 400
    assert "redan använts" in replay.text
    fresh = crypto.totp_code(secret, at=time.time() + crypto.TOTP_STEP)
    assert post(other, "/staff/second-factor", {"code": fresh}).status_code == 303


def test_wrong_totp_is_rejected_and_limited(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    browser = new_client()
    step1 = post(browser, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert step1.headers["location"] == "/staff/second-factor"
    for _ in range(4):
        assert post(browser, "/staff/second-factor", {"code": "123456"}).status_code in {400}
    # The fifth wrong code ends the pending login: back to the password.
    last = post(browser, "/staff/second-factor", {"code": "123456"})
    assert last.status_code == 303
    assert last.headers["location"] == "/staff/login"
    assert browser.get("/inbox").headers["location"] == "/staff/login"


def test_password_alone_is_not_a_login(world: World, client: TestClient) -> None:
    post(client, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert client.get("/inbox").status_code == 303


def test_login_throttle_per_account(world: World, client: TestClient) -> None:
    for _ in range(10):
        wrong = post(client, "/staff/login", {"username": "anna", "password": "nope" * 4})
        assert wrong.status_code == 400
    locked = post(client, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert locked.status_code == 400
    assert "15 minuter" in locked.text


def test_password_change_reseals_key_and_second_factor(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    submit_report(new_client(), world.bribery, what="Readable after change")
    anna = new_client()
    login_staff(anna, "anna")
    bad = post(
        anna,
        "/staff/password",
        {"current": "wrong password!", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert bad.status_code == 400
    ok = post(
        anna,
        "/staff/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert ok.status_code == 200
    again = new_client()
    assert (
        post(again, "/staff/login", {"username": "anna", "password": PASSWORD}).status_code == 400
    )
    login_staff(again, "anna", NEW_PASSWORD)  # the same TOTP secret still works
    [case_id] = re.findall(r'href="/cases/([0-9a-f]{32})"', again.get("/inbox").text)
    assert "Readable after change" in again.get(f"/cases/{case_id}").text


def test_recovery_code_restores_access_and_requires_new_second_factor(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    submit_report(new_client(), world.bribery, what="Recovered marker")
    with db.session_scope(engine) as s:
        # The fixture's activation showed Anna's recovery code once and kept no copy, so seal
        # her private key under a code this test knows, exactly as activation does.
        user = s.execute(select(User).where(User.username == "anna")).scalar_one()
        known = crypto.random_string(accounts.RECOVERY_ALPHABET, accounts.RECOVERY_LEN)
        who = accounts.authenticate(
            s,
            username="anna",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        salt = b"r" * 16
        derived = crypto.derive_peppered_password_keys(
            known, salt, CHEAP_ARGON2, password_key=keys.password_key
        )
        user.recovery_salt = salt
        user.recovery_sealed = crypto.seal(
            derived.kek,
            who.private_key,
            purpose="private-key-recovery",
            case_id="",
            item_id=user.id,
        )
        s.add(user)
    anna = new_client()
    login_staff(anna, "anna")
    wrong = post(
        anna,
        "/staff/recover",
        {
            "username": "anna",
            "recovery_code": "AAAAA" * 5,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 400
    grouped = " ".join(known[i : i + 5] for i in range(0, 25, 5))
    done = post(
        anna,
        "/staff/recover",
        {
            "username": "anna",
            "recovery_code": grouped.lower(),
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert done.status_code == 200
    new_code = re.search(r"<strong>((?:[A-Z2-9]{5} ){4}[A-Z2-9]{5})</strong>", done.text)
    assert new_code
    assert new_code.group(1).replace(" ", "") != known
    # Every session ended, including the one that was logged in.
    assert anna.get("/inbox").status_code == 303
    # The second factor must be set up again; then the old cases open.
    browser = new_client()
    step1 = post(browser, "/staff/login", {"username": "anna", "password": NEW_PASSWORD})
    assert step1.headers["location"] == "/staff/enrol"
    secret = enrolment_secret(browser.get("/staff/enrol").text)
    assert secret != TOTP_SECRET
    ok = post(browser, "/staff/enrol", {"code": crypto.totp_code(secret, at=time.time())})
    assert ok.status_code == 303
    [case_id] = re.findall(r'href="/cases/([0-9a-f]{32})"', browser.get("/inbox").text)
    assert "Recovered marker" in browser.get(f"/cases/{case_id}").text


def test_logout_everywhere(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    first, second = new_client(), new_client()
    login_staff(first, "anna")
    login_staff(second, "anna")
    assert second.get("/inbox").status_code == 200
    assert post(first, "/staff/logout-everywhere", {}).status_code == 303
    assert second.get("/inbox").status_code == 303
    assert first.get("/inbox").status_code == 303
    with Session(engine) as s:
        assert s.execute(select(WebSession).where(WebSession.user_id == world.anna)).first() is None


# --- finding 7: second-factor guesses are bounded per account --------------------------------


def test_second_factor_failures_across_fresh_logins_lock_the_account(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    """Three password logins with four wrong codes each stay under the per-login limit; the
    account's own budget still locks the second step, and then the right code is refused."""
    for _ in range(3):
        browser = new_client()
        step1 = post(browser, "/staff/login", {"username": "anna", "password": PASSWORD})
        assert step1.headers["location"] == "/staff/second-factor"
        for _ in range(4):
            wrong = post(browser, "/staff/second-factor", {"code": "000000"})
            assert wrong.status_code in {400, 429}
    with Session(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        assert user.factor_locked_until is not None
        # Counted until the lock; the tries refused while locked are not.
        assert user.factor_failures == second_factor.FACTOR_BUDGET
    browser = new_client()
    post(browser, "/staff/login", {"username": "anna", "password": PASSWORD})
    right = post(browser, "/staff/second-factor", {"code": totp_code(browser, "anna")})
    assert right.status_code == 429
    assert "För många felaktiga koder" in right.text
    assert browser.get("/inbox").status_code == 303  # not logged in
    with Session(engine) as s:
        assert (
            s.exec(
                select(WebSession).where(
                    WebSession.user_id == world.anna, WebSession.kind == "staff"
                )
            ).first()
            is None
        )
    # When the lock has ended, the right code logs in and the count starts again.
    with db.session_scope(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        user.factor_locked_until = utcnow() - dt.timedelta(seconds=1)
    again = post(browser, "/staff/second-factor", {"code": totp_code(browser, "anna")})
    assert again.status_code == 303
    assert again.headers["location"] == "/inbox"
    with Session(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        assert user.factor_failures == 0
        assert user.factor_locked_until is None


def test_locked_second_factor_is_shown_in_english(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    with db.session_scope(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        user.factor_locked_until = utcnow() + dt.timedelta(minutes=5)
    browser = new_client()
    browser.cookies.set("whistle_lang", "en")
    post(browser, "/staff/login", {"username": "anna", "password": PASSWORD})
    locked = post(browser, "/staff/second-factor", {"code": totp_code(browser, "anna")})
    assert locked.status_code == 429
    assert "Too many wrong codes" in locked.text


# --- finding 3: common passwords, and the upgrade of old accounts ----------------------------


def test_common_password_is_refused_at_activation_and_change_with_a_translated_message(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    token = invite(engine, "erik")
    browser = new_client()
    refused = post(
        browser, f"/activate/{token}", {"password": "Password123!", "confirm": "Password123!"}
    )
    assert refused.status_code == 400
    assert "vanligaste eller läckta lösenorden" in refused.text
    browser.cookies.set("whistle_lang", "en")
    refused = post(
        browser, f"/activate/{token}", {"password": "sommar2024", "confirm": "sommar2024"}
    )
    assert refused.status_code == 400
    assert "most common or leaked passwords" in refused.text
    with Session(engine) as s:
        erik = s.exec(select(User).where(User.username == "erik")).one()
        assert erik.status == "invited"
        assert erik.password_verifier is None
    anna = new_client()
    login_staff(anna, "anna")
    changed = post(
        anna,
        "/staff/password",
        {"current": PASSWORD, "password": "Sommar2024!!", "confirm": "Sommar2024!!"},
    )
    assert changed.status_code == 400
    assert "vanligaste" in changed.text
    login_staff(new_client(), "anna")  # the old password still works


def test_old_scheme_account_logs_in_on_the_web_and_is_upgraded(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    submit_report(new_client(), world.bribery, what="Upgrade marker")
    with db.session_scope(engine) as s:
        who = accounts.authenticate(
            s,
            username="anna",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        user = who.user
        assert user.password_salt is not None
        legacy = crypto.derive_password_keys(PASSWORD, user.password_salt, CHEAP_ARGON2)
        user.password_scheme, user.password_verifier = 1, legacy.verifier
        for field, purpose, value in (
            ("private_key_sealed", "private-key", who.private_key),
            ("totp_sealed", "totp-secret", TOTP_SECRET),
        ):
            sealed = crypto.seal(legacy.kek, value, purpose=purpose, case_id="", item_id=user.id)
            setattr(user, field, sealed)
        s.add(user)
    anna = new_client()
    login_staff(anna, "anna")
    [case_id] = re.findall(r'href="/cases/([0-9a-f]{32})"', anna.get("/inbox").text)
    assert "Upgrade marker" in anna.get(f"/cases/{case_id}").text
    with Session(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        assert user.password_scheme == 2
        assert user.private_key_sealed is not None
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(
                legacy.kek,
                user.private_key_sealed,
                purpose="private-key",
                case_id="",
                item_id=user.id,
            )
    login_staff(new_client(), "anna")  # and the upgraded row logs in again


def test_old_scheme_recovery_code_on_the_web_ends_on_the_peppered_scheme_and_lifts_the_lock(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    # The web derives the code's keys outside the transaction (accounts.check_recovery with a
    # proof): both schemes must come from that one derivation, the new password and code must
    # be peppered, and the second factor's account-wide lock must go, as accounts.recover does.
    submit_report(new_client(), world.bribery, what="Old code marker")
    known = crypto.random_string(accounts.RECOVERY_ALPHABET, accounts.RECOVERY_LEN)
    with db.session_scope(engine) as s:
        who = accounts.authenticate(
            s,
            username="anna",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        user = who.user
        salt = b"o" * 16
        legacy = crypto.derive_password_keys(known, salt, CHEAP_ARGON2)
        user.recovery_salt, user.recovery_scheme = salt, 1
        user.recovery_sealed = crypto.seal(
            legacy.kek, who.private_key, purpose="private-key-recovery", case_id="", item_id=user.id
        )
        user.factor_failures = 2 * second_factor.FACTOR_BUDGET
        user.factor_locked_until = utcnow() + dt.timedelta(hours=6)
        s.add(user)
    fields = {"username": "anna", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    done = post(new_client(), "/staff/recover", {**fields, "recovery_code": known})
    assert done.status_code == 200, done.text
    found = re.search(r"<strong>((?:[A-Z2-9]{5} ){4}[A-Z2-9]{5})</strong>", done.text)
    assert found
    new_code = found.group(1).replace(" ", "")
    with Session(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        assert user.password_salt
        assert user.recovery_salt
        assert user.password_scheme == 2
        assert user.recovery_scheme == 2
        assert user.factor_failures == 0
        assert user.factor_locked_until is None
        assert user.password_verifier
        assert user.recovery_sealed
        assert user.private_key_sealed
        # Neither the new password nor the new code opens anything without the password key.
        bare = crypto.derive_password_keys(NEW_PASSWORD, user.password_salt, CHEAP_ARGON2)
        assert bare.verifier != user.password_verifier
        bare_code = crypto.derive_password_keys(new_code, user.recovery_salt, CHEAP_ARGON2)
        for key, sealed, purpose in (
            (bare.kek, user.private_key_sealed, "private-key"),
            (bare_code.kek, user.recovery_sealed, "private-key-recovery"),
        ):
            with pytest.raises(crypto.CryptoError):
                crypto.open_sealed(key, sealed, purpose=purpose, case_id="", item_id=user.id)
        peppered = crypto.derive_peppered_password_keys(
            NEW_PASSWORD, user.password_salt, CHEAP_ARGON2, password_key=keys.password_key
        )
        assert peppered.verifier == user.password_verifier
    # The old code was used once: it opens nothing now.
    again = post(new_client(), "/staff/recover", {**fields, "recovery_code": known})
    assert again.status_code == 400
    # The new password logs in; the second factor is enrolled again and the case opens.
    browser = new_client()
    step1 = post(browser, "/staff/login", {"username": "anna", "password": NEW_PASSWORD})
    assert step1.headers["location"] == "/staff/enrol"
    secret = enrolment_secret(browser.get("/staff/enrol").text)
    ok = post(browser, "/staff/enrol", {"code": crypto.totp_code(secret, at=time.time())})
    assert ok.status_code == 303
    [case_id] = re.findall(r'href="/cases/([0-9a-f]{32})"', browser.get("/inbox").text)
    assert "Old code marker" in browser.get(f"/cases/{case_id}").text


# --- finding 11: a password change ends the other sessions -----------------------------------


def test_password_change_ends_other_sessions_but_keeps_this_one(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    here, elsewhere, halfway = new_client(), new_client(), new_client()
    login_staff(here, "anna")
    login_staff(elsewhere, "anna")
    post(halfway, "/staff/login", {"username": "anna", "password": PASSWORD})
    bertil = new_client()
    login_staff(bertil, "bertil")
    done = post(
        here,
        "/staff/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 200
    assert here.get("/inbox").status_code == 200
    assert elsewhere.get("/inbox").headers["location"] == "/staff/login"
    assert halfway.get("/staff/second-factor").headers["location"] == "/staff/login"
    assert bertil.get("/inbox").status_code == 200
    with Session(engine) as s:
        rows = s.exec(select(WebSession).where(WebSession.user_id == world.anna)).all()
        assert [row.kind for row in rows] == ["staff"]


# --- the password asked again spends the login's budget ---------------------------------------

E_WRONG_CURRENT = "Ditt nuvarande lösenord stämmer inte."
E_ACCOUNT_LOCKED = "För många misslyckade försök för kontot. Vänta 15 minuter och försök igen."


def test_a_stolen_session_cannot_guess_the_password_through_the_change_form(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    thief = new_client()
    login_staff(thief, "anna")
    for guess in range(10):
        wrong = post(
            thief,
            "/staff/password",
            {"current": f"guess number {guess}", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        )
        assert wrong.status_code == 400
        assert E_WRONG_CURRENT in wrong.text
    # The eleventh try is refused unchecked, even with the right password: nothing changes.
    right = post(
        thief,
        "/staff/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert right.status_code == 400
    assert E_ACCOUNT_LOCKED in right.text
    assert E_WRONG_CURRENT not in right.text
    with Session(engine) as s:
        user = s.get(User, world.anna)
        assert user is not None
        assert accounts.find_login(s, username="anna")[1] == user.password_salt
    # The budget is the login page's: the owner's own login now waits too, and the old
    # password still is the password once it may be checked again.
    owner = new_client()
    page = post(owner, "/staff/login", {"username": "anna", "password": PASSWORD})
    assert E_ACCOUNT_LOCKED in page.text
    with Session(engine) as s:
        failed = s.exec(
            select(AuditEntry).where(
                AuditEntry.action == "login_failed", AuditEntry.subject_id == world.anna
            )
        ).all()
        assert len(failed) == 10


def test_failed_logins_lock_the_change_form_too(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    session = new_client()
    login_staff(session, "anna")
    stranger = new_client()
    for guess in range(10):
        post(stranger, "/staff/login", {"username": "anna", "password": f"guess {guess}"})
    refused = post(
        session,
        "/staff/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert refused.status_code == 400
    assert E_ACCOUNT_LOCKED in refused.text
