"""The deployment's key directory: the case-code pepper, the package signing key and the optional
continuity public key.

Key files are created with mode 0600 at first start (an empty database). If the database already
holds cases and the pepper is missing, the service refuses to start: a new pepper would silently
lock every reporter out of their case.
"""

from __future__ import annotations

import os
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


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _looks_like_placeholder(data: bytes) -> bool:
    return len(set(data)) <= 2  # all zeros, all 'x', and similar hand-made fillers


def load_keys(keys_dir: Path, *, create: bool) -> Keys:
    """Read the keys; with ``create`` make a missing pepper (only safe on a first start)."""
    pepper_path = keys_dir / PEPPER_FILE
    if not pepper_path.exists():
        if not create:
            raise KeysError(
                f"{pepper_path} is missing but the database already holds cases; restore the "
                "key directory from its backup (a new pepper would lock every reporter out)"
            )
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_secret(pepper_path, crypto.random_key())
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
