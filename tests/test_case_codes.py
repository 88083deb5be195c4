"""whistle.case_codes: generating, normalising and grouping case codes."""

from __future__ import annotations

from collections import Counter

import pytest

from whistle import case_codes

DIGITS = "0123456789"


def test_generate_gives_sixteen_ascii_digits() -> None:
    for _ in range(50):
        code = case_codes.generate()
        assert len(code) == case_codes.DIGITS == 16
        assert set(code) <= set(DIGITS)


def test_generate_is_spread_over_all_digits_and_positions() -> None:
    codes = [case_codes.generate() for _ in range(400)]
    assert len(set(codes)) == len(codes)
    counts = Counter("".join(codes))
    # 6,400 digits: each expected 640 times; the bounds are > 10 standard deviations wide,
    # so only a broken generator (a missing or favoured digit) fails here.
    assert set(counts) == set(DIGITS)
    assert all(400 < counts[d] < 900 for d in DIGITS), counts
    for position in range(16):
        assert {code[position] for code in codes} == set(DIGITS), position


@pytest.mark.parametrize(
    "typed",
    [
        "1234567812345678",
        "1234 5678 1234 5678",
        "  1234 5678 1234 5678  ",
        "1234-5678-1234-5678",
        "1234–5678–1234–5678",  # en dash, as word processors and phones type it
        "1234—5678—1234—5678",  # em dash
        "1234.5678.1234.5678",
        "1234 - 5678 - 1234 - 5678",
        "12345678\t12345678\n",
        "1234\u00a05678\u00a01234\u00a05678",  # no-break space from a copied receipt
    ],
)
def test_normalise_accepts_common_groupings(typed: str) -> None:
    assert case_codes.normalise(typed) == "1234567812345678"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "123456781234567",  # 15 digits
        "12345678123456789",  # 17 digits
        "1234 5678 1234 567a",
        "abcd efgh ijkl mnop",
        "1234_5678_1234_5678",
        "1234/5678/1234/5678",
        "+234567812345678",
        "١٢٣٤٥٦٧٨١٢٣٤٥٦٧٨",  # Arabic-Indic digits: isdigit() is True, but not ours
        "۱۲۳۴۵۶۷۸۱۲۳۴۵۶۷۸",  # Extended Arabic-Indic (Persian)
        "１２３４５６７８１２３４５６７８",  # fullwidth digits
        "¹²³⁴⁵⁶⁷⁸¹²³⁴⁵⁶⁷⁸",  # superscripts
        "1234\u200b5678\u200b1234\u200b5678",  # zero-width space is not a separator
    ],
)
def test_normalise_refuses_anything_else(typed: str) -> None:
    with pytest.raises(case_codes.MalformedCode):
        case_codes.normalise(typed)


def test_malformed_code_is_a_value_error() -> None:
    assert issubclass(case_codes.MalformedCode, ValueError)


def test_grouped() -> None:
    assert case_codes.grouped("1234567812345678") == "1234 5678 1234 5678"


def test_grouped_code_normalises_back() -> None:
    for _ in range(20):
        code = case_codes.generate()
        shown = case_codes.grouped(code)
        assert shown.count(" ") == 3
        assert len(shown) == 19
        assert case_codes.normalise(shown) == code
