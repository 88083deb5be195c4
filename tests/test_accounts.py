"""whistle.accounts: creating, activating and authenticating investigators and administrators."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from tests.conftest import CHEAP_ARGON2, PASSWORD
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
        assert user.username == "anna.andersson" and user.display_name == "Anna"
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
        assert user.activation_digest is None and user.activation_expires is None


def test_investigator_activation_returns_a_recovery_code_and_makes_a_key_pair(
    engine: Engine,
) -> None:
    with Session(engine) as db:
        recovery = _activate(db, _invite(db))
        assert recovery is not None and len(recovery) == accounts.RECOVERY_LEN
        assert set(recovery) <= set(accounts.RECOVERY_ALPHABET)
        who = _login(db, "anna")
        user = who.user
        assert user.status == "active"
        assert len(who.private_key) == crypto.PRIVATE_KEY_LEN
        assert user.public_key == crypto.public_key_of(who.private_key)
        assert user.private_key_sealed and user.recovery_sealed and user.recovery_salt


def test_admin_activation_gives_no_recovery_code_and_no_key_pair(engine: Engine) -> None:
    with Session(engine) as db:
        assert _activate(db, _invite(db, "it-admin", role="admin")) is None
        who = _login(db, "it-admin")
        assert who.private_key == b""
        user = who.user
        assert user.role == "admin" and user.password_verifier is not None
        assert user.public_key is None and user.private_key_sealed is None
        assert user.recovery_salt is None and user.recovery_sealed is None


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
        assert user.recovery_salt is not None and user.recovery_sealed is not None
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
    assert private[:32] not in dump and private[32:] not in dump


def test_active_investigators(engine: Engine) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db, "bertil"))
        _activate(db, _invite(db, "anna"))
        _invite(db, "invited")
        _activate(db, _invite(db, "it-admin", role="admin"))
        assert [u.username for u in accounts.active_investigators(db)] == ["anna", "bertil"]
