"""whistle.crypto: round trips, known-answer vectors, and every kind of tampering rejected.

The known-answer vectors pin the project's own formats (sealed blobs, case-code derivation,
password keys, HPKE wraps). They were computed once with this module and pasted here: a change
that alters any byte of a stored format fails these tests, because it would make every existing
database unreadable. Where a format can be checked from its specification alone (the sealed
blob), a test re-derives it from the primitives as well.
"""

from __future__ import annotations

import ast
import hashlib
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tests.helpers import CHEAP_ARGON2
from whistle import crypto
from whistle.crypto import CryptoError

CASE = "c" * 32
ITEM = "i" * 32
OTHER_CASE = "d" * 32
OTHER_ITEM = "j" * 32
PURPOSE = "item:report"

# ---------------------------------------------------------------------------------------------
# known-answer vectors (computed once with this module, then frozen)

KAT_KEY = bytes(range(32))
KAT_NONCE = bytes.fromhex("000102030405060708090a0b")
KAT_PLAINTEXT = b"The head of procurement"
KAT_SEALED = bytes.fromhex(
    "01000102030405060708090a0b68b1e6d438fc0b4e2f1ccfacf1bbe86647dd0977ef41348881dee333f8e621"
    "a6d7a761026175d0"
)

KAT_CODE = "1234567812345678"
KAT_PEPPER = bytes([0x42]) * 32
KAT_LOOKUP_ID = bytes.fromhex("51176d5a1b6e4b952e89d5640950a656fa28ffd9d9e1f2cdaba7c4f42626dcf7")
KAT_REPORTER_KEY = bytes.fromhex("2c1d2749dd098ac39fd77850e36fc767055440f18e6e067c29dc20624492d3c5")

KAT_ARGON2 = bytes.fromhex("05b6ca8f8038b683887ad4916533858b49cb52040126c134f4c6e9d8711b8c09")

KAT_PASSWORD_VERIFIER = bytes.fromhex(
    "cc93ad437e9630165925b086695f848f5822e676dded2acc0747f0e4b5df3924"
)
KAT_PASSWORD_KEK = bytes.fromhex("a06f17f01cfdb7329bfb5a8c88e8b5c6408bba31ecc47bf1f2eadd26c5938a89")
# Scheme 2: the same password and salt, keyed with the password key of KAT_PEPPER.
KAT_PASSWORD_KEY = bytes.fromhex("8c2b0dfd82d53a24b9fd4b672d63051a904dfdafd77bd0f168a08cef05208e6b")
KAT_PEPPERED_VERIFIER = bytes.fromhex(
    "a4b2fc99dba29096ab2587ad5fcb0abb814eaf4c21b91270617a2fe1cbfeb5e0"
)
KAT_PEPPERED_KEK = bytes.fromhex("1affc91b1ff0239864fc5617d38db408a9adeccee12fe4d3f45a0772e1f6e38d")

# X25519 private scalar ‖ ML-KEM-768 seed (d ‖ z), both fixed.
KAT_PRIVATE = bytes(range(32)) + bytes(range(100, 164))
KAT_PUBLIC_SHA256 = "4d8d6a6c63b9f71cc025d251658cb6a804c42b5af6f21088b3d1def10be79abd"
KAT_CASE_KEY = bytes(range(0xA0, 0xC0))
KAT_WRAP_CASE = "c" * 32
KAT_WRAP_RECIPIENT = "u" * 32
# HPKE encryption is randomised (fresh KEM encapsulation), so only decryption can be a KAT.
KAT_WRAPPED = bytes.fromhex(
    "01f0edef31e49c75a0b5c576dc015320a87ca0563f637e7ef37594267c2942991319ec098df04c2430bba559"
    "e97e1b5bde33dbe051e8f66153eeac611b48a951fbb818495d7efe833fe6e58f0eb4636ed7a1d5cb1898dd79"
    "68fffd9de2e0e6a91ab40eece22ce5074a4e8ff261a6fb59ef21e40c4e1f00d3330b59378899d306ce0819df"
    "1d3b77f4c451dddf8cb2fb50d4e239411d47ef02e0523492831df2f3988cd3564c581547e29b1ec1b66b840d"
    "4d92f7d5d7a41da4aaa403f302455b4852cc5784cad122d49d2a4b7e9cea43676b975e3530c4908c58ac5ab3"
    "105eb74b94cc7fb2d0baca129d1dd46c7cbae2197c123cf6fc369707de9cdf80f9eb8d47fdf8a75dbf0e928c"
    "8854392b123f000ccae5d0c0409a30189b5c7dd5492477e6729da8925f54189220bb1e652d9635b26e68700b"
    "9dabe39594610d5ec35fd5ed9fd939a7c1e2b0a52dec8b99a743891ffcbd2d09e070671dc36b9b1c2bdcf975"
    "4af0e59543d93f252d8be6c3de8da0f443234d9924bc64c482507899d8c7fce3fdc5864bf6fe8b7ebe3c303c"
    "2dfece610b60ffd4dad60a5eb28071ea30fb12b59625b346e5741a2138557af384b5c566a9f029bb202defbf"
    "93229d7ef6e21b5b36736bf60b4864923dccb8318ebff33c3391cdeac9aadf12858fa823368fbd1b821deddb"
    "75a355681a971b78038ce38551df3b2bc5c030dfa1b7928070a3039ca0cea4245e251a5240857c2a0411f4ba"
    "4b9c60c6ef36c67fc32affdd8462cc7e0b08826b7189e2f7754f85e9070227ec81320720ada05afd1ce31f2d"
    "349d453275058cf7ae5ce3bcccf7820088d9b1d84b6d85219d9d0699d0557f8b0b390ae685af0c3c38f8a540"
    "ef5ab7efaf201c21178812b7958ef2365b307963c7786463cbd88cdba4c9aa50b4975730d62c045b053b8b55"
    "48554f4467bd2012275a9fc91189c4126ae3a12226f1a2d93382eaae5cae08fde2891a1916615f723a1a3008"
    "177ae1c51153b434fd94e2bcf67c0574d8da53a4d5c4d50296da9f388d2ecbb085600620032ca34bb0c98552"
    "eede01a6697ca21cbe7fb69dc11135a28c3a897ee64cd3cca37a8180b7b772a50bc59a3a63120f036c8abf14"
    "7dcab070032c77060b14dfd55b7314997f5e261dc197900511d037552bd8cb89cae572ad00ba4f52b1690742"
    "e455fbdc2503d335733736debb54d481983b0289786eba2f43ccc516d291773d2b346daaca06765225423944"
    "618a68e020be721a7b7aa9347706068641150a367828fcfa18493835eff9ec6bbeff1eaf993c60b18b659c33"
    "add2d5459b18e9c7efc383ee7b4fa69b2b04815b573c6f7bc8f06b043243deddc9e4f63af267da8b7ed42419"
    "147e01db6371fa100e6135f0b6bfabb1cc7ce92013402127074618bb4c0bf0a5eaf8be55ac1632243c1e7351"
    "2bf335564e7e5f2da0391ed5dd9db3811c793c235f44ff60341bf3a4e8329d6c6453f80091c9a1bbe444e122"
    "b0c618b1b95d58f9945a2d5d737bde769a12d3daf6cd238f5d418cbcd4a109891870935d16fafd4b7b9f1e27"
    "6a76f1e46a5251235d616857be7e77c324b85f483e0762a47d8055e61ef637e90e9a7fac9e09aeee34340fe0"
    "5e833763be01129117a1183b850b2c41aed4165f0695ed3e3b"
)


def test_seal_known_answer() -> None:
    sealed = crypto._seal_with_nonce(
        KAT_KEY, KAT_PLAINTEXT, KAT_NONCE, purpose=PURPOSE, case_id=CASE, item_id=ITEM
    )
    assert sealed == KAT_SEALED
    opened = crypto.open_sealed(KAT_KEY, KAT_SEALED, purpose=PURPOSE, case_id=CASE, item_id=ITEM)
    assert opened == KAT_PLAINTEXT


def test_sealed_format_matches_its_description() -> None:
    """Re-derive the KAT from the primitives: format ‖ nonce ‖ ChaCha20-Poly1305(subkey), where
    subkey = HKDF-SHA256(CK, info="whistle/v1/item-key\\0" ‖ binding) and AD = format ‖ binding,
    binding = each of (purpose, case id, item id) as a 2-byte length and its UTF-8 bytes."""
    binding = b"".join(struct.pack(">H", len(f)) + f.encode() for f in (PURPOSE, CASE, ITEM))
    subkey = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"whistle/v1/item-key\x00" + binding
    ).derive(KAT_KEY)
    body = ChaCha20Poly1305(subkey).encrypt(KAT_NONCE, KAT_PLAINTEXT, b"\x01" + binding)
    assert b"\x01" + KAT_NONCE + body == KAT_SEALED
    assert len(KAT_SEALED) == 1 + 12 + len(KAT_PLAINTEXT) + 16


def test_derive_case_access_known_answer() -> None:
    access = crypto.derive_case_access(KAT_CODE, KAT_PEPPER, CHEAP_ARGON2)
    assert access.lookup_id == KAT_LOOKUP_ID
    assert access.reporter_key == KAT_REPORTER_KEY


def test_argon2id_known_answer() -> None:
    assert crypto.argon2id(b"password", b"somesaltsomesalt", CHEAP_ARGON2) == KAT_ARGON2


def test_derive_password_keys_known_answer() -> None:
    keys = crypto.derive_password_keys("correct horse battery staple", b"s" * 16, CHEAP_ARGON2)
    assert keys.verifier == KAT_PASSWORD_VERIFIER
    assert keys.kek == KAT_PASSWORD_KEK


def test_password_key_and_peppered_password_keys_known_answer() -> None:
    assert crypto.password_key(KAT_PEPPER) == KAT_PASSWORD_KEY
    keys = crypto.derive_peppered_password_keys(
        "correct horse battery staple", b"s" * 16, CHEAP_ARGON2, password_key=KAT_PASSWORD_KEY
    )
    assert keys.verifier == KAT_PEPPERED_VERIFIER
    assert keys.kek == KAT_PEPPERED_KEK
    # Re-derived from the primitives: HKDF-SHA256 with the password key as salt over Argon2id.
    master = crypto.argon2id(b"correct horse battery staple", b"s" * 16, CHEAP_ARGON2)
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=64,
        salt=KAT_PASSWORD_KEY,
        info=b"whistle/v1/password-keys-v2",
    ).derive(master)
    assert okm == KAT_PEPPERED_VERIFIER + KAT_PEPPERED_KEK
    pepper_subkey = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"whistle/v1/password-pepper"
    ).derive(KAT_PEPPER)
    assert pepper_subkey == KAT_PASSWORD_KEY != KAT_PEPPER


def test_login_keys_hold_both_schemes_from_one_derivation() -> None:
    login = crypto.derive_login_keys(
        "correct horse battery staple", b"s" * 16, CHEAP_ARGON2, password_key=KAT_PASSWORD_KEY
    )
    assert login.current == crypto.PasswordKeys(KAT_PEPPERED_VERIFIER, KAT_PEPPERED_KEK)
    assert login.legacy == crypto.PasswordKeys(KAT_PASSWORD_VERIFIER, KAT_PASSWORD_KEK)
    with pytest.raises(ValueError, match="keys are 32 bytes"):
        crypto.derive_login_keys("x" * 12, b"s" * 16, CHEAP_ARGON2, password_key=b"short")


def test_without_the_pepper_password_and_stored_salt_do_not_open_the_private_key() -> None:
    """Finding 3: a thief with only the database (salt, verifier, sealed key) and the right
    password still cannot check the guess or open the key without keys/."""
    salt = b"0123456789abcdef"
    pepper = crypto.random_key()
    stored = crypto.derive_peppered_password_keys(
        "the right password", salt, CHEAP_ARGON2, password_key=crypto.password_key(pepper)
    )
    sealed = crypto.seal(stored.kek, KAT_PRIVATE, purpose="private-key", case_id="", item_id="u")
    # Everything a thief can compute from the database alone:
    no_pepper = crypto.derive_password_keys("the right password", salt, CHEAP_ARGON2)
    assert not crypto.constant_time_equal(no_pepper.verifier, stored.verifier)
    with pytest.raises(CryptoError):
        crypto.open_sealed(no_pepper.kek, sealed, purpose="private-key", case_id="", item_id="u")
    # A guessed pepper (another deployment's) does not help either; the real one does.
    other = crypto.derive_peppered_password_keys(
        "the right password",
        salt,
        CHEAP_ARGON2,
        password_key=crypto.password_key(crypto.random_key()),
    )
    with pytest.raises(CryptoError):
        crypto.open_sealed(other.kek, sealed, purpose="private-key", case_id="", item_id="u")
    again = crypto.derive_peppered_password_keys(
        "the right password", salt, CHEAP_ARGON2, password_key=crypto.password_key(pepper)
    )
    assert again == stored
    assert crypto.open_sealed(again.kek, sealed, purpose="private-key", case_id="", item_id="u")


def test_public_key_of_known_private_key() -> None:
    public = crypto.public_key_of(KAT_PRIVATE)
    assert len(public) == crypto.PUBLIC_KEY_LEN == 1216
    assert hashlib.sha256(public).hexdigest() == KAT_PUBLIC_SHA256


def test_unwrap_known_answer() -> None:
    key = crypto.unwrap_key(
        KAT_WRAPPED, KAT_PRIVATE, case_id=KAT_WRAP_CASE, recipient_id=KAT_WRAP_RECIPIENT
    )
    assert key == KAT_CASE_KEY
    # format byte ‖ ML-KEM-768 ciphertext (1088) ‖ X25519 share (32) ‖ sealed 32-byte key (48)
    assert len(KAT_WRAPPED) == 1 + 1088 + 32 + 32 + 16


# ---------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("plaintext", [b"", b"x", "Åsa såg något på förvaltningen".encode() * 50])
def test_seal_round_trip(plaintext: bytes) -> None:
    key = crypto.random_key()
    sealed = crypto.seal(key, plaintext, purpose=PURPOSE, case_id=CASE, item_id=ITEM)
    if len(plaintext) > 16:
        assert plaintext[:16] not in sealed
    assert crypto.open_sealed(key, sealed, purpose=PURPOSE, case_id=CASE, item_id=ITEM) == plaintext


def test_seal_uses_a_fresh_nonce_each_time() -> None:
    key = crypto.random_key()
    first = crypto.seal(key, b"same", purpose=PURPOSE, case_id=CASE, item_id=ITEM)
    second = crypto.seal(key, b"same", purpose=PURPOSE, case_id=CASE, item_id=ITEM)
    assert first != second
    assert first[1:13] != second[1:13]


def test_seal_refuses_keys_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="keys are 32 bytes"):
        crypto.seal(b"k" * 16, b"x", purpose=PURPOSE, case_id=CASE, item_id=ITEM)
    with pytest.raises(ValueError, match="keys are 32 bytes"):
        crypto.open_sealed(b"k" * 31, KAT_SEALED, purpose=PURPOSE, case_id=CASE, item_id=ITEM)


def test_binding_fields_are_unambiguous() -> None:
    # Without length prefixes ("ab", "c") and ("a", "bc") would give the same subkey.
    key = crypto.random_key()
    sealed = crypto.seal(key, b"x", purpose="p", case_id="ab", item_id="c")
    with pytest.raises(CryptoError):
        crypto.open_sealed(key, sealed, purpose="p", case_id="a", item_id="bc")


def test_wrap_round_trip() -> None:
    private, public = crypto.generate_keypair()
    assert len(private) == crypto.PRIVATE_KEY_LEN == 96
    assert crypto.public_key_of(private) == public
    case_key = crypto.random_key()
    wrapped = crypto.wrap_key(case_key, public, case_id=CASE, recipient_id="anna")
    assert case_key not in wrapped
    assert crypto.unwrap_key(wrapped, private, case_id=CASE, recipient_id="anna") == case_key
    # Randomised: wrapping twice gives different blobs that both open.
    again = crypto.wrap_key(case_key, public, case_id=CASE, recipient_id="anna")
    assert again != wrapped
    assert crypto.unwrap_key(again, private, case_id=CASE, recipient_id="anna") == case_key


def test_wrap_refuses_bad_inputs() -> None:
    _private, public = crypto.generate_keypair()
    with pytest.raises(ValueError, match="keys are 32 bytes"):
        crypto.wrap_key(b"short", public, case_id=CASE, recipient_id="anna")
    with pytest.raises(CryptoError):
        crypto.wrap_key(crypto.random_key(), public[:-1], case_id=CASE, recipient_id="anna")
    with pytest.raises(CryptoError):
        crypto.public_key_of(b"\x01" * 95)


def _stream(key: bytes, chunks: list[bytes], **binding: str) -> tuple[bytes, list[bytes]]:
    sealer = crypto.StreamSealer(key, **binding)
    sealed = [
        sealer.seal_chunk(chunk, last=index == len(chunks) - 1)
        for index, chunk in enumerate(chunks)
    ]
    return sealer.header, sealed


def _open_stream(key: bytes, header: bytes, sealed: list[bytes], **binding: str) -> bytes:
    opener = crypto.StreamOpener(key, header, **binding)
    out = b"".join(
        opener.open_chunk(chunk, last=index == len(sealed) - 1)
        for index, chunk in enumerate(sealed)
    )
    assert opener.finished
    return out


BINDING = {"purpose": "attachment", "case_id": CASE, "item_id": ITEM}


@pytest.mark.parametrize(
    "chunks",
    [
        [b""],
        [b"only chunk"],
        [b"a" * crypto.CHUNK_SIZE, b"b" * crypto.CHUNK_SIZE, b"tail"],
        [b"a" * crypto.CHUNK_SIZE, b""],
    ],
)
def test_stream_round_trip(chunks: list[bytes]) -> None:
    key = crypto.random_key()
    header, sealed = _stream(key, chunks, **BINDING)
    assert len(header) == crypto.StreamOpener.header_len
    assert all(len(s) <= crypto.StreamOpener.sealed_chunk_size for s in sealed)
    assert _open_stream(key, header, sealed, **BINDING) == b"".join(chunks)


def test_stream_sealer_refuses_misuse() -> None:
    sealer = crypto.StreamSealer(crypto.random_key(), **BINDING)
    with pytest.raises(ValueError, match="chunk too large"):
        sealer.seal_chunk(b"x" * (crypto.CHUNK_SIZE + 1))
    sealer.seal_chunk(b"end", last=True)
    with pytest.raises(ValueError, match="stream already finished"):
        sealer.seal_chunk(b"more")


def test_derive_password_keys_round_trip() -> None:
    salt = b"0123456789abcdef"
    first = crypto.derive_password_keys("a password", salt, CHEAP_ARGON2)
    assert first == crypto.derive_password_keys("a password", salt, CHEAP_ARGON2)
    assert first.verifier != first.kek
    assert crypto.derive_password_keys("a passworD", salt, CHEAP_ARGON2) != first
    assert crypto.derive_password_keys("a password", salt[::-1], CHEAP_ARGON2) != first
    # The key-encryption key seals and opens; the stored verifier does not open it.
    sealed = crypto.seal(first.kek, b"private", purpose="private-key", case_id="", item_id="u")
    again = crypto.derive_password_keys("a password", salt, CHEAP_ARGON2)
    assert crypto.open_sealed(again.kek, sealed, purpose="private-key", case_id="", item_id="u")
    with pytest.raises(CryptoError):
        crypto.open_sealed(first.verifier, sealed, purpose="private-key", case_id="", item_id="u")
    with pytest.raises(ValueError, match="salt must be at least 16 bytes"):
        crypto.derive_password_keys("a password", b"short salt", CHEAP_ARGON2)


def test_derive_case_access_round_trip() -> None:
    pepper = crypto.random_key()
    access = crypto.derive_case_access(KAT_CODE, pepper, CHEAP_ARGON2)
    assert access == crypto.derive_case_access(KAT_CODE, pepper, CHEAP_ARGON2)
    assert access.lookup_id != access.reporter_key
    assert len(access.lookup_id) == len(access.reporter_key) == 32
    other_code = crypto.derive_case_access("1234567812345679", pepper, CHEAP_ARGON2)
    other_pepper = crypto.derive_case_access(KAT_CODE, crypto.random_key(), CHEAP_ARGON2)
    for other in (other_code, other_pepper):
        assert other.lookup_id != access.lookup_id
        assert other.reporter_key != access.reporter_key
    with pytest.raises(ValueError, match="pepper must be 32 bytes"):
        crypto.derive_case_access(KAT_CODE, pepper[:16], CHEAP_ARGON2)


def test_small_helpers() -> None:
    assert crypto.digest("token") == hashlib.sha256(b"token").digest()
    assert crypto.digest(b"token") == crypto.digest("token")
    assert crypto.constant_time_equal("abc", b"abc")
    assert not crypto.constant_time_equal("abc", "abd")
    assert not crypto.constant_time_equal("abc", "abcd")
    digits = crypto.random_digits(40)
    assert len(digits) == 40
    assert digits.isascii()
    assert digits.isdigit()
    assert len(crypto.random_key()) == 32
    assert crypto.random_key() != crypto.random_key()
    assert crypto.random_token() != crypto.random_token()


# ---------------------------------------------------------------------------------------------
# tampering: every case must raise CryptoError


def _sealed() -> tuple[bytes, bytes]:
    key = crypto.random_key()
    return key, crypto.seal(key, b"case content", purpose=PURPOSE, case_id=CASE, item_id=ITEM)


def _flip(blob: bytes, index: int) -> bytes:
    data = bytearray(blob)
    data[index] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(0, id="format-byte"),
        pytest.param(1, id="nonce-first"),
        pytest.param(12, id="nonce-last"),
        pytest.param(13, id="ciphertext"),
        pytest.param(-16, id="tag-first"),
        pytest.param(-1, id="tag-last"),
    ],
)
def test_flipped_byte_is_rejected(index: int) -> None:
    key, sealed = _sealed()
    with pytest.raises(CryptoError):
        crypto.open_sealed(key, _flip(sealed, index), purpose=PURPOSE, case_id=CASE, item_id=ITEM)


@pytest.mark.parametrize(
    "binding",
    [
        pytest.param({"purpose": "item:note", "case_id": CASE, "item_id": ITEM}, id="purpose"),
        pytest.param({"purpose": PURPOSE, "case_id": CASE, "item_id": OTHER_ITEM}, id="item-id"),
        pytest.param({"purpose": PURPOSE, "case_id": OTHER_CASE, "item_id": ITEM}, id="case-id"),
    ],
)
def test_wrong_binding_is_rejected(binding: dict[str, str]) -> None:
    key, sealed = _sealed()
    with pytest.raises(CryptoError):
        crypto.open_sealed(key, sealed, **binding)


def test_wrong_key_is_rejected() -> None:
    _key, sealed = _sealed()
    with pytest.raises(CryptoError):
        crypto.open_sealed(crypto.random_key(), sealed, purpose=PURPOSE, case_id=CASE, item_id=ITEM)


@pytest.mark.parametrize("length", [0, 1, 13, 28])
def test_truncated_sealed_blob_is_rejected(length: int) -> None:
    key, sealed = _sealed()
    with pytest.raises(CryptoError):
        crypto.open_sealed(key, sealed[:length], purpose=PURPOSE, case_id=CASE, item_id=ITEM)


@pytest.fixture(scope="module")
def wrap_setup() -> tuple[bytes, bytes, bytes]:
    private, public = crypto.generate_keypair()
    case_key = crypto.random_key()
    return private, case_key, crypto.wrap_key(case_key, public, case_id=CASE, recipient_id="anna")


def test_wrap_for_another_case_is_rejected(wrap_setup: tuple[bytes, bytes, bytes]) -> None:
    private, _case_key, wrapped = wrap_setup
    with pytest.raises(CryptoError):
        crypto.unwrap_key(wrapped, private, case_id=OTHER_CASE, recipient_id="anna")


def test_wrap_for_another_recipient_is_rejected(wrap_setup: tuple[bytes, bytes, bytes]) -> None:
    private, _case_key, wrapped = wrap_setup
    with pytest.raises(CryptoError):
        crypto.unwrap_key(wrapped, private, case_id=CASE, recipient_id="bertil")


def test_wrap_with_another_private_key_is_rejected(
    wrap_setup: tuple[bytes, bytes, bytes],
) -> None:
    _private, _case_key, wrapped = wrap_setup
    other_private, _ = crypto.generate_keypair()
    with pytest.raises(CryptoError):
        crypto.unwrap_key(wrapped, other_private, case_id=CASE, recipient_id="anna")


@pytest.mark.parametrize("keep", [0, 1, 100, 1121, -1])
def test_truncated_wrap_is_rejected(wrap_setup: tuple[bytes, bytes, bytes], keep: int) -> None:
    private, _case_key, wrapped = wrap_setup
    with pytest.raises(CryptoError):
        crypto.unwrap_key(wrapped[:keep], private, case_id=CASE, recipient_id="anna")


@pytest.mark.parametrize("index", [0, 1, 1089, -1])
def test_flipped_byte_in_wrap_is_rejected(
    wrap_setup: tuple[bytes, bytes, bytes], index: int
) -> None:
    private, _case_key, wrapped = wrap_setup
    with pytest.raises(CryptoError):
        crypto.unwrap_key(_flip(wrapped, index), private, case_id=CASE, recipient_id="anna")


def test_wrong_length_private_key_is_rejected(wrap_setup: tuple[bytes, bytes, bytes]) -> None:
    private, _case_key, wrapped = wrap_setup
    with pytest.raises(CryptoError):
        crypto.unwrap_key(wrapped, private[:-1], case_id=CASE, recipient_id="anna")


THREE = [b"first" * 10, b"second" * 10, b"third" * 10]


def test_stream_reordered_chunks_are_rejected() -> None:
    key = crypto.random_key()
    header, (c0, c1, c2) = _stream(key, THREE, **BINDING)
    opener = crypto.StreamOpener(key, header, **BINDING)
    with pytest.raises(CryptoError):
        opener.open_chunk(c1, last=False)
    opener = crypto.StreamOpener(key, header, **BINDING)
    opener.open_chunk(c0, last=False)
    with pytest.raises(CryptoError):
        opener.open_chunk(c2, last=False)


def test_stream_dropped_last_chunk_is_detected() -> None:
    key = crypto.random_key()
    header, (c0, c1, _c2) = _stream(key, THREE, **BINDING)
    # A reader that knows where the stream ends asks for the final chunk with last=True.
    opener = crypto.StreamOpener(key, header, **BINDING)
    opener.open_chunk(c0, last=False)
    with pytest.raises(CryptoError):
        opener.open_chunk(c1, last=True)
    # A reader that reads until the data runs out sees a stream that never finished.
    opener = crypto.StreamOpener(key, header, **BINDING)
    opener.open_chunk(c0, last=False)
    opener.open_chunk(c1, last=False)
    assert not opener.finished


def test_stream_without_last_flag_does_not_open_as_complete() -> None:
    key = crypto.random_key()
    sealer = crypto.StreamSealer(key, **BINDING)
    c0 = sealer.seal_chunk(b"one")
    c1 = sealer.seal_chunk(b"two")  # the writer stopped without last=True
    opener = crypto.StreamOpener(key, sealer.header, **BINDING)
    opener.open_chunk(c0, last=False)
    with pytest.raises(CryptoError):
        opener.open_chunk(c1, last=True)


def test_stream_chunk_from_another_stream_is_rejected() -> None:
    key = crypto.random_key()
    header, (c0, _c1, _c2) = _stream(key, THREE, **BINDING)
    _other_header, (_o0, o1, _o2) = _stream(key, THREE, **BINDING)  # same key and binding
    opener = crypto.StreamOpener(key, header, **BINDING)
    opener.open_chunk(c0, last=False)
    with pytest.raises(CryptoError):
        opener.open_chunk(o1, last=False)


def test_stream_chunk_after_last_is_rejected() -> None:
    key = crypto.random_key()
    header, sealed = _stream(key, THREE, **BINDING)
    opener = crypto.StreamOpener(key, header, **BINDING)
    for index, chunk in enumerate(sealed):
        opener.open_chunk(chunk, last=index == 2)
    with pytest.raises(CryptoError):
        opener.open_chunk(sealed[2], last=True)


@pytest.mark.parametrize(
    "binding",
    [
        {**BINDING, "case_id": OTHER_CASE},
        {**BINDING, "item_id": OTHER_ITEM},
        {**BINDING, "purpose": "other"},
    ],
)
def test_stream_with_another_binding_is_rejected(binding: dict[str, str]) -> None:
    key = crypto.random_key()
    header, sealed = _stream(key, [b"only"], **BINDING)
    opener = crypto.StreamOpener(key, header, **binding)
    with pytest.raises(CryptoError):
        opener.open_chunk(sealed[0], last=True)


def test_stream_tampered_header_or_chunk_is_rejected() -> None:
    key = crypto.random_key()
    header, sealed = _stream(key, [b"only"], **BINDING)
    with pytest.raises(CryptoError):
        crypto.StreamOpener(key, header[:-1], **BINDING)
    with pytest.raises(CryptoError):
        crypto.StreamOpener(key, _flip(header, 0), **BINDING)
    with pytest.raises(CryptoError):
        crypto.StreamOpener(key, _flip(header, 5), **BINDING).open_chunk(sealed[0], last=True)
    with pytest.raises(CryptoError):
        crypto.StreamOpener(key, header, **BINDING).open_chunk(_flip(sealed[0], 2), last=True)
    with pytest.raises(CryptoError):
        crypto.StreamOpener(crypto.random_key(), header, **BINDING).open_chunk(sealed[0], last=True)


# ---------------------------------------------------------------------------------------------
# the module itself

FORBIDDEN_IMPORTS = {"whistle", "starlette", "sqlmodel", "sqlalchemy"}


def test_crypto_imports_nothing_from_the_app_or_a_framework() -> None:
    tree = ast.parse(Path(crypto.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in crypto.py"
            assert node.module is not None
            imported.add(node.module.split(".")[0])
    assert imported, "found no imports at all: the AST walk is broken"
    assert {"cryptography", "argon2"} <= imported
    assert not imported & FORBIDDEN_IMPORTS
    # Configuration is passed in: crypto never reads the environment.
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "environ" not in names
    assert "getenv" not in names


def test_check_hybrid_suite_passes_here() -> None:
    crypto.check_hybrid_suite()


def test_check_hybrid_suite_fails_when_the_round_trip_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(crypto, "unwrap_key", lambda *a, **k: b"\x00" * 32)
    with pytest.raises(RuntimeError, match="hybrid"):
        crypto.check_hybrid_suite()


# The audit chain's key and MAC (frozen; checked against the standard library's HMAC, RFC 5869).
KAT_AUDIT_KEY = bytes.fromhex("697414fe191197d58218ea953ef792fd101226e41040f2d238db0746c57c5eb8")
KAT_MAC = bytes.fromhex("b8f160926a38e72da9d800d033da4f1092e788b502cca276cc48ac82fe86e5fa")


def test_audit_chain_key_and_mac_known_answers() -> None:
    import hashlib
    import hmac

    assert crypto.audit_chain_key(KAT_PEPPER) == KAT_AUDIT_KEY
    prk = hmac.new(b"\x00" * 32, KAT_PEPPER, hashlib.sha256).digest()  # HKDF, no salt
    assert hmac.new(prk, b"whistle/v1/audit-chain\x01", hashlib.sha256).digest() == KAT_AUDIT_KEY
    assert crypto.mac(KAT_KEY, b"whistle audit") == KAT_MAC
    assert hmac.new(KAT_KEY, b"whistle audit", hashlib.sha256).digest() == KAT_MAC
    # Another pepper, another key; the key is not the pepper's case-code subkeys.
    assert crypto.audit_chain_key(bytes(32)) != KAT_AUDIT_KEY != KAT_PEPPER
    with pytest.raises(ValueError, match="keys are 32 bytes"):
        crypto.mac(b"short", b"x")


# Security keys (WebAuthn PRF): the PRF key and a two-layer wrap, both frozen.
KAT_PRF_OUTPUT = bytes([7]) * 32
KAT_SK_USER = "u" * 32
KAT_SK_KEY = "k" * 32
KAT_SK_KEK = bytes.fromhex("ebd735ad9bdbb61777311147cc24917614b13bb967ed7d64d40828df921f1556")
# Sealing is randomised (fresh nonces), so only opening can be a KAT.
KAT_SK_SEALED = bytes.fromhex(
    "01708f7797bbef0341f89d929e1d58f6df949927b8a4a3190607d9ee98e7147a262730810d73d75e31472e8ef4"
    "0ee9866ad18c060d949be94cbc590168ed47a579c5e969e0899fcd09df819e030a7cf93c09a7f3da3b92c64935"
    "2c98501e6e392e6fdaa51aba56323afb359a947a53b4cbbdd71f7e0cd9b916321f6c75a26ea6b4b3cf5c5325d1"
    "bd483903aab15604097f97f5b50097c66e590f"
)


def _sk_open(sealed: bytes, *, kek: bytes = KAT_KEY, prf: bytes = KAT_PRF_OUTPUT) -> bytes:
    return crypto.open_with_security_key(
        sealed, kek=kek, prf_output=prf, user_id=KAT_SK_USER, key_id=KAT_SK_KEY
    )


def test_security_key_kek_known_answer() -> None:
    assert crypto.security_key_kek(KAT_PRF_OUTPUT, user_id=KAT_SK_USER, key_id=KAT_SK_KEY) == (
        KAT_SK_KEK
    )
    # Re-derived from the primitives: HKDF-SHA256, no salt, info bound to account and key.
    info = b"whistle/v1/security-key-kek\x00" + b"\x00\x20" + b"u" * 32 + b"\x00\x20" + b"k" * 32
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
    assert expected.derive(KAT_PRF_OUTPUT) == KAT_SK_KEK
    with pytest.raises(ValueError, match="a PRF output is 32 bytes"):
        crypto.security_key_kek(b"short", user_id=KAT_SK_USER, key_id=KAT_SK_KEY)


def test_security_key_wrap_known_answer_and_round_trip() -> None:
    assert _sk_open(KAT_SK_SEALED) == KAT_PRIVATE
    sealed = crypto.seal_with_security_key(
        KAT_PRIVATE, kek=KAT_KEY, prf_output=KAT_PRF_OUTPUT, user_id=KAT_SK_USER, key_id=KAT_SK_KEY
    )
    assert sealed != KAT_SK_SEALED  # fresh nonces
    assert _sk_open(sealed) == KAT_PRIVATE


def test_security_key_wrap_needs_the_password_and_the_key() -> None:
    """The thief with the database and the password, or with the key's output but not the
    password, opens nothing; nor does a wrap moved to another account or key."""
    with pytest.raises(CryptoError):
        _sk_open(KAT_SK_SEALED, prf=bytes(32))  # password right, PRF wrong
    with pytest.raises(CryptoError):
        _sk_open(KAT_SK_SEALED, kek=bytes(32))  # PRF right, password wrong
    with pytest.raises(CryptoError):
        _sk_open(KAT_SK_SEALED, prf=b"")  # no PRF at all
    with pytest.raises(CryptoError):
        crypto.open_with_security_key(
            KAT_SK_SEALED,
            kek=KAT_KEY,
            prf_output=KAT_PRF_OUTPUT,
            user_id="v" * 32,
            key_id=KAT_SK_KEY,
        )
    with pytest.raises(CryptoError):
        crypto.open_with_security_key(
            KAT_SK_SEALED,
            kek=KAT_KEY,
            prf_output=KAT_PRF_OUTPUT,
            user_id=KAT_SK_USER,
            key_id="l" * 32,
        )
    # The password's kek opens the outer layer only: what it gives is still sealed.
    inner = crypto.open_sealed(
        KAT_KEY,
        KAT_SK_SEALED,
        purpose="private-key-security-key-outer",
        case_id=KAT_SK_USER,
        item_id=KAT_SK_KEY,
    )
    assert KAT_PRIVATE not in inner
    with pytest.raises(CryptoError):
        crypto.open_sealed(
            KAT_KEY,
            inner,
            purpose="private-key-security-key",
            case_id=KAT_SK_USER,
            item_id=KAT_SK_KEY,
        )
    tampered = bytearray(KAT_SK_SEALED)
    tampered[-1] ^= 1
    with pytest.raises(CryptoError):
        _sk_open(bytes(tampered))


def test_security_key_wrap_follows_a_password_change() -> None:
    new_kek = bytes(range(1, 33))
    moved = crypto.reseal_security_key_wrap(
        KAT_SK_SEALED, old_kek=KAT_KEY, new_kek=new_kek, user_id=KAT_SK_USER, key_id=KAT_SK_KEY
    )
    assert _sk_open(moved, kek=new_kek) == KAT_PRIVATE
    with pytest.raises(CryptoError):
        _sk_open(moved)  # the old password opens it no more


# The tag computed independently: HMAC-SHA256(HKDF-SHA256(secret, info "whistle/v1/webauthn-
# challenge"), nonce), first 16 bytes.
KAT_CHALLENGE = bytes.fromhex("000102030405060708090a0b0c0d0e0f9da850464f2f5160049487c37b217a46")


def test_session_bound_challenge_known_answer_and_binding() -> None:
    assert crypto.challenge_is_bound(KAT_CHALLENGE, "session-cookie-value")
    assert not crypto.challenge_is_bound(KAT_CHALLENGE, "another-session")
    for i in (0, 20, 31):
        tampered = bytearray(KAT_CHALLENGE)
        tampered[i] ^= 1
        assert not crypto.challenge_is_bound(bytes(tampered), "session-cookie-value")
    assert not crypto.challenge_is_bound(KAT_CHALLENGE[:31], "session-cookie-value")
    fresh = crypto.session_bound_challenge("s")
    assert len(fresh) == 32
    assert crypto.challenge_is_bound(fresh, "s")
    assert fresh != crypto.session_bound_challenge("s")  # random, never repeated
    assert not crypto.challenge_is_bound(fresh, "t")
