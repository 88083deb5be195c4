"""A poster for the notice board: an A4 page with the channel's address as text and as a QR
code, the onion address when there is one, and three lines on how reporting works.

Many who report have no work computer; a poster in the staff room is how they find the
channel. Pure functions: the caller passes the texts already translated, and gets PDF (fpdf2,
the QR code drawn as vector squares) or PNG (Pillow) bytes back. Nothing here reads settings,
a request or the database.

Right-to-left posters (Arabic) need text shaping, or the letters print apart and in the wrong
order: the PDF embeds the DejaVu Sans shipped in ``whistle/data/fonts`` and shapes with fpdf2's
HarfBuzz engine (the ``uharfbuzz`` package); the PNG uses Pillow's libraqm layout, which needs
FriBiDi on the system (``can_draw_png``). The address and the onion address stay left to right.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Literal

import segno
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont, features

A4_MM = (210.0, 297.0)
PNG_DPI = 150
QR_ERROR = "m"  # survives a crease or a pin through the paper
QR_SIZE_MM = 90.0
MARGIN_MM = 18.0
# A font with å, ä, ö for the PNG (Debian's fonts-dejavu-core; the Dockerfile installs it).
# Pillow's built-in font is the fallback: it lacks those letters, so it is the last resort.
FONT_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
)
# Arabic script: the DejaVu Sans shipped with the package has its letters and joining forms.
FONT_DIR = Path(__file__).resolve().parent / "data" / "fonts"
SHAPED_FONT = "DejaVu"


@dataclass(frozen=True)
class Poster:
    title: str
    subtitle: str
    steps: tuple[str, str, str]
    address_label: str
    url: str
    onion_label: str = ""
    onion: str = ""
    direction: Literal["ltr", "rtl"] = "ltr"


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code's modules, True for dark, without the quiet zone."""
    code = segno.make(url, error=QR_ERROR, micro=False)
    return [[bool(cell) for cell in row] for row in code.matrix]


def _latin1(text: str) -> str:
    # The core PDF fonts cover Latin-1 (Swedish, Finnish, English); a dash or a quote outside
    # it is replaced by its plain form rather than failing the whole poster.
    plain = text.replace("–", "-").replace("—", "-").replace("’", "'").replace("”", '"')
    return plain.encode("latin-1", "replace").decode("latin-1")


def pdf(poster: Poster) -> bytes:
    if poster.direction == "rtl":
        return _pdf_rtl(poster)
    doc = FPDF(orientation="P", unit="mm", format="A4")
    doc.set_title(_latin1(poster.title))
    doc.set_creator("whistle")
    doc.set_auto_page_break(auto=False)
    doc.add_page()
    width = A4_MM[0] - 2 * MARGIN_MM
    doc.set_xy(MARGIN_MM, MARGIN_MM)
    doc.set_font("Helvetica", "B", 30)
    doc.multi_cell(width, 13, _latin1(poster.title), align="C")
    doc.set_font("Helvetica", "", 16)
    doc.set_x(MARGIN_MM)
    doc.multi_cell(width, 8, _latin1(poster.subtitle), align="C")
    doc.ln(6)
    _pdf_qr(doc, poster.url)
    doc.set_font("Helvetica", "", 13)
    doc.multi_cell(width, 7, _latin1(poster.address_label), align="C")
    doc.set_x(MARGIN_MM)
    doc.set_font("Courier", "B", 15)
    doc.multi_cell(width, 8, _latin1(poster.url), align="C")
    if poster.onion:
        doc.ln(2)
        doc.set_x(MARGIN_MM)
        doc.set_font("Helvetica", "", 11)
        doc.multi_cell(width, 6, _latin1(poster.onion_label), align="C")
        doc.set_x(MARGIN_MM)
        doc.set_font("Courier", "", 10)
        doc.multi_cell(width, 5, _latin1(poster.onion), align="C")
    doc.ln(8)
    doc.set_font("Helvetica", "", 14)
    for number, step in enumerate(poster.steps, start=1):
        doc.set_x(MARGIN_MM)
        doc.multi_cell(width, 7.5, _latin1(f"{number}. {step}"))
        doc.ln(2)
    return bytes(doc.output())


def _pdf_qr(doc: FPDF, url: str) -> None:
    """The QR code as vector squares below the text so far; leaves the cursor under it."""
    matrix = qr_matrix(url)
    module = QR_SIZE_MM / len(matrix)
    left, top = (A4_MM[0] - QR_SIZE_MM) / 2, doc.get_y()
    doc.set_fill_color(0, 0, 0)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                doc.rect(left + x * module, top + y * module, module, module, style="F")
    doc.set_xy(MARGIN_MM, top + QR_SIZE_MM + 6)


def _pdf_rtl(poster: Poster) -> bytes:
    """The same page for a right-to-left language: the embedded DejaVu Sans, shaped by
    HarfBuzz, the lines set from the right. The address and the onion address are drawn in
    Courier with shaping off, so they read left to right exactly as typed."""
    doc = FPDF(orientation="P", unit="mm", format="A4")
    doc.set_title(poster.title)
    doc.set_creator("whistle")
    doc.set_auto_page_break(auto=False)
    doc.add_font(SHAPED_FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    doc.add_font(SHAPED_FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    doc.add_page()
    width = A4_MM[0] - 2 * MARGIN_MM

    def shaped(text: str, style: str, points: float, height: float, align: str) -> None:
        doc.set_text_shaping(use_shaping_engine=True, direction="rtl")
        doc.set_font(SHAPED_FONT, style, points)
        doc.set_x(MARGIN_MM)
        # Control characters (from a setting such as the organisation's name) have no glyph.
        doc.multi_cell(width, height, "".join(ch for ch in text if ch.isprintable()), align=align)

    def plain(text: str, style: str, points: float, height: float) -> None:
        doc.set_text_shaping(False)
        doc.set_font("Courier", style, points)
        doc.set_x(MARGIN_MM)
        doc.multi_cell(width, height, _latin1(text), align="C")

    doc.set_y(MARGIN_MM)
    shaped(poster.title, "B", 30, 13, "C")
    shaped(poster.subtitle, "", 16, 8, "C")
    doc.ln(6)
    _pdf_qr(doc, poster.url)
    shaped(poster.address_label, "", 13, 7, "C")
    plain(poster.url, "B", 15, 8)
    if poster.onion:
        doc.ln(2)
        shaped(poster.onion_label, "", 11, 6, "C")
        plain(poster.onion, "", 10, 5)
    doc.ln(8)
    for number, step in enumerate(poster.steps, start=1):
        shaped(f"{number}. {step}", "", 14, 7.5, "R")
        doc.ln(2)
    return bytes(doc.output())


@cache
def _font_file() -> Path | None:
    return next((path for path in FONT_FILES if path.is_file()), None)


def _font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_file()
    return ImageFont.truetype(str(path), pixels) if path else ImageFont.load_default(size=pixels)


@cache
def _raqm() -> bool:
    # Pillow's wheels carry libraqm and HarfBuzz but load FriBiDi from the system at start;
    # without it (Debian's libfribidi0) the check is False and only plain layout is left.
    return bool(features.check("raqm"))


def can_draw_png(direction: str) -> bool:
    """Whether this machine draws a PNG poster in a language of that direction correctly:
    right to left needs Pillow's libraqm layout, or the letters come out apart."""
    return direction == "ltr" or _raqm()


def _shaped_font(pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(
        str(FONT_DIR / "DejaVuSans.ttf"), pixels, layout_engine=ImageFont.Layout.RAQM
    )


def _px(mm: float) -> int:
    return round(mm / 25.4 * PNG_DPI)


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
    direction: str | None = None,
) -> list[str]:
    # Words are joined in logical order; each line is shaped and reordered on its own when drawn.
    lines: list[str] = []
    for word in text.split():
        line = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(line, font=font, direction=direction) <= width:
            lines[-1] = line
        else:
            lines.append(word)
    return lines


def png(poster: Poster) -> bytes:
    rtl = poster.direction == "rtl"
    if not can_draw_png(poster.direction):
        raise RuntimeError("a right-to-left PNG poster needs Pillow with libraqm (FriBiDi)")
    size = (_px(A4_MM[0]), _px(A4_MM[1]))
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    width, margin = size[0] - 2 * _px(MARGIN_MM), _px(MARGIN_MM)
    y = margin

    def block(
        text: str, points: int, *, centre: bool = True, gap: int = 0, ltr: bool = False
    ) -> None:
        nonlocal y
        pixels = round(points * PNG_DPI / 72)
        font = _shaped_font(pixels) if rtl else _font(pixels)
        # In a right-to-left poster the address is still laid out left to right.
        direction = ("ltr" if ltr else "rtl") if rtl else None
        for line in _wrap(draw, text, font, width, direction):
            length = draw.textlength(line, font=font, direction=direction)
            if centre:
                x = margin + (width - length) / 2
            else:
                x = margin + width - length if rtl else margin
            draw.text((x, y), line, font=font, fill=0, direction=direction)
            y += round(points * PNG_DPI / 72 * 1.3)
        y += gap

    block(poster.title, 30, gap=_px(2))
    block(poster.subtitle, 16, gap=_px(6))
    qr = segno.make(poster.url, error=QR_ERROR, micro=False)
    matrix = qr_matrix(poster.url)
    scale = max(1, _px(QR_SIZE_MM) // len(matrix))
    buffer = BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=4)
    code = Image.open(BytesIO(buffer.getvalue())).convert("L")
    image.paste(code, ((size[0] - code.width) // 2, y))
    y += code.height + _px(3)
    block(poster.address_label, 13)
    block(poster.url, 15, gap=_px(3), ltr=True)
    if poster.onion:
        block(poster.onion_label, 11)
        block(poster.onion, 10, gap=_px(3), ltr=True)
    y += _px(4)
    for number, step in enumerate(poster.steps, start=1):
        block(f"{number}. {step}", 14, centre=False, gap=_px(2))
    out = BytesIO()
    image.save(out, format="PNG", dpi=(PNG_DPI, PNG_DPI))
    return out.getvalue()
