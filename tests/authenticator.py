"""A software WebAuthn authenticator for the server-level tests: it answers the options a page
offers the way a browser and a security key would, and can also answer the way an attacker
would (another origin, an old counter, a recorded answer).

ES256 key, "none" attestation, a counter, and the PRF extension (HMAC-SHA256 of the salt under
a per-key secret, as CTAP2 hmac-secret does). Browsers are tested in tests/e2e.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import os
import re
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "https://testserver"
OPTIONS = re.compile(r'data-options="([^"]*)"')


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def options_in(page: str) -> str:
    """The WebAuthn options a page hands its script (the form's data-options)."""
    match = OPTIONS.search(page)
    assert match, "no WebAuthn form on the page"
    return html.unescape(match.group(1))


@dataclass
class SoftKey:
    prf: bool = True
    backup_eligible: bool = False
    count: int = 0
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    _private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    _prf_secret: bytes = field(default_factory=lambda: os.urandom(32))

    def sign(self, data: bytes) -> bytes:
        """A signature by this key (for answers a test puts together itself)."""
        return self._private.sign(data, ec.ECDSA(hashes.SHA256()))

    def prf_output(self, salt: bytes) -> bytes:
        return hmac.new(self._prf_secret, salt, hashlib.sha256).digest()

    def _cose_key(self) -> bytes:
        numbers = self._private.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, rp_id: str, *, attested: bool) -> bytes:
        self.count += 1
        flags = 0x01 | 0x04 | (0x08 if self.backup_eligible else 0) | (0x40 if attested else 0)
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
        data += struct.pack(">I", self.count)
        if attested:
            data += bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id
            data += self._cose_key()
        return data

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(self, options: str, *, origin: str = ORIGIN) -> tuple[str, str]:
        """(credential JSON, PRF output base64url or "") for navigator.credentials.create."""
        o = json.loads(options)
        client_data = self._client_data("webauthn.create", o["challenge"], origin)
        attestation = cbor2.dumps(
            {
                "fmt": "none",
                "attStmt": {},
                "authData": self._auth_data(o["rp"]["id"], attested=True),
            }
        )
        answer = {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["usb"],
            },
            "clientExtensionResults": {},
        }
        prf = ""
        if self.prf:
            prf = b64url(self.prf_output(unb64url(o["extensions"]["prf"]["eval"]["first"])))
        return json.dumps(answer), prf

    def get(self, options: str, *, origin: str = ORIGIN) -> tuple[str, str]:
        """(credential JSON, PRF output base64url or "") for navigator.credentials.get."""
        o = json.loads(options)
        client_data = self._client_data("webauthn.get", o["challenge"], origin)
        auth_data = self._auth_data(o["rpId"], attested=False)
        signature = self._private.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        answer = {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
        }
        salts = o.get("extensions", {}).get("prf", {}).get("evalByCredential", {})
        salt = salts.get(b64url(self.credential_id))
        prf = b64url(self.prf_output(unb64url(salt["first"]))) if self.prf and salt else ""
        return json.dumps(answer), prf
