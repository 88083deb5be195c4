"""Every cryptographic operation of whistle, and nothing else.

The scheme (see docs/threat-model.md for the reasoning):

* Each case has a random 32-byte **case key** (CK). Every piece of case content is sealed with
  ChaCha20-Poly1305 under a per-item subkey ``HKDF-SHA256(CK, info = purpose ‖ case id ‖ item id)``,
  and the same fields are the AEAD's associated data. A ciphertext copied to another row, another
  case or another purpose therefore fails to open.
* Each investigator has a hybrid post-quantum **HPKE key pair** (RFC 9180 with
  ML-KEM-768 + X25519, HKDF-SHA256, ChaCha20-Poly1305). CK is HPKE-sealed ("wrapped") to every
  investigator who may read the case, with ``info`` binding case id and recipient id.
  The private key (X25519 32 B ‖ ML-KEM-768 seed 64 B) is stored only sealed under a
  key-encryption key from Argon2id(password, per-user salt) followed by HKDF keyed with the
  *password key* (a subkey of the pepper in ``keys/``), and once more under one from the
  one-time recovery code, derived the same way. So a stolen database or backup without
  ``keys/`` cannot test a single password guess offline.
* A **reporter** holds only the case code. Argon2id(code, salt from the pepper) followed by
  HKDF keyed with the pepper (a 32-byte secret in ``keys/``) gives a *lookup id* (stored, finds the
  case) and a *reporter key* that seals CK. Without the pepper a stolen database cannot even be
  brute-forced offline.
* An optional **continuity key** (same HPKE suite, private half kept offline) receives a wrap of
  every CK, so cases survive when all of their investigators are gone.
* The **audit chain** is keyed: entry n's hash is ``HMAC-SHA256(AK, hash(n-1) ‖ fields of n)``
  with ``AK = HKDF-SHA256(pepper, info = "audit-chain")``. Without ``keys/`` nobody can rebuild a
  chain that verifies, so rewriting the log takes the key directory as well as the database.
* **Handover packages** carry a manifest of SHA-256 sums signed with an Ed25519 key from
  ``keys/`` (RFC 8032), checkable offline with the published public key.
* A **security key** with the WebAuthn PRF extension returns 32 secret bytes for a per-key salt.
  Where it does, the private key is sealed twice: inside under ``HKDF(PRF output)``, outside
  under the password's key-encryption key (:func:`seal_with_security_key`). The password-only
  wrap is then dropped, so a stolen database plus the password (or plus the key) opens nothing.
* **Sessions** keep the unlocked private key (or, for a reporter, CK) sealed under a random secret
  that lives only in the user's cookie; the database holds only a digest of the session id.

What the server can read: whatever passes through it while it handles a request (plaintext exists
only in process memory). What a stolen database, blob store or backup reveals: only the metadata
listed in the threat model. This module performs no I/O and imports nothing from whistle or any
web framework, so it can be reviewed on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.twofactor.hotp import HOTP

__all__ = [
    "KEY_LEN",
    "PRIVATE_KEY_LEN",
    "PUBLIC_KEY_LEN",
    "Argon2Params",
    "CaseAccess",
    "CryptoError",
    "LoginKeys",
    "PasswordKeys",
    "StreamOpener",
    "StreamSealer",
    "argon2id",
    "audit_chain_key",
    "challenge_is_bound",
    "check_hybrid_suite",
    "constant_time_equal",
    "derive_case_access",
    "derive_login_keys",
    "derive_password_keys",
    "derive_peppered_password_keys",
    "digest",
    "generate_keypair",
    "mac",
    "open_sealed",
    "open_with_security_key",
    "password_key",
    "public_key_of",
    "random_digits",
    "random_key",
    "random_string",
    "random_token",
    "reseal_security_key_wrap",
    "seal",
    "seal_with_security_key",
    "security_key_kek",
    "security_key_prf_salt",
    "session_bound_challenge",
    "sha256_hex",
    "sign",
    "signing_keypair",
    "signing_public_key",
    "totp_code",
    "totp_new_secret",
    "totp_uri",
    "totp_verify",
    "unwrap_key",
    "verify_signature",
    "wrap_key",
]

KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
# Format byte in front of every sealed blob, so the scheme can evolve without guessing.
FORMAT_V1 = b"\x01"
X25519_LEN = 32
MLKEM_SEED_LEN = 64
MLKEM768_PUBLIC_LEN = 1184
PRIVATE_KEY_LEN = X25519_LEN + MLKEM_SEED_LEN
PUBLIC_KEY_LEN = X25519_LEN + MLKEM768_PUBLIC_LEN

# RFC 9180 §7 suite with the hybrid KEM of draft-ietf-hpke-pq (X-Wing style ML-KEM-768+X25519):
# secure if either component is, which is what "harvest now, decrypt later" requires.
_HPKE_SUITE_ARGS = (hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

_DOMAIN = b"whistle/v1/"


class CryptoError(Exception):
    """A ciphertext did not open: wrong key, wrong binding, or tampering. Deliberately vague."""


# ---------------------------------------------------------------------------------------------
# randomness and comparisons


def random_key() -> bytes:
    """A fresh 32-byte symmetric key from the OS CSPRNG."""
    return os.urandom(KEY_LEN)


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random token (session ids, activation links, CSRF tokens)."""
    return secrets.token_urlsafe(nbytes)


def random_string(alphabet: str, count: int) -> str:
    """``count`` characters drawn uniformly from ``alphabet`` (case and recovery codes)."""
    return "".join(secrets.choice(alphabet) for _ in range(count))


def random_digits(count: int) -> str:
    """``count`` uniformly random decimal digits (case codes)."""
    return random_string("0123456789", count)


def digest(value: str | bytes) -> bytes:
    """SHA-256 of a high-entropy token, for storing it without being able to use it."""
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).digest()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare secrets without leaking where they differ."""
    a_b = a.encode() if isinstance(a, str) else a
    b_b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_b, b_b)


def _hkdf(ikm: bytes, *, info: bytes, length: int = KEY_LEN, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=_DOMAIN + info).derive(
        ikm
    )


def audit_chain_key(pepper: bytes) -> bytes:
    """The audit chain's HMAC key, derived from the pepper (domain-separated from case codes)."""
    _check_key(pepper)
    return _hkdf(pepper, info=b"audit-chain")


def mac(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data`` under a 32-byte key."""
    _check_key(key)
    h = crypto_hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def _encode_fields(*fields: str) -> bytes:
    """Unambiguous encoding: each field as a 2-byte big-endian length and its UTF-8 bytes."""
    out = bytearray()
    for field in fields:
        raw = field.encode()
        if len(raw) > 0xFFFF:
            raise ValueError("binding field too long")
        out += struct.pack(">H", len(raw)) + raw
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# sealing: AEAD bound to (purpose, case id, item id)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LEN:
        raise ValueError("keys are 32 bytes")


def _seal_with_nonce(
    key: bytes, plaintext: bytes, nonce: bytes, *, purpose: str, case_id: str, item_id: str
) -> bytes:
    _check_key(key)
    binding = _encode_fields(purpose, case_id, item_id)
    subkey = _hkdf(key, info=b"item-key\x00" + binding)
    sealed = ChaCha20Poly1305(subkey).encrypt(nonce, plaintext, FORMAT_V1 + binding)
    return FORMAT_V1 + nonce + sealed


def seal(key: bytes, plaintext: bytes, *, purpose: str, case_id: str, item_id: str) -> bytes:
    """Encrypt and authenticate ``plaintext`` so that it opens only with the same key and binding.

    ``purpose`` names what the blob is ("report", "message", "reporter-wrap", ...). The per-item
    subkey means a random 96-bit nonce is never reused under one ChaCha20 key in practice.
    """
    return _seal_with_nonce(
        key, plaintext, os.urandom(NONCE_LEN), purpose=purpose, case_id=case_id, item_id=item_id
    )


def open_sealed(key: bytes, sealed: bytes, *, purpose: str, case_id: str, item_id: str) -> bytes:
    """Reverse :func:`seal`; raises :class:`CryptoError` on any mismatch."""
    _check_key(key)
    if len(sealed) < 1 + NONCE_LEN + TAG_LEN or sealed[:1] != FORMAT_V1:
        raise CryptoError("cannot open")
    binding = _encode_fields(purpose, case_id, item_id)
    subkey = _hkdf(key, info=b"item-key\x00" + binding)
    nonce = sealed[1 : 1 + NONCE_LEN]
    try:
        return ChaCha20Poly1305(subkey).decrypt(nonce, sealed[1 + NONCE_LEN :], FORMAT_V1 + binding)
    except InvalidTag:
        raise CryptoError("cannot open") from None


# ---------------------------------------------------------------------------------------------
# streaming: attachments are sealed chunk by chunk while they arrive (STREAM construction)

CHUNK_SIZE = 64 * 1024
_STREAM_HEADER_LEN = 1 + 16  # format byte + random nonce prefix


class StreamSealer:
    """Seals a byte stream as independent chunks of at most ``CHUNK_SIZE`` plaintext bytes.

    Each chunk's nonce is ``prefix(7 B) ‖ counter(4 B) ‖ last-flag(1 B)``, so chunks cannot be
    reordered, dropped or truncated without detection (Hoang–Reyhanitabar–Rogaway–Vizár STREAM).
    The subkey is bound to (purpose, case id, item id) and a random 16-byte header salt.
    """

    def __init__(self, key: bytes, *, purpose: str, case_id: str, item_id: str) -> None:
        _check_key(key)
        salt = os.urandom(16)
        binding = _encode_fields(purpose, case_id, item_id)
        self._aead = ChaCha20Poly1305(_hkdf(key, info=b"stream-key\x00" + binding, salt=salt))
        self._prefix = salt[:7]
        self._counter = 0
        self._done = False
        self.header = FORMAT_V1 + salt

    def seal_chunk(self, chunk: bytes, *, last: bool = False) -> bytes:
        if self._done:
            raise ValueError("stream already finished")
        if len(chunk) > CHUNK_SIZE:
            raise ValueError("chunk too large")
        nonce = self._prefix + struct.pack(">IB", self._counter, 1 if last else 0)
        self._counter += 1
        self._done = last
        return self._aead.encrypt(nonce, chunk, None)


class StreamOpener:
    """Opens what :class:`StreamSealer` produced; the caller feeds sealed chunks in order."""

    sealed_chunk_size = CHUNK_SIZE + TAG_LEN
    header_len = _STREAM_HEADER_LEN

    def __init__(
        self, key: bytes, header: bytes, *, purpose: str, case_id: str, item_id: str
    ) -> None:
        _check_key(key)
        if len(header) != _STREAM_HEADER_LEN or header[:1] != FORMAT_V1:
            raise CryptoError("cannot open")
        salt = header[1:]
        binding = _encode_fields(purpose, case_id, item_id)
        self._aead = ChaCha20Poly1305(_hkdf(key, info=b"stream-key\x00" + binding, salt=salt))
        self._prefix = salt[:7]
        self._counter = 0
        self.finished = False

    def open_chunk(self, sealed: bytes, *, last: bool) -> bytes:
        if self.finished:
            raise CryptoError("data after the last chunk")
        nonce = self._prefix + struct.pack(">IB", self._counter, 1 if last else 0)
        self._counter += 1
        try:
            plain = self._aead.decrypt(nonce, sealed, None)
        except InvalidTag:
            raise CryptoError("cannot open") from None
        self.finished = last
        return plain


# ---------------------------------------------------------------------------------------------
# Argon2id


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost. The production values are the settings' defaults (whistle/settings.py,
    declared there once): RFC 9106 §4's second recommended option (t=3, m=64 MiB), with one lane
    so that concurrency is bounded by the caller's worker pool."""

    time_cost: int
    memory_kib: int
    parallelism: int


def argon2id(secret: bytes, salt: bytes, params: Argon2Params, length: int = KEY_LEN) -> bytes:
    """Raw Argon2id (RFC 9106). CPU- and memory-hard: never call it on the event loop."""
    return hash_secret_raw(
        secret=secret,
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=length,
        type=Type.ID,
    )


@dataclass(frozen=True)
class PasswordKeys:
    """From one Argon2id run: a verifier to store and compare, and a key-encryption key to
    unlock the private key. Knowing the verifier does not give the key-encryption key."""

    verifier: bytes
    kek: bytes


def _password_master(secret: str, salt: bytes, params: Argon2Params) -> bytes:
    if len(salt) < 16:
        raise ValueError("salt must be at least 16 bytes")
    return argon2id(secret.encode(), salt, params)


def _legacy_keys(master: bytes) -> PasswordKeys:
    return PasswordKeys(
        verifier=_hkdf(master, info=b"password-verifier"),
        kek=_hkdf(master, info=b"password-kek"),
    )


def _peppered_keys(master: bytes, password_key: bytes) -> PasswordKeys:
    # HKDF-Extract with the password key as salt: without it neither output can be computed
    # from the Argon2 output, so a guess cannot be checked against a stolen verifier or wrap.
    okm = _hkdf(master, info=b"password-keys-v2", length=2 * KEY_LEN, salt=password_key)
    return PasswordKeys(verifier=okm[:KEY_LEN], kek=okm[KEY_LEN:])


def derive_password_keys(secret: str, salt: bytes, params: Argon2Params) -> PasswordKeys:
    """Scheme 1 (no pepper), kept only to open accounts not yet upgraded at their next login."""
    return _legacy_keys(_password_master(secret, salt, params))


def password_key(pepper: bytes) -> bytes:
    """The subkey of the pepper that keys every password and recovery-code derivation (scheme 2).

    A separate HKDF output, so the raw pepper (which also finds reporters' cases) is used for
    one purpose only.
    """
    if len(pepper) != KEY_LEN:
        raise ValueError("pepper must be 32 bytes")
    return _hkdf(pepper, info=b"password-pepper")


def derive_peppered_password_keys(
    secret: str, salt: bytes, params: Argon2Params, *, password_key: bytes
) -> PasswordKeys:
    """Scheme 2: Argon2id(secret, salt), then HKDF keyed with :func:`password_key`."""
    _check_key(password_key)
    return _peppered_keys(_password_master(secret, salt, params), password_key)


@dataclass(frozen=True)
class LoginKeys:
    """Both schemes from one Argon2id run: ``current`` (scheme 2) and ``legacy`` (scheme 1, to
    check an account not yet upgraded and upgrade it without a second derivation)."""

    current: PasswordKeys
    legacy: PasswordKeys


def derive_login_keys(
    secret: str, salt: bytes, params: Argon2Params, *, password_key: bytes
) -> LoginKeys:
    _check_key(password_key)
    master = _password_master(secret, salt, params)
    return LoginKeys(current=_peppered_keys(master, password_key), legacy=_legacy_keys(master))


@dataclass(frozen=True)
class CaseAccess:
    lookup_id: bytes
    reporter_key: bytes


def derive_case_access(code: str, pepper: bytes, params: Argon2Params) -> CaseAccess:
    """From a normalised case code: the lookup id (stored) and the reporter key (never stored).

    The Argon2 salt is derived from the pepper (a case is found *by* this output, so it cannot
    have a per-case salt); the split is HKDF keyed with the pepper, so without ``keys/`` no
    candidate code can be tested against a stolen database.
    """
    if len(pepper) != KEY_LEN:
        raise ValueError("pepper must be 32 bytes")
    salt = _hkdf(pepper, info=b"case-code-salt", length=16)
    master = argon2id(code.encode(), salt, params)
    okm = _hkdf(master, info=b"case-code-split", length=2 * KEY_LEN, salt=pepper)
    return CaseAccess(lookup_id=okm[:KEY_LEN], reporter_key=okm[KEY_LEN:])


# ---------------------------------------------------------------------------------------------
# HPKE key pairs and wraps


def _suite() -> hpke.Suite:
    return hpke.Suite(*_HPKE_SUITE_ARGS)


def check_hybrid_suite() -> None:
    """Raise RuntimeError unless this OpenSSL/cryptography build does ML-KEM-768+X25519 HPKE."""
    try:
        private, public = generate_keypair()
        probe = random_key()
        wrapped = wrap_key(probe, public, case_id="probe", recipient_id="probe")
        if unwrap_key(wrapped, private, case_id="probe", recipient_id="probe") != probe:
            raise RuntimeError("HPKE round trip failed")
    except Exception as exc:  # any failure means the suite is not usable here
        raise RuntimeError(
            "the hybrid ML-KEM-768+X25519 HPKE suite is unavailable; "
            "install cryptography>=50 built against OpenSSL with ML-KEM"
        ) from exc


def _load_private(private_key: bytes) -> hpke.MLKEM768X25519PrivateKey:
    if len(private_key) != PRIVATE_KEY_LEN:
        raise CryptoError("bad private key")
    return hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(private_key[X25519_LEN:]),
        x25519.X25519PrivateKey.from_private_bytes(private_key[:X25519_LEN]),
    )


def _load_public(public_key: bytes) -> hpke.MLKEM768X25519PublicKey:
    if len(public_key) != PUBLIC_KEY_LEN:
        raise CryptoError("bad public key")
    return hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(public_key[X25519_LEN:]),
        x25519.X25519PublicKey.from_public_bytes(public_key[:X25519_LEN]),
    )


def public_key_of(private_key: bytes) -> bytes:
    """The 1,216-byte public key (X25519 ‖ ML-KEM-768) of a 96-byte private key."""
    if len(private_key) != PRIVATE_KEY_LEN:
        raise CryptoError("bad private key")
    x_priv = x25519.X25519PrivateKey.from_private_bytes(private_key[:X25519_LEN])
    m_priv = mlkem.MLKEM768PrivateKey.from_seed_bytes(private_key[X25519_LEN:])
    return x_priv.public_key().public_bytes_raw() + m_priv.public_key().public_bytes_raw()


def generate_keypair() -> tuple[bytes, bytes]:
    """A new investigator (or continuity) key pair as (private 96 B, public 1,216 B)."""
    x_priv = x25519.X25519PrivateKey.generate()
    m_priv = mlkem.MLKEM768PrivateKey.generate()
    private = x_priv.private_bytes_raw() + m_priv.private_bytes_raw()
    return private, public_key_of(private)


def _wrap_info(case_id: str, recipient_id: str) -> bytes:
    return _DOMAIN + b"case-key-wrap\x00" + _encode_fields(case_id, recipient_id)


def wrap_key(case_key: bytes, public_key: bytes, *, case_id: str, recipient_id: str) -> bytes:
    """HPKE-seal a case key to one recipient; opens only for that case and that recipient."""
    _check_key(case_key)
    return FORMAT_V1 + _suite().encrypt(
        case_key, _load_public(public_key), info=_wrap_info(case_id, recipient_id)
    )


def unwrap_key(wrapped: bytes, private_key: bytes, *, case_id: str, recipient_id: str) -> bytes:
    return Unwrapper(private_key).unwrap(wrapped, case_id=case_id, recipient_id=recipient_id)


class Unwrapper:
    """One private key, loaded once, to unwrap many case keys (a search over every case one
    holds: expanding the ML-KEM seed is most of the cost of one unwrap)."""

    def __init__(self, private_key: bytes) -> None:
        self._private = _load_private(private_key)
        self._suite = _suite()

    def unwrap(self, wrapped: bytes, *, case_id: str, recipient_id: str) -> bytes:
        if wrapped[:1] != FORMAT_V1:
            raise CryptoError("cannot open")
        try:
            key = self._suite.decrypt(
                wrapped[1:], self._private, info=_wrap_info(case_id, recipient_id)
            )
        except Exception:  # the binding raises several exception types for bad input
            raise CryptoError("cannot open") from None
        if len(key) != KEY_LEN:
            raise CryptoError("cannot open")
        return key


# ---------------------------------------------------------------------------------------------
# TOTP second factor (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps — what authenticator apps
# implement). The secret is stored only sealed under the password's key-encryption key.

TOTP_DIGITS = 6
TOTP_STEP = 30
TOTP_SECRET_LEN = 20


def totp_new_secret() -> bytes:
    return os.urandom(TOTP_SECRET_LEN)


def totp_uri(secret: bytes, *, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the enrolment QR code."""
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    totp = TOTP(secret, TOTP_DIGITS, hashes.SHA1(), TOTP_STEP)  # noqa: S303 - RFC 6238 default
    return totp.get_provisioning_uri(account, issuer)


def totp_code(secret: bytes, *, at: float) -> str:
    """The code an authenticator app shows at time ``at`` (demo and tests)."""
    hotp = HOTP(secret, TOTP_DIGITS, hashes.SHA1())  # noqa: S303 - RFC 6238 default
    return hotp.generate(int(at) // TOTP_STEP).decode()


def totp_verify(secret: bytes, code: str, *, at: float, after_step: int) -> int | None:
    """The time step ``code`` belongs to (now, or one step either side for clock drift), if it
    is later than ``after_step`` — a code already used is refused (replay). Else None."""
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    hotp = HOTP(secret, TOTP_DIGITS, hashes.SHA1())  # noqa: S303 - RFC 6238 default
    now_step = int(at) // TOTP_STEP
    matched: int | None = None
    for step in (now_step - 1, now_step, now_step + 1):
        # Every candidate is computed and compared, so timing does not tell which one matched.
        if constant_time_equal(hotp.generate(step), code.encode()) and step > after_step:
            matched = step
    return matched


# ---------------------------------------------------------------------------------------------
# Handover packages (5 kap. 10 §): a manifest of SHA-256 sums signed with Ed25519 (RFC 8032), so
# the receiving unit or authority can check offline that no file was changed. The private key
# lives in keys/; its public half is published on the information page.

SIGNING_KEY_LEN = 32
SIGNATURE_LEN = 64


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signing_keypair() -> tuple[bytes, bytes]:
    """(private, public), both the raw 32-byte encodings."""
    private = ed25519.Ed25519PrivateKey.generate()
    return _ed25519_raw(private), signing_public_key(_ed25519_raw(private))


def _ed25519_raw(private: ed25519.Ed25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def signing_public_key(private_key: bytes) -> bytes:
    public = ed25519.Ed25519PrivateKey.from_private_bytes(private_key).public_key()
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(private_key: bytes, message: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(private_key).sign(message)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# security keys: the private key wrapped under the password AND a WebAuthn PRF output

PRF_SALT_LEN = 32  # the input the browser passes to the key (``prf.eval.first``)
PRF_OUTPUT_LEN = 32  # WebAuthn PRF results are 32 bytes (hmac-secret, SHA-256)
_SK_INNER = "private-key-security-key"
_SK_OUTER = "private-key-security-key-outer"


WEBAUTHN_CHALLENGE_LEN = 32
_CHALLENGE_NONCE_LEN = 16


def _challenge_tag(session_secret: str, nonce: bytes) -> bytes:
    key = _hkdf(session_secret.encode(), info=b"webauthn-challenge")
    return mac(key, nonce)[: WEBAUTHN_CHALLENGE_LEN - _CHALLENGE_NONCE_LEN]


def session_bound_challenge(session_secret: str) -> bytes:
    """A WebAuthn challenge that belongs to one browser session: 16 random bytes and 16 bytes
    of HMAC-SHA256 under a key from the session's secret (its cookie). An answer caught on its
    way is then worth nothing in another login, even of the same account."""
    nonce = os.urandom(_CHALLENGE_NONCE_LEN)
    return nonce + _challenge_tag(session_secret, nonce)


def challenge_is_bound(challenge: bytes, session_secret: str) -> bool:
    """Whether ``challenge`` was made by :func:`session_bound_challenge` for this session."""
    if len(challenge) != WEBAUTHN_CHALLENGE_LEN:
        return False
    nonce, tag = challenge[:_CHALLENGE_NONCE_LEN], challenge[_CHALLENGE_NONCE_LEN:]
    return constant_time_equal(tag, _challenge_tag(session_secret, nonce))


def security_key_prf_salt() -> bytes:
    """A fresh PRF input for one registered key; stored in clear (it is not a secret: without
    the authenticator's own secret nobody can compute the output from it)."""
    return os.urandom(PRF_SALT_LEN)


def security_key_kek(prf_output: bytes, *, user_id: str, key_id: str) -> bytes:
    """The key a PRF output gives: HKDF-SHA256(PRF output, info bound to account and key), so
    the raw output is used for nothing else and a wrap cannot be moved to another row."""
    if len(prf_output) != PRF_OUTPUT_LEN:
        raise ValueError("a PRF output is 32 bytes")
    return _hkdf(prf_output, info=b"security-key-kek\x00" + _encode_fields(user_id, key_id))


def seal_with_security_key(
    private_key: bytes, *, kek: bytes, prf_output: bytes, user_id: str, key_id: str
) -> bytes:
    """Seal the private key under the security key's PRF key, then under the password's kek.

    Two layers rather than one key from both: a password change re-seals the outer layer
    (:func:`reseal_security_key_wrap`) without the security key at hand, and neither the
    password alone nor the PRF output alone opens the inner one.
    """
    inner = seal(
        security_key_kek(prf_output, user_id=user_id, key_id=key_id),
        private_key,
        purpose=_SK_INNER,
        case_id=user_id,
        item_id=key_id,
    )
    return seal(kek, inner, purpose=_SK_OUTER, case_id=user_id, item_id=key_id)


def open_with_security_key(
    sealed: bytes, *, kek: bytes, prf_output: bytes, user_id: str, key_id: str
) -> bytes:
    """Reverse :func:`seal_with_security_key`; :class:`CryptoError` unless both are right."""
    inner = open_sealed(kek, sealed, purpose=_SK_OUTER, case_id=user_id, item_id=key_id)
    try:
        prf_kek = security_key_kek(prf_output, user_id=user_id, key_id=key_id)
    except ValueError:
        raise CryptoError("cannot open") from None
    return open_sealed(prf_kek, inner, purpose=_SK_INNER, case_id=user_id, item_id=key_id)


def reseal_security_key_wrap(
    sealed: bytes, *, old_kek: bytes, new_kek: bytes, user_id: str, key_id: str
) -> bytes:
    """Move a security-key wrap to a new password: only the outer layer changes."""
    inner = open_sealed(old_kek, sealed, purpose=_SK_OUTER, case_id=user_id, item_id=key_id)
    return seal(new_kek, inner, purpose=_SK_OUTER, case_id=user_id, item_id=key_id)
