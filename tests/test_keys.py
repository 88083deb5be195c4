"""whistle.keys: the pepper and the continuity public key in the key directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.helpers import CHEAP_ARGON2, PASSWORD
from whistle import accounts, crypto, db
from whistle.keys import CONTINUITY_PUBLIC_FILE, PEPPER_FILE, Keys, KeysError, load_keys


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_generates_a_private_pepper(tmp_path: Path) -> None:
    keys_dir = tmp_path / "deploy" / "keys"
    keys = load_keys(keys_dir, create=True)
    pepper_path = keys_dir / PEPPER_FILE
    assert pepper_path.read_bytes() == keys.pepper
    assert len(keys.pepper) == crypto.KEY_LEN
    assert _mode(pepper_path) == 0o600
    assert _mode(keys_dir) == 0o700
    assert keys.continuity_public is None


def test_peppers_differ_between_deployments(tmp_path: Path) -> None:
    assert load_keys(tmp_path / "a", create=True) != load_keys(tmp_path / "b", create=True)


def test_password_key_is_a_subkey_not_the_pepper(tmp_path: Path) -> None:
    keys = load_keys(tmp_path / "keys", create=True)
    assert keys.password_key == crypto.password_key(keys.pepper) != keys.pepper
    assert len(keys.password_key) == crypto.KEY_LEN


def test_second_load_returns_the_same_pepper(tmp_path: Path) -> None:
    first = load_keys(tmp_path / "keys", create=True)
    assert load_keys(tmp_path / "keys", create=False) == first
    # create=True never replaces an existing pepper (that would lock every reporter out).
    assert load_keys(tmp_path / "keys", create=True) == first


def test_missing_pepper_without_create_is_refused(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    with pytest.raises(KeysError, match="missing"):
        load_keys(keys_dir, create=False)
    assert not (keys_dir / PEPPER_FILE).exists()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x00" * 32, id="all-zero"),
        pytest.param(b"x" * 32, id="all-x"),
        pytest.param(b"01" * 16, id="two-values"),
        pytest.param(bytes(range(31)), id="31-bytes"),
        pytest.param(bytes(range(33)), id="33-bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(bytes(range(32)).hex().encode(), id="hex-text"),
    ],
)
def test_hand_made_pepper_is_refused(tmp_path: Path, content: bytes) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    (keys_dir / PEPPER_FILE).write_bytes(content)
    (keys_dir / PEPPER_FILE).chmod(0o600)
    for create in (False, True):
        with pytest.raises(KeysError, match="not a generated"):
            load_keys(keys_dir, create=create)


def test_continuity_public_key_is_loaded(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    load_keys(keys_dir, create=True)
    _private, public = crypto.generate_keypair()
    (keys_dir / CONTINUITY_PUBLIC_FILE).write_bytes(public)
    assert load_keys(keys_dir, create=False).continuity_public == public


@pytest.mark.parametrize("length", [0, 32, crypto.PUBLIC_KEY_LEN - 1, crypto.PUBLIC_KEY_LEN + 1])
def test_continuity_public_key_of_the_wrong_length_is_refused(tmp_path: Path, length: int) -> None:
    keys_dir = tmp_path / "keys"
    load_keys(keys_dir, create=True)
    (keys_dir / CONTINUITY_PUBLIC_FILE).write_bytes(b"\x07" * length)
    with pytest.raises(KeysError, match="continuity"):
        load_keys(keys_dir, create=False)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o602, 0o660])
def test_pepper_others_can_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    keys_dir = tmp_path / "keys"
    load_keys(keys_dir, create=True)
    (keys_dir / PEPPER_FILE).chmod(mode)
    for create in (False, True):
        with pytest.raises(KeysError, match=f"other users \\(mode {mode:04o}\\).*chmod 600"):
            load_keys(keys_dir, create=create)
    (keys_dir / PEPPER_FILE).chmod(0o400)  # read-only for the owner is fine
    assert load_keys(keys_dir, create=False).pepper


def test_a_database_with_staff_passwords_is_not_a_first_start(
    engine: Engine, keys: Keys, tmp_path: Path
) -> None:
    """Staff passwords are derived with the pepper too: once an account has one, a missing
    pepper must stop the start instead of being silently replaced."""
    assert db.is_empty(engine)
    with db.session_scope(engine) as s:
        accounts.create_user(s, username="waiting", display_name="Invited", role="investigator")
    assert db.is_empty(engine)  # an invitation has no password yet
    with db.session_scope(engine) as s:
        accounts.create_active_user(
            s,
            username="anna",
            display_name="Anna",
            role="investigator",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
    assert not db.is_empty(engine)
    with pytest.raises(KeysError, match="staff"):
        load_keys(tmp_path / "lost-keys", create=db.is_empty(engine))
