"""Investigator and administrator accounts: creation, activation, login.

An investigator's HPKE private key is generated at activation and stored only sealed under a key
from Argon2id(password) and, separately, under one from the one-time recovery code. The password
is never stored; its Argon2id output, keyed with the password key from ``keys/`` (scheme 2),
gives a verifier (stored) and the key-encryption key (not). Accounts from before the pepper
(scheme 1) are upgraded at their next login. Administrators and registrars get a verifier only:
they hold no key and can open no case.
The second factor is in :mod:`whistle.second_factor` (TOTP) and :mod:`whistle.security_keys`
(WebAuthn); a PRF security key can take over the password-only wrap of the private key.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass

from sqlmodel import Session, select

from whistle import crypto, names, passwords, security_keys
from whistle.errors import DomainError
from whistle.models import User, utcnow

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
ACTIVATION_LIFETIME = dt.timedelta(days=7)
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed
RECOVERY_LEN = 25  # 125 bits
# A registrar keeps the register of a public unit's cases (whistle/records.py): like an
# administrator they get no key pair and can open no case.
ROLES = ("investigator", "admin", "registrar")
PASSWORD_SCHEME = 2  # Argon2id, then HKDF keyed with crypto.password_key(pepper)


class AccountError(DomainError):
    """A request about accounts cannot be done; ``code`` names why (:mod:`whistle.errors`)."""


class LoginFailed(Exception):
    """Wrong username or password, or an inactive account: deliberately one error."""


@dataclass(frozen=True)
class Invitation:
    user_id: str
    token: str


@dataclass(frozen=True)
class Authenticated:
    """A correct password: the user, their unlocked private key (empty for administrators), the
    key-encryption key (to seal a new TOTP secret) and the opened TOTP secret, if enrolled."""

    user: User
    private_key: bytes
    kek: bytes
    totp_secret: bytes | None


def _new_salt() -> bytes:
    return os.urandom(16)


@dataclass(frozen=True)
class NewSecret:
    """A new password or recovery code with its fresh salt and derived keys."""

    secret: str
    salt: bytes
    keys: crypto.PasswordKeys


@dataclass(frozen=True)
class Prepared:
    """New credentials derived before any transaction opens: on SQLite a transaction holds the
    write lock from BEGIN (whistle.db), so a derivation inside one would queue every other
    request behind it. ``recovery`` is None when the recovery code stays as it is."""

    password: NewSecret
    recovery: NewSecret | None


def new_secret(secret: str, params: crypto.Argon2Params, *, password_key: bytes) -> NewSecret:
    """Fresh salt and scheme-2 keys (keyed with the password key) for a new secret."""
    salt = _new_salt()
    return NewSecret(secret, salt, _derive(secret, salt, params, password_key))


def prepare(
    password: str, params: crypto.Argon2Params, *, password_key: bytes, recovery: bool = True
) -> Prepared:
    """Derive keys for a new password (and a new one-time recovery code): two derivations,
    both scheme 2."""
    code = crypto.random_string(RECOVERY_ALPHABET, RECOVERY_LEN)
    return Prepared(
        password=new_secret(password[:MAX_PASSWORD], params, password_key=password_key),
        recovery=new_secret(code, params, password_key=password_key) if recovery else None,
    )


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")


def create_user(
    db: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    email: str = "",
    now: dt.datetime | None = None,
) -> Invitation:
    """Create an invited account and return the one-time activation token."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError("invalid-username")
    if role not in ROLES:
        raise AccountError("invalid-role")
    if not display_name.strip() or len(display_name) > 200:
        raise AccountError("invalid-display-name")
    email = email.strip()
    if email and not EMAIL.match(email):
        raise AccountError("invalid-email")
    if db.exec(select(User).where(User.username == username)).first() is not None:
        raise AccountError("username-taken")
    # A look-alike of an existing name is refused: reporters exclude, and colleagues approve,
    # people by name (whistle/names.py). The unique index also holds against a race.
    key = names.name_key(display_name)
    if not key or len(key) > 200:
        raise AccountError("invalid-display-name")
    if db.exec(select(User).where(User.name_key == key)).first() is not None:
        raise AccountError("display-name-taken")
    token = crypto.random_token(32)
    user = User(
        username=username,
        display_name=" ".join(display_name.split()),
        name_key=key,
        email=email or None,
        role=role,
        status="invited",
        activation_digest=crypto.digest(token),
        activation_expires=(now or utcnow()) + ACTIVATION_LIFETIME,
    )
    db.add(user)
    db.flush()
    return Invitation(user_id=user.id, token=token)


def renew_invitation(db: Session, *, username: str, now: dt.datetime | None = None) -> str:
    """A fresh one-time activation token for an account not yet activated (the old one stops
    working). For the CLI only: the administrator's pages never show an activation link."""
    user = db.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None or user.status != "invited":
        raise AccountError("not-invited")
    token = crypto.random_token(32)
    user.activation_digest = crypto.digest(token)
    user.activation_expires = (now or utcnow()) + ACTIVATION_LIFETIME
    db.add(user)
    return token


def find_invitation(db: Session, token: str, *, now: dt.datetime | None = None) -> User | None:
    if not token or len(token) > 200:
        return None
    user = db.exec(select(User).where(User.activation_digest == crypto.digest(token))).first()
    if user is None or user.status != "invited":
        return None
    if user.activation_expires is None or user.activation_expires <= (now or utcnow()):
        return None
    return user


def check_password_rules(password: str, confirm: str) -> None:
    if password != confirm:
        raise AccountError("password-mismatch")
    if len(password) > MAX_PASSWORD:
        raise AccountError("password-too-long")
    # Before the length: "sommar2024" is better told it is common than that it is short.
    if passwords.is_common(password):
        raise AccountError("password-common")
    if len(password) < MIN_PASSWORD:
        raise AccountError("password-too-short")


def _derive(
    secret: str, salt: bytes, params: crypto.Argon2Params, key: bytes
) -> crypto.PasswordKeys:
    return crypto.derive_peppered_password_keys(secret, salt, params, password_key=key)


def _set_credentials(user: User, *, prepared: Prepared) -> tuple[str | None, bytes]:
    """Set password (and for investigators a new key pair). Returns (recovery code, private)."""
    keys = prepared.password.keys
    user.password_salt = prepared.password.salt
    user.password_verifier = keys.verifier
    user.password_scheme = PASSWORD_SCHEME
    if user.role != "investigator":
        return None, b""
    private, public = crypto.generate_keypair()
    user.public_key = public
    user.private_key_sealed = crypto.seal(
        keys.kek, private, purpose="private-key", case_id="", item_id=user.id
    )
    assert prepared.recovery is not None
    return _issue_recovery_code(user, private=private, recovery=prepared.recovery), private


def _issue_recovery_code(user: User, *, private: bytes, recovery: NewSecret) -> str:
    """A new one-time recovery code that also unlocks the private key; only returned, never
    stored (the row keeps the private key sealed under a key from it, scheme 2)."""
    user.recovery_salt = recovery.salt
    user.recovery_scheme = PASSWORD_SCHEME
    user.recovery_sealed = crypto.seal(
        recovery.keys.kek, private, purpose="private-key-recovery", case_id="", item_id=user.id
    )
    return recovery.secret


def activate(
    db: Session,
    *,
    token: str,
    password: str,
    confirm: str,
    params: crypto.Argon2Params,
    password_key: bytes,
    prepared: Prepared | None = None,
    now: dt.datetime | None = None,
) -> str | None:
    """Set the password of an invited account; for investigators return the recovery code.

    The web passes ``prepared`` (derived outside the transaction); the CLI may let it derive."""
    user = find_invitation(db, token, now=now)
    if user is None:
        raise AccountError("invalid-invitation")
    check_password_rules(password, confirm)
    prepared = prepared or prepare(password, params, password_key=password_key)
    recovery, _private = _set_credentials(user, prepared=prepared)
    user.status = "active"
    user.activation_digest = None
    user.activation_expires = None
    db.add(user)
    return recovery


def create_active_user(
    db: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    params: crypto.Argon2Params,
    password_key: bytes,
    email: str = "",
) -> tuple[User, str | None]:
    """Create and activate in one step (the CLI and the demo use it)."""
    invitation = create_user(
        db, username=username, display_name=display_name, role=role, email=email
    )
    recovery = activate(
        db,
        token=invitation.token,
        password=password,
        confirm=password,
        params=params,
        password_key=password_key,
    )
    user = db.get(User, invitation.user_id)
    assert user is not None
    return user, recovery


# A fixed salt for the dummy derivation that keeps unknown usernames as slow as known ones.
_DUMMY_SALT = b"whistle-no-user!"


def find_login(db: Session, *, username: str) -> tuple[User | None, bytes]:
    """The account a login names (or None) and the salt to derive with — a dummy salt for an
    unknown name, so the derivation runs either way and timing does not tell names apart."""
    user = db.exec(select(User).where(User.username == username.strip().lower())).first()
    return user, (user.password_salt if user and user.password_salt else _DUMMY_SALT)


def authenticate(
    db: Session,
    *,
    username: str,
    password: str,
    params: crypto.Argon2Params,
    password_key: bytes,
) -> Authenticated:
    """Check a password; for investigators also unlock the private key. An account still on
    scheme 1 is upgraded."""
    user, salt = find_login(db, username=username)
    keys = crypto.derive_login_keys(
        password[:MAX_PASSWORD], salt, params, password_key=password_key
    )
    return upgrade_password_scheme(db, who=check_login(user, keys), keys=keys)


def check_login(user: User | None, keys: crypto.LoginKeys) -> Authenticated:
    """Compare the verifier and open the sealed keys; no database access, so the caller can
    run the Argon2 derivation outside any transaction (SQLite holds its write lock per
    transaction; a 200 ms derivation inside one would queue every other request behind it).

    Only the account's own scheme is tried: once a row is upgraded, the unpeppered keys of the
    same password open nothing (an old backup's verifier does not log in either)."""
    scheme = (
        keys.current
        if user is not None and user.password_scheme == PASSWORD_SCHEME
        else keys.legacy
    )
    if (
        user is None
        or user.status != "active"
        or user.password_verifier is None
        or not crypto.constant_time_equal(scheme.verifier, user.password_verifier)
    ):
        raise LoginFailed()
    try:
        private = b""
        # An account whose key was sealed to a PRF security key has no password-only wrap:
        # the password step gives nothing to unlock, and the security key step opens it.
        if user.role == "investigator" and user.private_key_sealed is not None:
            private = crypto.open_sealed(
                scheme.kek,
                user.private_key_sealed,
                purpose="private-key",
                case_id="",
                item_id=user.id,
            )
        totp_secret = None
        if user.totp_sealed is not None:
            totp_secret = crypto.open_sealed(
                scheme.kek, user.totp_sealed, purpose="totp-secret", case_id="", item_id=user.id
            )
    except crypto.CryptoError:
        raise LoginFailed() from None
    return Authenticated(user=user, private_key=private, kek=scheme.kek, totp_secret=totp_secret)


def upgrade_password_scheme(
    db: Session, *, who: Authenticated, keys: crypto.LoginKeys
) -> Authenticated:
    """Move an account still on scheme 1 to the peppered scheme, after a correct password.

    Same salt and Argon2 output (no second derivation), new verifier, private key and TOTP
    secret re-sealed under the new key-encryption key; the unpeppered wraps are overwritten.
    A no-op for an account already upgraded, or whose password changed meanwhile.
    """
    user = db.get(User, who.user.id)
    if (
        user is None
        or user.password_scheme == PASSWORD_SCHEME
        or user.password_verifier is None
        or not crypto.constant_time_equal(keys.legacy.verifier, user.password_verifier)
    ):
        return who
    _seal_credentials(user, keys=keys.current, private=who.private_key, totp=who.totp_secret)
    db.add(user)
    return Authenticated(
        user=user, private_key=who.private_key, kek=keys.current.kek, totp_secret=who.totp_secret
    )


def change_password(
    db: Session,
    *,
    user_id: str,
    current: str,
    password: str,
    confirm: str,
    params: crypto.Argon2Params,
    password_key: bytes,
    proof: crypto.LoginKeys | None = None,
    prepared: Prepared | None = None,
) -> None:
    """Re-seal the private key and the TOTP secret under a key from the new password.

    ``proof`` is the current password's keys and ``prepared`` the new password's, both derived
    outside the transaction by the web; without them they are derived here."""
    user = db.get(User, user_id)
    if user is None:
        raise AccountError("invalid-invitation")
    if proof is None:
        _user, salt = find_login(db, username=user.username)
        proof = crypto.derive_login_keys(
            current[:MAX_PASSWORD], salt, params, password_key=password_key
        )
    try:
        # A scheme-1 account is checked with its legacy keys; the new password is scheme 2.
        who = check_login(user, proof)
    except LoginFailed:
        raise AccountError("wrong-password") from None
    check_password_rules(password, confirm)
    prepared = prepared or prepare(password, params, password_key=password_key, recovery=False)
    _reseal(user, password=prepared.password, private=who.private_key, totp=who.totp_secret)
    security_keys.reseal_for_password(
        db, user_id=user.id, old_kek=who.kek, new_kek=prepared.password.keys.kek
    )
    db.add(user)


def _reseal(user: User, *, password: NewSecret, private: bytes, totp: bytes | None) -> None:
    user.password_salt = password.salt
    _seal_credentials(user, keys=password.keys, private=private, totp=totp)


def _seal_credentials(
    user: User, *, keys: crypto.PasswordKeys, private: bytes, totp: bytes | None
) -> None:
    """Store the verifier and seal the private key and TOTP secret under ``keys`` (scheme 2)."""
    user.password_verifier = keys.verifier
    user.password_scheme = PASSWORD_SCHEME
    # No private key at hand: the account's key is sealed to its PRF security keys only
    # (whistle/security_keys.py), and stays so.
    if user.role == "investigator" and private:
        user.private_key_sealed = crypto.seal(
            keys.kek, private, purpose="private-key", case_id="", item_id=user.id
        )
    user.totp_sealed = (
        crypto.seal(keys.kek, totp, purpose="totp-secret", case_id="", item_id=user.id)
        if totp is not None
        else None
    )


def recover(
    db: Session,
    *,
    username: str,
    recovery_code: str,
    password: str,
    confirm: str,
    params: crypto.Argon2Params,
    password_key: bytes,
    proof: crypto.LoginKeys | None = None,
    prepared: Prepared | None = None,
) -> str:
    """Unlock the private key with the one-time recovery code and set a new password.

    The second factor must be enrolled again (its secret was sealed under the lost password),
    every session is ended, and a new recovery code replaces the used one. ``proof`` (the
    recovery code's keys, see :func:`recovery_salt`) and ``prepared`` are derived outside the
    transaction by the web; without them they are derived here.
    """
    check_password_rules(password, confirm)
    if proof is None:
        salt = recovery_salt(db, username=username)
        proof = crypto.derive_login_keys(
            recovery_secret(recovery_code), salt, params, password_key=password_key
        )
    user, private = check_recovery(db, username=username, proof=proof)
    prepared = prepared or prepare(password, params, password_key=password_key)
    assert prepared.recovery is not None
    _reseal(user, password=prepared.password, private=private, totp=None)
    user.totp_last_step = 0
    # Security keys go too: they may be what was lost, and their wraps were sealed under the
    # old password. The password-only wrap is back (above) until a PRF key is registered.
    security_keys.forget_all(db, user_id=user.id)
    # The lost factor is enrolled again, so its account-wide lock goes too.
    user.factor_failures = 0
    user.factor_locked_until = None
    new_code = _issue_recovery_code(user, private=private, recovery=prepared.recovery)
    db.add(user)
    return new_code


def recovery_secret(typed: str) -> str:
    """A recovery code as typed, in the form it is derived from."""
    return typed.upper().replace(" ", "").replace("-", "")[:64]


def recovery_salt(db: Session, *, username: str) -> bytes:
    """The salt to derive a recovery code with (a dummy one for an unknown name, so the
    derivation runs either way and timing does not tell names apart)."""
    user = db.exec(select(User).where(User.username == username.strip().lower())).first()
    return user.recovery_salt if user and user.recovery_salt else _DUMMY_SALT


def check_recovery(db: Session, *, username: str, proof: crypto.LoginKeys) -> tuple[User, bytes]:
    """The account and its private key when ``proof`` (both schemes of one derivation of the
    typed code) comes from its recovery code."""
    user = db.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None or user.status != "active" or user.recovery_sealed is None:
        raise AccountError("recovery-failed")
    # A code issued before the pepper (scheme 1) still opens its own wrap, once: the new code
    # issued by recover() is peppered. 125 random bits need no pepper against offline guessing.
    keys = proof.current if user.recovery_scheme == PASSWORD_SCHEME else proof.legacy
    try:
        private = crypto.open_sealed(
            keys.kek,
            user.recovery_sealed,
            purpose="private-key-recovery",
            case_id="",
            item_id=user.id,
        )
    except crypto.CryptoError:
        raise AccountError("recovery-failed") from None
    return user, private


def set_status(db: Session, *, user_id: str, status: str) -> User:
    """Deactivate or reactivate an account (wraps are kept, so reactivation restores access)."""
    if status not in {"active", "disabled"}:
        raise AccountError("invalid-status")
    user = db.get(User, user_id)
    if user is None or user.status == "invited":
        raise AccountError("invalid-status")
    user.status = status
    db.add(user)
    return user


def active_investigators(db: Session) -> list[User]:
    return list(
        db.exec(
            select(User)
            .where(User.role == "investigator", User.status == "active")
            .order_by(User.display_name)
        ).all()
    )
