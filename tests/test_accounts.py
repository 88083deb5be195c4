"""whistle.accounts: creating, activating and authenticating investigators and administrators."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from tests.helpers import CHEAP_ARGON2, PASSWORD
from tests.test_staff_accounts import NEW_PASSWORD
from whistle import accounts, crypto
from whistle.accounts import AccountError, LoginFailed
from whistle.models import User

T0 = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
# The deployment's password key (a subkey of the pepper in keys/); any fixed pepper will do here.
PEPPER = bytes(range(32))
PASSWORD_KEY = crypto.password_key(PEPPER)


def _invite(db: Session, username: str = "anna", role: str = "investigator") -> str:
    return accounts.create_user(
        db, username=username, display_name=username.title(), role=role, now=T0
    ).token


def _activate(db: Session, token: str, password: str = PASSWORD) -> str | None:
    return accounts.activate(
        db,
        token=token,
        password=password,
        confirm=password,
        params=CHEAP_ARGON2,
        password_key=PASSWORD_KEY,
        now=T0,
    )


def _login(db: Session, username: str, password: str = PASSWORD) -> accounts.Authenticated:
    return accounts.authenticate(
        db, username=username, password=password, params=CHEAP_ARGON2, password_key=PASSWORD_KEY
    )


@pytest.mark.parametrize(
    "username",
    ["", "a", "-anna", ".anna", "anna smith", "anna!", "åsa", "anna@example.se", "a" * 65],
)
def test_create_user_refuses_bad_usernames(engine: Engine, username: str) -> None:
    with Session(engine) as db, pytest.raises(AccountError) as info:
        accounts.create_user(db, username=username, display_name="X", role="investigator")
    assert info.value.code == "invalid-username"


def test_create_user_normalises_the_username(engine: Engine) -> None:
    with Session(engine) as db:
        invitation = accounts.create_user(
            db, username="  Anna.Andersson ", display_name=" Anna ", role="investigator", now=T0
        )
        user = db.get(User, invitation.user_id)
        assert user is not None
        assert user.username == "anna.andersson"
        assert user.display_name == "Anna"
        assert user.status == "invited"
        assert user.activation_expires == T0 + dt.timedelta(days=7)
        # Only the digest of the token is stored; the token is only in the link.
        assert user.activation_digest == crypto.digest(invitation.token)


def test_create_user_refuses_duplicates(engine: Engine) -> None:
    with Session(engine) as db:
        _invite(db, "anna")
        for again in ("anna", "ANNA", " anna "):
            with pytest.raises(AccountError) as info:
                accounts.create_user(db, username=again, display_name="A", role="admin")
            assert info.value.code == "username-taken"


@pytest.mark.parametrize("role", ["root", "Admin", "", "reporter"])
def test_create_user_refuses_bad_roles(engine: Engine, role: str) -> None:
    with Session(engine) as db, pytest.raises(AccountError) as info:
        accounts.create_user(db, username="anna", display_name="Anna", role=role)
    assert info.value.code == "invalid-role"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_user_refuses_bad_display_names(engine: Engine, name: str) -> None:
    with Session(engine) as db, pytest.raises(AccountError) as info:
        accounts.create_user(db, username="anna", display_name=name, role="admin")
    assert info.value.code == "invalid-display-name"


@pytest.mark.parametrize(
    ("password", "confirm", "code"),
    [
        ("x" * 11, "x" * 11, "password-too-short"),
        ("x" * 1025, "x" * 1025, "password-too-long"),
        (PASSWORD, PASSWORD + " ", "password-mismatch"),
    ],
)
def test_activation_enforces_password_rules(
    engine: Engine, password: str, confirm: str, code: str
) -> None:
    with Session(engine) as db:
        token = _invite(db)
        with pytest.raises(AccountError) as info:
            accounts.activate(
                db,
                token=token,
                password=password,
                confirm=confirm,
                params=CHEAP_ARGON2,
                password_key=PASSWORD_KEY,
                now=T0,
            )
        assert info.value.code == code
        # The invitation is still usable with a good password.
        assert accounts.find_invitation(db, token, now=T0) is not None
        assert _activate(db, token) is not None


def test_password_of_exactly_twelve_characters_is_accepted(engine: Engine) -> None:
    with Session(engine) as db:
        assert _activate(db, _invite(db), "x" * 12) is not None
        assert _login(db, "anna", "x" * 12).user.username == "anna"


def test_expired_activation_link_is_refused(engine: Engine) -> None:
    with Session(engine) as db:
        token = _invite(db)
        later = T0 + dt.timedelta(days=7)
        assert accounts.find_invitation(db, token, now=later - dt.timedelta(seconds=1))
        assert accounts.find_invitation(db, token, now=later) is None
        with pytest.raises(AccountError) as info:
            accounts.activate(
                db,
                token=token,
                password=PASSWORD,
                confirm=PASSWORD,
                params=CHEAP_ARGON2,
                password_key=PASSWORD_KEY,
                now=later,
            )
        assert info.value.code == "invalid-invitation"


def test_used_or_unknown_activation_link_is_refused(engine: Engine) -> None:
    with Session(engine) as db:
        token = _invite(db)
        _activate(db, token)
        for bad in (token, "nonexistent-token", "", "x" * 201):
            with pytest.raises(AccountError) as info:
                _activate(db, bad)
            assert info.value.code == "invalid-invitation"
        user = _login(db, "anna").user
        assert user.activation_digest is None
        assert user.activation_expires is None


def test_investigator_activation_returns_a_recovery_code_and_makes_a_key_pair(
    engine: Engine,
) -> None:
    with Session(engine) as db:
        recovery = _activate(db, _invite(db))
        assert recovery is not None
        assert len(recovery) == accounts.RECOVERY_LEN
        assert set(recovery) <= set(accounts.RECOVERY_ALPHABET)
        who = _login(db, "anna")
        user = who.user
        assert user.status == "active"
        assert len(who.private_key) == crypto.PRIVATE_KEY_LEN
        assert user.public_key == crypto.public_key_of(who.private_key)
        assert user.private_key_sealed
        assert user.recovery_sealed
        assert user.recovery_salt


def test_admin_activation_gives_no_recovery_code_and_no_key_pair(engine: Engine) -> None:
    with Session(engine) as db:
        assert _activate(db, _invite(db, "it-admin", role="admin")) is None
        who = _login(db, "it-admin")
        assert who.private_key == b""
        user = who.user
        assert user.role == "admin"
        assert user.password_verifier is not None
        assert user.public_key is None
        assert user.private_key_sealed is None
        assert user.recovery_salt is None
        assert user.recovery_sealed is None


def test_authenticate_right_password(engine: Engine) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db))
        assert _login(db, "anna").user.username == "anna"
        assert _login(db, "  ANNA ").user.username == "anna"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("anna", PASSWORD + "!"),
        ("anna", ""),
        ("anna", PASSWORD.upper()),
        ("nobody", PASSWORD),
        ("", PASSWORD),
    ],
)
def test_authenticate_wrong_password_or_unknown_user(
    engine: Engine, username: str, password: str
) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db))
        with pytest.raises(LoginFailed):
            _login(db, username, password)


def test_authenticate_refuses_invited_and_disabled_users(engine: Engine) -> None:
    with Session(engine) as db:
        _invite(db, "invited")
        with pytest.raises(LoginFailed):
            _login(db, "invited")
        _activate(db, _invite(db, "anna"))
        user = _login(db, "anna").user
        user.status = "disabled"
        db.add(user)
        db.flush()
        with pytest.raises(LoginFailed):
            _login(db, "anna")


def test_private_key_opens_with_the_recovery_code(engine: Engine) -> None:
    with Session(engine) as db:
        recovery = _activate(db, _invite(db))
        assert recovery is not None
        who = _login(db, "anna")
        user = who.user
        assert user.recovery_salt is not None
        assert user.recovery_sealed is not None
        keys = crypto.derive_peppered_password_keys(
            recovery, user.recovery_salt, CHEAP_ARGON2, password_key=PASSWORD_KEY
        )
        private = crypto.open_sealed(
            keys.kek,
            user.recovery_sealed,
            purpose="private-key-recovery",
            case_id="",
            item_id=user.id,
        )
        assert private == who.private_key
        # The recovery seal is not interchangeable with the password seal.
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(
                keys.kek, user.recovery_sealed, purpose="private-key", case_id="", item_id=user.id
            )
        wrong = crypto.derive_peppered_password_keys(
            PASSWORD, user.recovery_salt, CHEAP_ARGON2, password_key=PASSWORD_KEY
        )
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(
                wrong.kek,
                user.recovery_sealed,
                purpose="private-key-recovery",
                case_id="",
                item_id=user.id,
            )


def test_database_row_holds_no_password_and_no_private_key(engine: Engine) -> None:
    with Session(engine) as db:
        token = _invite(db)
        recovery = _activate(db, token)
        private = _login(db, "anna").private_key
        db.commit()
    assert recovery is not None
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM users WHERE username = 'anna'")).one()
    dump = b"\x00".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row
    )
    assert len(dump) > 1000  # the row was read: it holds the 1,216-byte public key
    for secret in (PASSWORD.encode(), recovery.encode(), token.encode(), private):
        assert secret not in dump
    # Not even a large piece of the private key (its ML-KEM seed, its X25519 scalar).
    assert private[:32] not in dump
    assert private[32:] not in dump


def test_active_investigators(engine: Engine) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db, "bertil"))
        _activate(db, _invite(db, "anna"))
        _invite(db, "invited")
        _activate(db, _invite(db, "it-admin", role="admin"))
        assert [u.username for u in accounts.active_investigators(db)] == ["anna", "bertil"]


# --- finding 3: the password derivation needs keys/ -----------------------------------------


def _open_private(user: User, kek: bytes) -> bytes:
    assert user.private_key_sealed is not None
    return crypto.open_sealed(
        kek, user.private_key_sealed, purpose="private-key", case_id="", item_id=user.id
    )


def test_database_alone_does_not_test_a_password(engine: Engine) -> None:
    """With only the database file (salt, verifier, sealed key) even the right password does
    not unwrap the private key: the derivation needs the password key from keys/."""
    with Session(engine) as db:
        _activate(db, _invite(db))
        private = _login(db, "anna").private_key
        user = db.exec(select(User).where(User.username == "anna")).one()
        assert user.password_salt is not None
        assert user.password_scheme == 2
        thief = crypto.derive_password_keys(PASSWORD, user.password_salt, CHEAP_ARGON2)
        assert thief.verifier != user.password_verifier
        with pytest.raises(crypto.CryptoError):
            _open_private(user, thief.kek)
        with pytest.raises(crypto.CryptoError):
            _open_private(user, thief.verifier)
        # The same for the recovery code's wrap.
        assert user.recovery_salt is not None
        assert user.recovery_scheme == 2
        # With keys/ the password opens it.
        real = crypto.derive_peppered_password_keys(
            PASSWORD, user.password_salt, CHEAP_ARGON2, password_key=PASSWORD_KEY
        )
        assert _open_private(user, real.kek) == private
        # Another deployment's keys/ does not help.
        with pytest.raises(LoginFailed):
            accounts.authenticate(
                db,
                username="anna",
                password=PASSWORD,
                params=CHEAP_ARGON2,
                password_key=crypto.password_key(crypto.random_key()),
            )


def _make_legacy(db: Session, username: str, *, totp: bytes | None = None) -> bytes:
    """Turn an activated account back into a row as it was before the pepper (scheme 1)."""
    who = _login(db, username)
    user = who.user
    assert user.password_salt is not None
    legacy = crypto.derive_password_keys(PASSWORD, user.password_salt, CHEAP_ARGON2)
    user.password_verifier = legacy.verifier
    user.password_scheme = 1
    if user.role == "investigator":
        user.private_key_sealed = crypto.seal(
            legacy.kek, who.private_key, purpose="private-key", case_id="", item_id=user.id
        )
    if totp is not None:
        user.totp_sealed = crypto.seal(
            legacy.kek, totp, purpose="totp-secret", case_id="", item_id=user.id
        )
    db.add(user)
    db.flush()
    return who.private_key


def test_old_scheme_account_logs_in_once_and_is_upgraded(engine: Engine) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db))
        private = _make_legacy(db, "anna", totp=b"t" * 20)
        user = db.exec(select(User).where(User.username == "anna")).one()
        assert user.password_salt is not None
        legacy = crypto.derive_password_keys(PASSWORD, user.password_salt, CHEAP_ARGON2)
        assert _open_private(user, legacy.kek) == private  # the old wrap, before the login
        old_sealed = user.private_key_sealed
        who = _login(db, "anna")
        assert who.private_key == private
        assert who.totp_secret == b"t" * 20
        db.flush()
        db.expire_all()
        user = db.exec(select(User).where(User.username == "anna")).one()
        assert user.password_scheme == 2
        assert user.private_key_sealed != old_sealed
        # The unpeppered wrap is gone: the legacy key opens neither the key nor the TOTP secret.
        with pytest.raises(crypto.CryptoError):
            _open_private(user, legacy.kek)
        assert user.totp_sealed is not None
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(
                legacy.kek, user.totp_sealed, purpose="totp-secret", case_id="", item_id=user.id
            )
        assert not crypto.constant_time_equal(legacy.verifier, user.password_verifier or b"")
        # The kek handed on (to seal a new TOTP secret) is the new one.
        peppered = crypto.derive_peppered_password_keys(
            PASSWORD, user.password_salt, CHEAP_ARGON2, password_key=PASSWORD_KEY
        )
        assert who.kek == peppered.kek
        assert _open_private(user, peppered.kek) == private
        # Logging in again works, and a wrong password still fails.
        assert _login(db, "anna").private_key == private
        with pytest.raises(LoginFailed):
            _login(db, "anna", "not the password at all")


def test_upgraded_row_refuses_the_old_verifier(engine: Engine) -> None:
    """After the upgrade only scheme 2 is tried: a row whose verifier is (again) the
    unpeppered one does not log in while it claims scheme 2."""
    with Session(engine) as db:
        _activate(db, _invite(db))
        _make_legacy(db, "anna")
        user = db.exec(select(User).where(User.username == "anna")).one()
        user.password_scheme = 2
        db.add(user)
        db.flush()
        with pytest.raises(LoginFailed):
            _login(db, "anna")


def test_admin_old_scheme_is_upgraded_too(engine: Engine) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db, "it-admin", role="admin"))
        _make_legacy(db, "it-admin")
        assert _login(db, "it-admin").private_key == b""
        db.flush()
        user = db.exec(select(User).where(User.username == "it-admin")).one()
        assert user.password_scheme == 2


def test_old_scheme_recovery_code_works_once_and_is_replaced_by_a_peppered_one(
    engine: Engine,
) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db))
        private = _login(db, "anna").private_key
        user = db.exec(select(User).where(User.username == "anna")).one()
        code = crypto.random_string(accounts.RECOVERY_ALPHABET, accounts.RECOVERY_LEN)
        salt = b"r" * 16
        legacy = crypto.derive_password_keys(code, salt, CHEAP_ARGON2)
        user.recovery_salt, user.recovery_scheme = salt, 1
        user.recovery_sealed = crypto.seal(
            legacy.kek, private, purpose="private-key-recovery", case_id="", item_id=user.id
        )
        db.add(user)
        db.flush()
        new_code = accounts.recover(
            db,
            username="anna",
            recovery_code=code,
            password=NEW_PASSWORD,
            confirm=NEW_PASSWORD,
            params=CHEAP_ARGON2,
            password_key=PASSWORD_KEY,
        )
        db.flush()
        assert user.recovery_scheme == 2
        assert user.password_scheme == 2
        assert user.recovery_salt is not None
        assert user.recovery_sealed is not None
        thief = crypto.derive_password_keys(new_code, user.recovery_salt, CHEAP_ARGON2)
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(
                thief.kek,
                user.recovery_sealed,
                purpose="private-key-recovery",
                case_id="",
                item_id=user.id,
            )
        assert _login(db, "anna", NEW_PASSWORD).private_key == private


# --- common passwords -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["Password123!", "sommar2024", "Sommar2024!!", "  LÖSENORD 1234 ", "P@ssw0rd2026"]
)
def test_common_passwords_are_refused_at_activation_and_change(
    engine: Engine, password: str
) -> None:
    with Session(engine) as db:
        token = _invite(db)
        with pytest.raises(AccountError) as info:
            _activate(db, token, password)
        assert info.value.code == "password-common"
        assert accounts.find_invitation(db, token, now=T0) is not None  # nothing half-done
        _activate(db, token)
        user = db.exec(select(User).where(User.username == "anna")).one()
        before = user.password_verifier
        with pytest.raises(AccountError) as info:
            accounts.change_password(
                db,
                user_id=user.id,
                current=PASSWORD,
                password=password,
                confirm=password,
                params=CHEAP_ARGON2,
                password_key=PASSWORD_KEY,
            )
        assert info.value.code == "password-common"
        assert user.password_verifier == before
