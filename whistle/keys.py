"""The deployment's key directory: the case-code pepper, the package signing key and the optional
continuity public key.

The pepper keys every case-code derivation and, through its subkey :attr:`Keys.password_key`,
every staff password and recovery-code derivation. Key files are created with mode 0600 at first
start (an empty database). If the database already holds cases or staff passwords and the pepper
is missing, the service refuses to start: a new pepper would silently lock every reporter out of
their case and every investigator out of their key.
It also refuses a pepper that other users of the machine can read or write (any group or other
permission bit): whoever reads it, with a copy of the database, can brute-force case codes offline
and rebuild the audit chain's keyed hashes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from whistle import crypto

PEPPER_FILE = "pepper.key"
CONTINUITY_PUBLIC_FILE = "continuity.pub"
# Signs handover packages' manifests (whistle/package.py). Made when missing: a new one only
# means packages made before are checked against the old public key, which the receiver kept.
SIGNING_FILE = "signing.key"


class KeysError(RuntimeError):
    """The key directory is missing, unreadable or holds a placeholder."""


@dataclass(frozen=True)
class Keys:
    pepper: bytes
    continuity_public: bytes | None = None
    signing: bytes | None = None

    @property
    def password_key(self) -> bytes:
        """The pepper's subkey for staff passwords and recovery codes (never the raw pepper)."""
        return crypto.password_key(self.pepper)


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _looks_like_placeholder(data: bytes) -> bool:
    return len(set(data)) <= 2  # all zeros, all 'x', and similar hand-made fillers


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeysError(
            f"{path} can be read or written by other users (mode {mode:04o}); the service "
            f"will not use it. Restrict it to its owner: chmod 600 {path}"
        )


def load_keys(keys_dir: Path, *, create: bool) -> Keys:
    """Read the keys; with ``create`` make a missing pepper (only safe on a first start)."""
    pepper_path = keys_dir / PEPPER_FILE
    if not pepper_path.exists():
        if not create:
            raise KeysError(
                f"{pepper_path} is missing but the database already holds cases or staff "
                "passwords; restore the key directory from its backup (a new pepper would lock "
                "every reporter and every investigator out)"
            )
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_secret(pepper_path, crypto.random_key())
    _check_private(pepper_path)
    pepper = pepper_path.read_bytes()
    if len(pepper) != crypto.KEY_LEN or _looks_like_placeholder(pepper):
        raise KeysError(f"{pepper_path} is not a generated 32-byte key")
    continuity: bytes | None = None
    continuity_path = keys_dir / CONTINUITY_PUBLIC_FILE
    if continuity_path.exists():
        continuity = continuity_path.read_bytes()
        if len(continuity) != crypto.PUBLIC_KEY_LEN:
            raise KeysError(f"{continuity_path} is not a continuity public key")
    signing_path = keys_dir / SIGNING_FILE
    if not signing_path.exists():
        _write_secret(signing_path, crypto.signing_keypair()[0])
    signing = signing_path.read_bytes()
    if len(signing) != crypto.SIGNING_KEY_LEN or _looks_like_placeholder(signing):
        raise KeysError(f"{signing_path} is not a generated Ed25519 key")
    return Keys(pepper=pepper, continuity_public=continuity, signing=signing)
