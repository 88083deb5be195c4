"""PDF documents for exports (document requests, handover packages, access requests).

Built with fpdf2 entirely in memory: pure Python, no system libraries, no temporary files. The
DejaVu Sans font shipped in ``whistle/data/fonts`` is embedded (subset), so å, ä and ö print on
any reader. No identifying metadata: no author, creator or producer, a creation date of the
document's day only and no file identifier, so two exports of the same content are the same
bytes. See docs/exports.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT_DIR = Path(__file__).resolve().parent / "data" / "fonts"
FONT = "DejaVu"


@dataclass(frozen=True)
class Section:
    heading: str
    body: str
    facts: Sequence[tuple[str, str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class Document:
    title: str
    facts: Sequence[tuple[str, str]]  # label, value: register number, dates, who decided
    sections: Sequence[Section]
    dated: dt.date
    footer: str = ""


class _Pdf(FPDF):
    def file_id(self) -> Literal[-1] | str | None:
        return None  # fpdf2's default hashes the creation time in: nothing that dates the file


def _clean(text: str) -> str:
    """Drop control characters a font cannot draw (they would abort the export); keep lines."""
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).replace("\t", "    ")


def render(document: Document) -> bytes:
    pdf = _Pdf(format="A4")
    # The day only, at midnight UTC: the document's date, nothing more precise.
    day = document.dated
    pdf.set_creation_date(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
    pdf.set_producer("")
    pdf.set_title(_clean(document.title))
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    pdf.set_font(FONT, "B", 15)
    pdf.multi_cell(0, 8, _clean(document.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
    pdf.ln(2)
    _facts(pdf, document.facts)
    for section in document.sections:
        pdf.ln(4)
        pdf.set_font(FONT, "B", 11)
        pdf.multi_cell(
            0, 6, _clean(section.heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
        )
        _facts(pdf, section.facts)
        if section.body:
            pdf.set_font(FONT, "", 10)
            pdf.multi_cell(
                0, 5, _clean(section.body), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
            )
    if document.footer:
        pdf.ln(6)
        pdf.set_font(FONT, "", 9)
        pdf.multi_cell(
            0, 4.5, _clean(document.footer), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
        )
    return bytes(pdf.output())


def _facts(pdf: FPDF, facts: Sequence[tuple[str, str]]) -> None:
    for label, value in facts:
        pdf.set_font(FONT, "B", 9.5)
        pdf.cell(55, 5, _clean(label))
        pdf.set_font(FONT, "", 9.5)
        pdf.multi_cell(0, 5, _clean(value) or "–", new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
