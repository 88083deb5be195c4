"""A request for official documents decided without JavaScript: mask in a textarea, download
the PDF, read it back (Swedish and English)."""

from __future__ import annotations

import io
import re

import pypdf
import pytest
from playwright.sync_api import expect

from tests.e2e.flows import file_report, marker, open_case_with, t
from tests.e2e.harness import OpenPage

pytestmark = pytest.mark.e2e


def test_masked_release_without_javascript(open_page: OpenPage, lang: str) -> None:
    reporter = open_page(lang=lang)
    hidden, kept = marker(), marker()
    file_report(reporter, lang, what=f"The head of unit {hidden} approved it. {kept}")

    anna = open_page(lang=lang, js=False, user="anna")
    open_case_with(anna, lang, kept)
    anna.get_by_role("link", name=t(lang, "Requests for official documents")).click()
    anna.get_by_label(t(lang, "What is asked for")).fill("All documents of the case")
    anna.get_by_role("button", name=t(lang, "Record request")).click()
    expect(anna.locator("h1")).to_have_text(t(lang, "Request for official documents"))

    anna.get_by_label(t(lang, "Released with masking")).first.check()
    box = anna.get_by_label(t(lang, "What happened"))
    original = box.input_value()
    # A forged version (a word added) is refused, and what was typed comes back.
    box.fill(original.replace(hidden, "[[17:3b]] indeed"))
    anna.get_by_role("button", name=t(lang, "Save the decision")).click()
    expect(anna.get_by_role("alert")).to_contain_text(
        t(
            lang,
            "The masked version must be the original text with parts replaced by a marker such "
            "as [[17:3b]]: nothing added, changed or moved.",
        )
    )
    expect(anna.get_by_label(t(lang, "What happened"))).to_have_value(re.compile("indeed"))
    anna.get_by_label(t(lang, "What happened")).fill(original.replace(hidden, "[[17:3b]]"))
    anna.get_by_role("button", name=t(lang, "Save the decision")).click()
    expect(anna.get_by_role("status")).to_have_text(t(lang, "Saved."))

    link = t(lang, "Download the decision and the released documents (PDF)")
    with anna.expect_download() as download:
        anna.get_by_role("link", name=link).click()
    with open(download.value.path(), "rb") as fh:
        reader = pypdf.PdfReader(io.BytesIO(fh.read()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert kept in text
    assert "[maskerat, 17:3 b OSL]" in text
    assert hidden not in text
