"""Security keys and passkeys (WebAuthn) for staff: registration, login, removal.

Verification is the maintained ``webauthn`` library's (signatures, origin, RP ID, user
presence); this module adds what it leaves to the relying party:

* **one use per challenge**: every challenge is a row, deleted when an answer for it arrives,
  so a recorded assertion cannot be played again, even from an authenticator without a
  counter (passkeys report 0);
* **a challenge belongs to an account, a purpose and a browser session**: the row names the
  account and purpose, and the challenge itself carries a MAC under the session's secret
  (:func:`whistle.crypto.session_bound_challenge`), so an answer caught on its way is refused
  in any other login, even one of the same account with the right password;
* **clone checks**: the signature counter must grow (the library refuses a counter that does
  not), and the backup-eligibility flag must stay what it was at registration;
* **the account's own keys only**: a credential is looked up by its id *and* the account;
* origin and RP ID come from ``WHISTLE_BASE_URL`` (:func:`relying_party`), never from the
  request.

PRF: at registration the browser is asked for the key's PRF output for a per-key salt. When it
gives one, an investigator's private key is sealed under the password's kek and that output
(:func:`whistle.crypto.seal_with_security_key`) and the password-only wrap is dropped: from
then on unlocking needs the password and one of the account's PRF keys. The output is a secret:
it is used in memory to seal or open, and never stored or logged.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import webauthn
from sqlmodel import Session, col, delete, select
from webauthn.helpers import (
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from whistle import crypto
from whistle.errors import DomainError
from whistle.models import SecurityKey, SecurityKeyChallenge, User, utcnow

CHALLENGE_LIFETIME = dt.timedelta(minutes=5)
OPEN_CHALLENGES = 5  # unanswered challenges per account and purpose (several open tabs)
MAX_KEYS = 10  # per account
MAX_NAME = 64
MAX_RESPONSE = 16 * 1024  # a credential's JSON; attestation certificates fit easily
TIMEOUT_MS = 120_000


class SecurityKeyError(DomainError):
    """A ceremony failed; ``code`` is one of CODES (:mod:`whistle.errors`)."""


CODES = (
    "cancelled",  # the person cancelled, or the browser gave nothing
    "invalid",  # malformed, wrong origin or RP ID, bad signature: anything the library refuses
    "expired",  # the challenge is unknown, used already or too old (a replay lands here)
    "unknown-key",  # not a key of this account
    "cloned",  # counter did not grow or backup eligibility changed
    "needs-prf-key",  # this account's private key opens only with one of its PRF keys
    "duplicate",  # this key is registered already
    "too-many",
    "invalid-name",
)


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str


def relying_party(base_url: str, *, name: str) -> RelyingParty:
    """RP ID (the host) and origin (scheme, host, port) of the public URL."""
    parts = urlsplit(base_url)
    host = parts.hostname or "localhost"
    origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    return RelyingParty(rp_id=host, origin=origin, name=name or host)


def keys_of(db: Session, user_id: str) -> list[SecurityKey]:
    return list(
        db.exec(
            select(SecurityKey)
            .where(SecurityKey.user_id == user_id)
            .order_by(col(SecurityKey.created_at))
        ).all()
    )


def prf_locked(user: User) -> bool:
    """An investigator whose private key opens only with a PRF key (no password-only wrap)."""
    return user.role == "investigator" and user.private_key_sealed is None


def _new_challenge(
    db: Session, *, user_id: str, purpose: str, session_secret: str, now: dt.datetime
) -> bytes:
    """A fresh challenge, stored until answered or expired. Every page that offers a ceremony
    makes one; expired ones go, and an account keeps at most OPEN_CHALLENGES unanswered ones
    per purpose (the oldest go first), so reloading a page cannot grow the table."""
    db.exec(delete(SecurityKeyChallenge).where(col(SecurityKeyChallenge.expires_at) <= now))
    kept = db.exec(
        select(SecurityKeyChallenge.id)
        .where(SecurityKeyChallenge.user_id == user_id, SecurityKeyChallenge.purpose == purpose)
        .order_by(col(SecurityKeyChallenge.id).desc())
        .offset(OPEN_CHALLENGES - 1)
    ).all()
    if kept:
        db.exec(delete(SecurityKeyChallenge).where(col(SecurityKeyChallenge.id).in_(kept)))
    challenge = crypto.session_bound_challenge(session_secret)
    db.add(
        SecurityKeyChallenge(
            user_id=user_id,
            purpose=purpose,
            challenge=challenge,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    return challenge


def _take_challenge(
    db: Session,
    *,
    user_id: str,
    purpose: str,
    session_secret: str,
    client_data: bytes,
    now: dt.datetime,
) -> bytes:
    """The challenge the answer names, deleted so it is never accepted twice; "expired" unless
    it was made for this account, purpose and session, and is still young."""
    try:
        named = parse_client_data_json(client_data).challenge
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise SecurityKeyError("invalid") from None
    row = db.exec(
        select(SecurityKeyChallenge).where(
            SecurityKeyChallenge.user_id == user_id,
            SecurityKeyChallenge.purpose == purpose,
            SecurityKeyChallenge.challenge == named,
        )
    ).first()
    if row is None:
        raise SecurityKeyError("expired")
    db.delete(row)
    db.flush()
    if row.expires_at <= now or not crypto.challenge_is_bound(row.challenge, session_secret):
        raise SecurityKeyError("expired")
    return row.challenge


def prf_salt(challenge: bytes) -> bytes:
    """The PRF input offered with a registration challenge (kept with the key if it gives an
    output). Not a secret; derived so that nothing else needs storing between the steps."""
    return crypto.digest(b"whistle/v1/prf-salt\x00" + challenge)


def _b64url(raw: bytes) -> str:
    return bytes_to_base64url(raw)


def decode_prf(text: str) -> bytes | None:
    """The PRF output the page sends (base64url), or None; never logged, never stored."""
    text = text.strip()
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SecurityKeyError("invalid") from None
    if len(raw) != crypto.PRF_OUTPUT_LEN:
        raise SecurityKeyError("invalid")
    return raw


def registration_options(
    db: Session,
    *,
    user: User,
    rp: RelyingParty,
    session_secret: str,
    now: dt.datetime | None = None,
) -> str:
    """Options for ``navigator.credentials.create`` (JSON), with a fresh one-use challenge of
    this browser session (``session_secret``: its cookie) and the PRF extension asked for."""
    challenge = _new_challenge(
        db, user_id=user.id, purpose="register", session_secret=session_secret, now=now or utcnow()
    )
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_id=user.id.encode(),
        user_name=user.username,
        user_display_name=user.display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=key.credential_id) for key in keys_of(db, user.id)
        ],
    )
    data = json.loads(webauthn.options_to_json(options))
    data["extensions"] = {"prf": {"eval": {"first": _b64url(prf_salt(challenge))}}}
    return json.dumps(data)


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise SecurityKeyError("invalid-name")
    return name


def register(
    db: Session,
    *,
    user_id: str,
    rp: RelyingParty,
    name: str,
    response: str,
    prf_output: bytes | None,
    kek: bytes,
    private_key: bytes,
    session_secret: str,
    now: dt.datetime | None = None,
) -> SecurityKey:
    """Verify a registration and store the key; with a PRF output (investigators), seal the
    private key under password and key and drop the password-only wrap."""
    moment = now or utcnow()
    user = db.get(User, user_id)
    if user is None or user.status != "active":
        raise SecurityKeyError("invalid")
    if not response.strip():
        raise SecurityKeyError("cancelled")
    name = _check_name(name)
    if len(response) > MAX_RESPONSE:
        raise SecurityKeyError("invalid")
    try:
        credential = parse_registration_credential_json(response)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise SecurityKeyError("invalid") from None
    challenge = _take_challenge(
        db,
        user_id=user.id,
        purpose="register",
        session_secret=session_secret,
        client_data=credential.response.client_data_json,
        now=moment,
    )
    if len(keys_of(db, user.id)) >= MAX_KEYS:
        raise SecurityKeyError("too-many")
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise SecurityKeyError("invalid") from None
    taken = db.exec(
        select(SecurityKey).where(SecurityKey.credential_id == verified.credential_id)
    ).first()
    if taken is not None:
        raise SecurityKeyError("duplicate")
    key = SecurityKey(
        user_id=user.id,
        name=name,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        created_at=moment,
    )
    if prf_output is not None and user.role == "investigator" and private_key:
        key.prf_salt = prf_salt(challenge)
        key.private_key_sealed = crypto.seal_with_security_key(
            private_key, kek=kek, prf_output=prf_output, user_id=user.id, key_id=key.id
        )
        # From now on the password alone opens nothing (the recovery code still does).
        user.private_key_sealed = None
        db.add(user)
    db.add(key)
    db.flush()
    return key


def login_options(
    db: Session,
    *,
    user_id: str,
    rp: RelyingParty,
    session_secret: str,
    now: dt.datetime | None = None,
) -> str:
    """Options for ``navigator.credentials.get`` (JSON): the account's keys, a one-use
    challenge of this browser session, and each PRF key's salt."""
    keys = keys_of(db, user_id)
    challenge = _new_challenge(
        db, user_id=user_id, purpose="login", session_secret=session_secret, now=now or utcnow()
    )
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=key.credential_id) for key in keys],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    data = json.loads(webauthn.options_to_json(options))
    salts = {_b64url(k.credential_id): {"first": _b64url(k.prf_salt)} for k in keys if k.prf_salt}
    if salts:
        data["extensions"] = {"prf": {"evalByCredential": salts}}
    return json.dumps(data)


def authenticate(
    db: Session,
    *,
    user_id: str,
    rp: RelyingParty,
    response: str,
    session_secret: str,
    now: dt.datetime | None = None,
) -> SecurityKey:
    """Verify an assertion by one of this account's keys; the key, its counter moved on."""
    moment = now or utcnow()
    if not response.strip():
        raise SecurityKeyError("cancelled")
    if len(response) > MAX_RESPONSE:
        raise SecurityKeyError("invalid")
    try:
        credential = parse_authentication_credential_json(response)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise SecurityKeyError("invalid") from None
    challenge = _take_challenge(
        db,
        user_id=user_id,
        purpose="login",
        session_secret=session_secret,
        client_data=credential.response.client_data_json,
        now=moment,
    )
    handle = credential.response.user_handle
    if handle is not None and not crypto.constant_time_equal(handle, user_id.encode()):
        # A discoverable credential names its account: it must be this one.
        raise SecurityKeyError("unknown-key")
    key = db.exec(
        select(SecurityKey).where(
            SecurityKey.credential_id == credential.raw_id, SecurityKey.user_id == user_id
        )
    ).first()
    if key is None:
        raise SecurityKeyError("unknown-key")
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=key.public_key,
            credential_current_sign_count=key.sign_count,
        )
    except WebAuthnException as exc:
        # The library refuses a counter that did not grow with this message (a cloned key).
        counter = "sign count" in str(exc).lower()
        raise SecurityKeyError("cloned" if counter else "invalid") from None
    except (ValueError, KeyError, TypeError):
        raise SecurityKeyError("invalid") from None
    eligible = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    if eligible != key.backup_eligible:
        raise SecurityKeyError("cloned")
    key.sign_count = verified.new_sign_count
    key.last_used_at = moment
    db.add(key)
    return key


def unlock(key: SecurityKey, *, user: User, kek: bytes, prf_output: bytes | None) -> bytes:
    """The private key after a login with ``key``: b"" for accounts without one; from the
    PRF wrap when the account needs it. Raises ``needs-prf-key`` otherwise."""
    if not prf_locked(user):
        return b""  # the password step opened it already (or there is none)
    if key.private_key_sealed is None:
        raise SecurityKeyError("needs-prf-key")
    if prf_output is None:
        raise SecurityKeyError("cancelled")
    try:
        return crypto.open_with_security_key(
            key.private_key_sealed, kek=kek, prf_output=prf_output, user_id=user.id, key_id=key.id
        )
    except crypto.CryptoError:
        raise SecurityKeyError("invalid") from None


def remove(db: Session, *, user: User, key_id: str, kek: bytes, private_key: bytes) -> None:
    """Remove a key. When it held the account's last PRF wrap, the password-only wrap comes
    back first (sealed under ``kek``), so the private key stays reachable."""
    key = db.get(SecurityKey, key_id)
    if key is None or key.user_id != user.id:
        raise SecurityKeyError("unknown-key")
    others = [k for k in keys_of(db, user.id) if k.id != key.id and k.private_key_sealed]
    if prf_locked(user) and not others:
        if not private_key:
            raise SecurityKeyError("needs-prf-key")
        user.private_key_sealed = crypto.seal(
            kek, private_key, purpose="private-key", case_id="", item_id=user.id
        )
        db.add(user)
    db.delete(key)


def reseal_for_password(db: Session, *, user_id: str, old_kek: bytes, new_kek: bytes) -> None:
    """A password change moves every PRF wrap's outer layer to the new password."""
    for key in keys_of(db, user_id):
        if key.private_key_sealed is not None:
            key.private_key_sealed = crypto.reseal_security_key_wrap(
                key.private_key_sealed,
                old_kek=old_kek,
                new_kek=new_kek,
                user_id=user_id,
                key_id=key.id,
            )
            db.add(key)


def purge_challenges(db: Session, *, now: dt.datetime | None = None) -> None:
    """Delete expired challenges (the jobs run this: an account nobody logs in to any more
    would keep its last few for ever)."""
    moment = now or utcnow()
    db.exec(delete(SecurityKeyChallenge).where(col(SecurityKeyChallenge.expires_at) <= moment))


def forget_all(db: Session, *, user_id: str) -> None:
    """Recovery: the keys may be lost or stolen, and their wraps were sealed under the lost
    password. Every key goes; the person registers them again."""
    db.exec(delete(SecurityKey).where(col(SecurityKey.user_id) == user_id))
    db.exec(delete(SecurityKeyChallenge).where(col(SecurityKeyChallenge.user_id) == user_id))
