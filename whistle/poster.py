"""A poster for the notice board: an A4 page with the channel's address as text and as a QR
code, the onion address when there is one, and three lines on how reporting works.

Many who report have no work computer; a poster in the staff room is how they find the
channel. Pure functions: the caller passes the texts already translated, and gets PDF (fpdf2,
the QR code drawn as vector squares) or PNG (Pillow) bytes back. Nothing here reads settings,
a request or the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path

import segno
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

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


@dataclass(frozen=True)
class Poster:
    title: str
    subtitle: str
    steps: tuple[str, str, str]
    address_label: str
    url: str
    onion_label: str = ""
    onion: str = ""


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
    matrix = qr_matrix(poster.url)
    module = QR_SIZE_MM / len(matrix)
    left, top = (A4_MM[0] - QR_SIZE_MM) / 2, doc.get_y()
    doc.set_fill_color(0, 0, 0)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                doc.rect(left + x * module, top + y * module, module, module, style="F")
    doc.set_xy(MARGIN_MM, top + QR_SIZE_MM + 6)
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


@cache
def _font_file() -> Path | None:
    return next((path for path in FONT_FILES if path.is_file()), None)


def _font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_file()
    return ImageFont.truetype(str(path), pixels) if path else ImageFont.load_default(size=pixels)


def _px(mm: float) -> int:
    return round(mm / 25.4 * PNG_DPI)


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def png(poster: Poster) -> bytes:
    size = (_px(A4_MM[0]), _px(A4_MM[1]))
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    width, margin = size[0] - 2 * _px(MARGIN_MM), _px(MARGIN_MM)
    y = margin

    def block(text: str, points: int, *, centre: bool = True, gap: int = 0) -> None:
        nonlocal y
        font = _font(round(points * PNG_DPI / 72))
        for line in _wrap(draw, text, font, width):
            length = draw.textlength(line, font=font)
            x = margin + (width - length) / 2 if centre else margin
            draw.text((x, y), line, font=font, fill=0)
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
    block(poster.url, 15, gap=_px(3))
    if poster.onion:
        block(poster.onion_label, 11)
        block(poster.onion, 10, gap=_px(3))
    y += _px(4)
    for number, step in enumerate(poster.steps, start=1):
        block(f"{number}. {step}", 14, centre=False, gap=_px(2))
    out = BytesIO()
    image.save(out, format="PNG", dpi=(PNG_DPI, PNG_DPI))
    return out.getvalue()
