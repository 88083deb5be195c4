"""whistle.passwords: the list of common and leaked passwords that staff may not choose."""

from __future__ import annotations

import pytest

from whistle import passwords


def test_the_lists_are_loaded() -> None:
    listed = passwords.common_passwords()
    # Django's 20,000-entry list (19,640 distinct after its own normalisation) plus Swedish.
    assert len(listed) > 19_000
    assert {"password", "qwerty", "123456", "lösenord", "losenord", "sommar"} <= listed
    assert not any(w != w.casefold() or any(c.isspace() for c in w) for w in listed)


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "Password123!",
        "PASSWORD123!",
        "  password 123! ",
        "P@ssw0rd2024",
        "sommar2024",
        "Sommar 2024!!",
        "Lösenord123!",
        "losenord1234",
        "LÖSENORD",
        "2024sommar",
        "hammarby1897",
        "Tre Kronor 2024",
        "qwertyuiop12",
        "dragon12345678",  # a listed word padded with a listed run of digits
        "iloveyou!!",
    ],
)
def test_common_passwords_and_light_variations_are_common(password: str) -> None:
    assert passwords.is_common(password)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "a brand new long passphrase",
        "kaffe på fredag med mormor",
        "Tvåtusen gröna elefanter dansar",
        "love8394726150392",  # a listed word, but padded with 13 unlisted digits
        "xk3#vQ9!mT2@",
    ],
)
def test_uncommon_passwords_pass(password: str) -> None:
    assert not passwords.is_common(password)
