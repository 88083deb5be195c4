"""The staff login's policy: the per-account lockout, the password step, the second step (TOTP
code, its enrolment) and its per-login budget, and the full session at the end.

Each step returns a typed outcome (:class:`PasswordStep`, :class:`FactorStep`) that the web layer
maps to a page; nothing here sees a request. The Argon2 derivation of the password runs between
:func:`login_account` and :func:`password_step`, outside any transaction (the caller derives:
``web.context.derive_staff``), so a login holds no database lock while it waits for a slot.

Between the password and the second factor a short "pending" session holds what the second step
needs (the unlocked private key, the key-encryption key, the TOTP secret or the one being
enrolled), sealed under the secret in its cookie like every session.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import time
from dataclasses import dataclass

from sqlmodel import Session

from whistle import accounts, attempts, audit, crypto, security_keys, sessions
from whistle import second_factor as factor
from whistle.models import User

PENDING_LIFETIME = dt.timedelta(minutes=10)
LOGIN_FAILURES = 10  # per username per 15 minutes; then the account waits (no addresses kept)
LOGIN_WINDOW = 900
FACTOR_FAILURES = 5  # per pending login; the account's own budget is factor.FACTOR_BUDGET
FACTOR_WINDOW = 900


# --- the password step -----------------------------------------------------------------------


@dataclass(frozen=True)
class LoginAccount:
    """What the short read before the derivation found: the account (None when there is
    none: the derivation still runs, with a dummy salt) and whether it is locked."""

    locked: bool
    user: User | None
    salt: bytes


def username_key(username: str) -> str:
    # A digest, so the counter table does not list usernames people tried.
    return "staff-login:" + crypto.digest(username.strip().lower())[:12].hex()


def login_account(db: Session, *, username: str) -> LoginAccount:
    """The short read before the derivation: the lockout and the account's salt."""
    locked = attempts.count(db, username_key(username), seconds=LOGIN_WINDOW) >= LOGIN_FAILURES
    user, salt = accounts.find_login(db, username=username)
    return LoginAccount(locked=locked, user=user, salt=salt)


class Reconfirm(enum.Enum):
    """The password asked again of a logged-in user (to change it, or to add or remove a
    security key)."""

    OK = "ok"
    FAILED = "failed"  # wrong password (counted against the login's budget)
    LOCKED = "locked"  # the account's login budget is spent: nothing was checked


@dataclass(frozen=True)
class Reconfirmed:
    step: Reconfirm
    kek: bytes = b""  # the password's key-encryption key, when it was right


def reconfirm_password(db: Session, *, user_id: str, keys: crypto.LoginKeys) -> Reconfirmed:
    """Check a logged-in user's password again, with the keys derived outside the transaction.

    Every wrong password spends the same per-account budget as the login page (and is audited
    like a failed login), so a stolen session cannot turn these forms into an unbounded
    password-guessing oracle; once the budget is spent nothing is checked until it recovers.
    The caller runs this in a transaction of its own, so a failure stays counted even though the
    change it guarded is refused."""
    user = db.get(User, user_id)
    if user is None:
        return Reconfirmed(Reconfirm.FAILED)
    counter = username_key(user.username)
    if attempts.count(db, counter, seconds=LOGIN_WINDOW) >= LOGIN_FAILURES:
        return Reconfirmed(Reconfirm.LOCKED)
    try:
        who = accounts.check_login(user, keys)
    except accounts.LoginFailed:
        attempts.record(db, counter, seconds=LOGIN_WINDOW)
        audit.record(db, action="login_failed", subject_id=user.id)
        return Reconfirmed(Reconfirm.FAILED)
    return Reconfirmed(Reconfirm.OK, kek=who.kek)


class PasswordStep(enum.Enum):
    """Where a login goes after its password."""

    LOCKED = "locked"  # too many failures for this username: nothing was checked
    FAILED = "failed"  # wrong username or password (counted)
    SECOND_FACTOR = "second-factor"  # a TOTP code or a security key
    ENROL_TOTP = "enrol-totp"  # no second factor yet: set up TOTP
    ENROL_KEY = "enrol-key"  # no second factor yet, and only a security key will do


@dataclass(frozen=True)
class PasswordOutcome:
    step: PasswordStep
    pending_cookie: str = ""  # the pending session, for every step past the password


def totp_allowed(user: User, *, required: bool) -> bool:
    """Whether a TOTP code may finish this account's login: not for an investigator when
    WHISTLE_REQUIRE_SECURITY_KEY is on, nor for one whose private key opens only with a PRF
    security key (a code could not unlock it)."""
    if security_keys.prf_locked(user):
        return False
    return not (required and user.role == "investigator")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _pending_payload(
    who: accounts.Authenticated, enrol_secret: bytes | None, *, key_enrol: bool = False
) -> bytes:
    data = {
        "private": _b64(who.private_key),
        "kek": _b64(who.kek),
        "totp": _b64(who.totp_secret) if who.totp_secret else None,
        "enrol": _b64(enrol_secret) if enrol_secret else None,
        # Set only when the password step sent this login to register a first security key
        # (WHISTLE_REQUIRE_SECURITY_KEY, no key yet): no other login may register one.
        "key_enrol": key_enrol,
    }
    return json.dumps(data).encode()


def password_step(
    db: Session, *, username: str, user: User | None, keys: crypto.LoginKeys, required: bool
) -> PasswordOutcome:
    """Finish the password step with the keys derived outside the transaction. An account
    still on the unpeppered scheme is upgraded here."""
    try:
        who = accounts.upgrade_password_scheme(db, who=accounts.check_login(user, keys), keys=keys)
    except accounts.LoginFailed:
        attempts.record(db, username_key(username), seconds=LOGIN_WINDOW)
        # Logged against the account when it exists; what was typed is never stored (a
        # password typed into the username field must not end up in the log).
        if user is not None:
            audit.record(db, action="login_failed", subject_id=user.id)
        return PasswordOutcome(PasswordStep.FAILED)
    has_keys = bool(security_keys.keys_of(db, who.user.id))
    allowed = totp_allowed(who.user, required=required)
    if has_keys or (allowed and who.totp_secret):
        step = PasswordStep.SECOND_FACTOR
    else:
        step = PasswordStep.ENROL_TOTP if allowed else PasswordStep.ENROL_KEY
    enrol = crypto.totp_new_secret() if step is PasswordStep.ENROL_TOTP else None
    cookie = sessions.create(
        db,
        kind="pending",
        payload=_pending_payload(who, enrol, key_enrol=step is PasswordStep.ENROL_KEY),
        user_id=who.user.id,
        lifetime=PENDING_LIFETIME,
    )
    return PasswordOutcome(step, cookie)


# --- the pending login and the second step ---------------------------------------------------


@dataclass(frozen=True)
class Pending:
    user: User
    private_key: bytes
    kek: bytes
    totp: bytes | None
    enrol: bytes | None
    key_enrol: bool = False


def load_pending(db: Session, *, cookie: str | None) -> Pending | None:
    loaded = sessions.load(db, cookie, kind="pending", idle=PENDING_LIFETIME)
    if loaded is None or loaded.user_id is None:
        return None
    user = db.get(User, loaded.user_id)
    if user is None or user.status != "active":
        return None
    data = json.loads(loaded.payload)

    def raw(name: str) -> bytes | None:
        value = data.get(name)
        return base64.b64decode(value) if value else None

    return Pending(
        user,
        raw("private") or b"",
        raw("kek") or b"",
        raw("totp"),
        raw("enrol"),
        key_enrol=data.get("key_enrol") is True,
    )


class KeyEnrolment(enum.Enum):
    """Whether a pending login may register the account's first security key."""

    ALLOWED = "allowed"
    HAS_KEYS = "has-keys"  # the account has keys: the second step asks for one of them
    REFUSED = "refused"  # start again from the password


def may_enrol_key(db: Session, *, pending: Pending, required: bool) -> KeyEnrolment:
    """The first-key rule: only a login the password step sent to the key enrolment
    (``key_enrol``), for an account that has no key and may not finish with a code. Anything
    else would let someone with the password alone put their own key on the account instead
    of typing its code."""
    if security_keys.keys_of(db, pending.user.id):
        return KeyEnrolment.HAS_KEYS
    if not pending.key_enrol or totp_allowed(pending.user, required=required):
        return KeyEnrolment.REFUSED
    return KeyEnrolment.ALLOWED


def finish_login(
    db: Session,
    *,
    pending_cookie: str,
    user: User,
    private_key: bytes,
    lifetime: dt.timedelta,
    factor: str = "totp",
) -> str:
    """Trade the pending session for a full staff session; returns its cookie."""
    sessions.destroy(db, pending_cookie)
    audit.record(db, action="login", actor_id=user.id)
    return sessions.create(
        db, kind="staff", payload=private_key, user_id=user.id, lifetime=lifetime, factor=factor
    )


def factor_failed(db: Session, *, pending_cookie: str, user_id: str) -> bool:
    """Count a wrong code; True when this pending login has used up its tries (and is gone)."""
    key = "second-factor:" + crypto.digest(pending_cookie)[:12].hex()
    used = attempts.record(db, key, seconds=FACTOR_WINDOW)
    audit.record(db, action="second_factor_failed", actor_id=user_id)
    if used >= FACTOR_FAILURES:
        sessions.destroy(db, pending_cookie)
        return True
    return False


class FactorStep(enum.Enum):
    """Where a login goes after a TOTP code (or its enrolment)."""

    EXPIRED = "expired"  # no pending login (any more): back to the password
    KEY_REQUIRED = "key-required"  # this account may not use a code at all
    LOCKED = "locked"  # the account's second step is locked for a while
    WRONG = "wrong"  # a wrong or reused code (counted)
    DONE = "done"  # logged in


@dataclass(frozen=True)
class FactorOutcome:
    step: FactorStep
    role: str = ""  # of the account that logged in (DONE only)
    staff_cookie: str = ""  # the full session (DONE only)


def second_factor_step(
    db: Session,
    *,
    pending_cookie: str,
    code: str,
    lifetime: dt.timedelta,
    enrol: bool,
    required: bool,
) -> FactorOutcome:
    """Check the TOTP code of a pending login (or enrol the new secret with it)."""
    pending = load_pending(db, cookie=pending_cookie)
    if pending is None:
        return FactorOutcome(FactorStep.EXPIRED)
    if not totp_allowed(pending.user, required=required):
        # Refused before the code is even looked at: a right code would not do either.
        return FactorOutcome(FactorStep.KEY_REQUIRED)
    if enrol:
        ok = pending.enrol is not None and factor.enrol_second_factor(
            db,
            user_id=pending.user.id,
            kek=pending.kek,
            secret=pending.enrol,
            code=code,
            at=time.time(),
        )
        if ok:
            audit.record(db, action="second_factor_enrolled", actor_id=pending.user.id)
    else:
        try:
            ok = pending.totp is not None and factor.check_second_factor(
                db, user_id=pending.user.id, secret=pending.totp, code=code, at=time.time()
            )
        except factor.SecondFactorLocked:
            return FactorOutcome(FactorStep.LOCKED)
    if not ok:
        expired = factor_failed(db, pending_cookie=pending_cookie, user_id=pending.user.id)
        return FactorOutcome(FactorStep.EXPIRED if expired else FactorStep.WRONG)
    cookie = finish_login(
        db,
        pending_cookie=pending_cookie,
        user=pending.user,
        private_key=pending.private_key,
        lifetime=lifetime,
    )
    return FactorOutcome(FactorStep.DONE, role=pending.user.role, staff_cookie=cookie)


@dataclass(frozen=True)
class SecondStep:
    """What the second step offers: a TOTP code, the account's security keys (with the
    options of a fresh challenge), or neither yet."""

    totp: bool
    key_options: str


def second_step(
    db: Session,
    *,
    pending: Pending,
    pending_cookie: str,
    required: bool,
    rp: security_keys.RelyingParty,
) -> SecondStep:
    options = ""
    if security_keys.keys_of(db, pending.user.id):
        options = security_keys.login_options(
            db, user_id=pending.user.id, rp=rp, session_secret=pending_cookie
        )
    return SecondStep(totp=totp_allowed(pending.user, required=required), key_options=options)


def logout_everywhere(db: Session, *, user_id: str) -> None:
    sessions.destroy_for_user(db, user_id)
    audit.record(db, action="logout_everywhere", actor_id=user_id)
