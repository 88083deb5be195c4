"""whistle.login: the staff login's steps as domain functions returning typed steps, without a
request: the lockout, the password step, the second step's budget, and where each ends.

The web flow over them is tested in test_staff_accounts.py and test_second_factor.py; these
call the domain directly, as an attacker with a fast client could drive it.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tests.helpers import CHEAP_ARGON2, PASSWORD, TOTP_SECRET, World
from whistle import crypto, db, login, sessions
from whistle.keys import Keys
from whistle.login import FactorStep, KeyEnrolment, PasswordStep
from whistle.models import AuditEntry, User

LIFETIME = dt.timedelta(hours=8)


def _password(
    engine: Engine, keys: Keys, username: str, password: str = PASSWORD, *, required: bool = False
) -> login.PasswordOutcome:
    """The password step as the handler runs it: a short read, the derivation with no
    transaction open, then a short write."""
    with db.session_scope(engine) as s:
        account = login.login_account(s, username=username)
    if account.locked:
        return login.PasswordOutcome(PasswordStep.LOCKED)
    derived = crypto.derive_login_keys(
        password, account.salt, CHEAP_ARGON2, password_key=keys.password_key
    )
    with db.session_scope(engine) as s:
        return login.password_step(
            s, username=username, user=account.user, keys=derived, required=required
        )


def _code(engine: Engine, cookie: str, code: str, *, enrol: bool = False) -> login.FactorOutcome:
    with db.session_scope(engine) as s:
        return login.second_factor_step(
            s, pending_cookie=cookie, code=code, lifetime=LIFETIME, enrol=enrol, required=False
        )


def _wrong_code() -> str:
    right = crypto.totp_code(TOTP_SECRET, at=time.time())
    return "000000" if right != "000000" else "111111"


def test_a_right_password_and_code_log_in_with_typed_steps(
    world: World, engine: Engine, keys: Keys
) -> None:
    outcome = _password(engine, keys, "anna")
    assert outcome.step is PasswordStep.SECOND_FACTOR
    assert outcome.pending_cookie
    done = _code(engine, outcome.pending_cookie, crypto.totp_code(TOTP_SECRET, at=time.time()))
    assert done.step is FactorStep.DONE
    assert done.role == "investigator"
    with db.session_scope(engine) as s:
        loaded = sessions.load(s, done.staff_cookie, kind="staff", idle=LIFETIME)
        assert loaded is not None
        assert loaded.user_id == world.anna
        # The pending session is gone: its cookie cannot finish a second login.
        assert login.load_pending(s, cookie=outcome.pending_cookie) is None


def test_wrong_passwords_lock_the_username_before_any_check(
    world: World, engine: Engine, keys: Keys
) -> None:
    for _ in range(login.LOGIN_FAILURES):
        assert _password(engine, keys, "anna", "wrong password").step is PasswordStep.FAILED
    # Locked: even the right password is not looked at, and no pending login is made.
    locked = _password(engine, keys, "anna")
    assert locked == login.PasswordOutcome(PasswordStep.LOCKED)
    # The counter is keyed by a digest, never the typed username; other accounts are not locked.
    assert _password(engine, keys, "bertil").step is PasswordStep.SECOND_FACTOR
    with Session(engine) as s:
        assert login.login_account(s, username=" ANNA ").locked  # the same account, normalised
        failed = s.exec(select(AuditEntry).where(AuditEntry.action == "login_failed")).all()
        assert len(failed) == login.LOGIN_FAILURES
        assert all(e.subject_id == world.anna for e in failed)


def test_an_unknown_username_fails_like_a_wrong_password(
    world: World, engine: Engine, keys: Keys
) -> None:
    with Session(engine) as s:
        account = login.login_account(s, username="nobody")
    assert account.user is None
    assert account.salt
    assert _password(engine, keys, "nobody") == login.PasswordOutcome(PasswordStep.FAILED)


def test_an_account_without_a_second_factor_is_sent_to_enrol(
    world: World, engine: Engine, keys: Keys
) -> None:
    with db.session_scope(engine) as s:
        user = s.exec(select(User).where(User.username == "bertil")).one()
        user.totp_sealed = None
        s.add(user)
    assert _password(engine, keys, "bertil").step is PasswordStep.ENROL_TOTP
    # With security keys required, an investigator may not enrol a code: a key is needed.
    assert _password(engine, keys, "bertil", required=True).step is PasswordStep.ENROL_KEY


def test_wrong_codes_use_up_the_pending_login(world: World, engine: Engine, keys: Keys) -> None:
    cookie = _password(engine, keys, "anna").pending_cookie
    for _ in range(login.FACTOR_FAILURES - 1):
        assert _code(engine, cookie, _wrong_code()).step is FactorStep.WRONG
    assert _code(engine, cookie, _wrong_code()).step is FactorStep.EXPIRED
    # The pending login is gone: the right code no longer finishes it.
    right = crypto.totp_code(TOTP_SECRET, at=time.time())
    assert _code(engine, cookie, right) == login.FactorOutcome(FactorStep.EXPIRED)


def test_a_made_up_pending_cookie_is_expired(world: World, engine: Engine) -> None:
    right = crypto.totp_code(TOTP_SECRET, at=time.time())
    assert _code(engine, "", right).step is FactorStep.EXPIRED
    assert _code(engine, "forged.cookie", right).step is FactorStep.EXPIRED


def test_a_code_is_refused_where_a_security_key_is_required(
    world: World, engine: Engine, keys: Keys
) -> None:
    cookie = _password(engine, keys, "anna").pending_cookie
    right = crypto.totp_code(TOTP_SECRET, at=time.time())
    with db.session_scope(engine) as s:
        refused = login.second_factor_step(
            s, pending_cookie=cookie, code=right, lifetime=LIFETIME, enrol=False, required=True
        )
    assert refused == login.FactorOutcome(FactorStep.KEY_REQUIRED)  # no staff session made


def test_no_step_derives_inside_its_transaction(
    world: World, engine: Engine, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The derivation runs between the steps, with no transaction open (on SQLite a transaction
    # holds the write lock from BEGIN). Argon2 is made to fail while any step runs: the steps
    # take derived keys and never derive themselves.
    with Session(engine) as s:
        account = login.login_account(s, username="anna")
    derived = crypto.derive_login_keys(
        PASSWORD, account.salt, CHEAP_ARGON2, password_key=keys.password_key
    )

    def no_argon2(*_: object, **__: object) -> bytes:
        raise AssertionError("Argon2 inside a transaction")

    monkeypatch.setattr(crypto, "hash_secret_raw", no_argon2)
    with db.session_scope(engine) as s:
        assert login.login_account(s, username="anna").user is not None
    with db.session_scope(engine) as s:
        outcome = login.password_step(
            s, username="anna", user=account.user, keys=derived, required=False
        )
    assert outcome.step is PasswordStep.SECOND_FACTOR
    right = crypto.totp_code(TOTP_SECRET, at=time.time())
    assert _code(engine, outcome.pending_cookie, right).step is FactorStep.DONE
    # The guard is real: a derivation now fails.
    with pytest.raises(AssertionError, match="inside a transaction"):
        crypto.derive_login_keys(
            PASSWORD, account.salt, CHEAP_ARGON2, password_key=keys.password_key
        )


def test_only_a_login_sent_to_enrol_a_key_may_register_the_first_one(
    world: World, engine: Engine, keys: Keys
) -> None:
    with db.session_scope(engine) as s:
        user = s.exec(select(User).where(User.username == "bertil")).one()
        user.totp_sealed = None
        s.add(user)
    sent = _password(engine, keys, "bertil", required=True)
    assert sent.step is PasswordStep.ENROL_KEY
    other = _password(engine, keys, "anna")  # sent to its code, not to enrol a key
    with db.session_scope(engine) as s:
        pending = login.load_pending(s, cookie=sent.pending_cookie)
        assert pending is not None
        assert login.may_enrol_key(s, pending=pending, required=True) is KeyEnrolment.ALLOWED
        # Where a code may finish the login, the password alone must not add a key instead.
        assert login.may_enrol_key(s, pending=pending, required=False) is KeyEnrolment.REFUSED
        pending = login.load_pending(s, cookie=other.pending_cookie)
        assert pending is not None
        assert login.may_enrol_key(s, pending=pending, required=True) is KeyEnrolment.REFUSED
