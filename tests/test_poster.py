"""The notice-board poster: an A4 PDF and PNG whose QR code reads back as the configured
address, with the onion address when set and the three steps in the chosen language; only an
administrator gets it from the overview. The Arabic poster is shaped (joined letters, right to
left) with the address left to right, or not offered at all where the PNG cannot be shaped."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO

import pikepdf
import pypdf
import pytest
import segno
import zxingcpp
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.helpers import World, login_staff
from whistle import i18n, poster
from whistle.app import create_app
from whistle.keys import Keys
from whistle.settings import Settings
from whistle.web import poster as poster_page

ONION = "http://" + "a" * 56 + ".onion"
AR_URL = "https://vb.testkommunen.se/"
needs_raqm = pytest.mark.skipif(
    not poster.can_draw_png("rtl"), reason="Pillow without libraqm/FriBiDi here"
)


def _sample(url: str = "https://visselblasning.kommun.se/", onion: str = "") -> poster.Poster:
    return poster.Poster(
        title="Rapportera missförhållanden säkert",
        subtitle="Visselblåsarfunktionen för Testkommunen",
        steps=("Ett – skanna koden.", "Två.", "Tre."),
        address_label="Adress",
        url=url,
        onion_label="Med Tor Browser" if onion else "",
        onion=onion,
    )


def _first_step(locale: str) -> bytes:
    """The first words of the poster's first step in a language, as the PDF's text shows them."""
    token = i18n.set_locale(locale)
    try:
        step = poster_page._poster(locale, organisation="", url="", onion="").steps[0]
    finally:
        i18n.reset_locale(token)
    return step.split(",")[0][:12].encode("latin-1")


def _arabic(onion: str = ONION) -> poster.Poster:
    return poster_page._poster("ar", organisation="Testkommunen", url=AR_URL, onion=onion)


def _decode(image: Image.Image) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(image)]


def test_the_qr_matrix_round_trips_through_segno() -> None:
    url = "https://visselblasning.kommun.se/"
    matrix = poster.qr_matrix(url)
    assert matrix == [[bool(c) for c in row] for row in segno.make(url, error="m").matrix]
    # Rebuild a picture from the matrix alone (as the PDF draws it) and read it back.
    scale, border = 8, 4
    side = (len(matrix) + 2 * border) * scale
    picture = Image.new("L", (side, side), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                left, top = (x + border) * scale, (y + border) * scale
                picture.paste(0, (left, top, left + scale, top + scale))
    assert _decode(picture) == [url]


def test_the_png_is_a4_and_its_code_decodes_to_the_address() -> None:
    url = "https://visselblasning.kommun.se/"
    image = Image.open(BytesIO(poster.png(_sample(url, ONION))))
    assert image.size == (1240, 1754)  # A4 at 150 dpi
    assert _decode(image) == [url]


def test_the_pdf_opens_is_one_a4_page_and_says_what_it_should() -> None:
    data = poster.pdf(_sample(onion=ONION))
    with pikepdf.open(BytesIO(data)) as pdf:
        assert len(pdf.pages) == 1
        box = [float(v) for v in pdf.pages[0].mediabox]
        assert box[2] == pytest.approx(595.28, abs=0.5)
        assert box[3] == pytest.approx(841.89, abs=0.5)
        content = pdf.pages[0].Contents.read_bytes()
    assert b"visselblasning.kommun.se" in content
    assert ONION[7:20].encode() in content
    assert content.count(b" re") > 200  # the QR code's squares, drawn as vectors


def test_admin_gets_the_poster_in_each_language_others_do_not(
    world: World,
    settings: Settings,
    engine: Engine,
    keys: Keys,
) -> None:
    configured = settings.replace(onion_address=ONION, base_url="https://vb.testkommunen.se")
    app = create_app(configured, engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as admin:
        assert admin.get("/admin/poster.pdf?lang=sv").status_code == 303  # not logged in
        login_staff(admin, "admin")
        overview = admin.get("/admin").text
        assert 'href="/admin/poster.pdf?lang=sv"' in overview
        assert 'href="/admin/poster.png?lang=en"' in overview
        assert 'href="/admin/poster.pdf?lang=fi"' in overview
        for lang, step in (
            ("sv", b"Skanna koden"),
            ("en", b"Scan the code"),
            ("fi", _first_step("fi")),
        ):
            pdf = admin.get(f"/admin/poster.pdf?lang={lang}")
            assert pdf.status_code == 200
            assert pdf.headers["content-type"] == "application/pdf"
            with pikepdf.open(BytesIO(pdf.content)) as doc:
                content = doc.pages[0].Contents.read_bytes()
            assert step in content
            assert b"vb.testkommunen.se" in content
            png = admin.get(f"/admin/poster.png?lang={lang}")
            assert png.headers["content-type"] == "image/png"
            assert _decode(Image.open(BytesIO(png.content))) == ["https://vb.testkommunen.se/"]
        assert admin.get("/admin/poster.gif?lang=sv").status_code == 404
        assert admin.get("/admin/poster.pdf?lang=xx").status_code == 404
        assert 'href="/admin/poster.pdf?lang=ar"' in overview
        pdf = admin.get("/admin/poster.pdf?lang=ar")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        text = pypdf.PdfReader(BytesIO(pdf.content)).pages[0].extract_text()
        assert "أبلغ عن المخالفات بأمان" in text
        assert "https://vb.testkommunen.se/" in text
        if poster.can_draw_png("rtl"):
            assert 'href="/admin/poster.png?lang=ar"' in overview
            png = admin.get("/admin/poster.png?lang=ar")
            assert png.status_code == 200
            assert png.headers["content-type"] == "image/png"
            assert _decode(Image.open(BytesIO(png.content))) == ["https://vb.testkommunen.se/"]


def test_an_investigator_gets_no_poster(world: World, new_client: Callable[[], TestClient]) -> None:
    anna = new_client()
    login_staff(anna, "anna")
    assert anna.get("/admin/poster.pdf?lang=sv").status_code == 404


def test_the_arabic_pdf_reads_in_logical_order_with_the_address_intact() -> None:
    content = _arabic()
    assert content.direction == "rtl"
    assert content.title == "أبلغ عن المخالفات بأمان"
    text = pypdf.PdfReader(BytesIO(poster.pdf(content))).pages[0].extract_text()
    lines = text.splitlines()
    # The words come out as typed (logical order), not reversed and not as "????".
    assert "أبلغ عن المخالفات بأمان" in lines
    # (pypdf puts a Latin name in a right-to-left line in its own run; the words stay whole.)
    assert any("قناة الإبلاغ عن المخالفات لدى" in line and "Testkommunen" in line for line in lines)
    assert "العنوان" in lines
    assert "امسح الرمز أو اكتب العنوان" in text
    assert "احتفظ برمز القضية" in text
    assert "?" not in text
    # The address and the onion address, left to right, character for character.
    assert AR_URL in lines
    assert ONION in lines


def test_an_arabic_poster_survives_an_odd_organisation_name() -> None:
    odd = poster_page._poster("ar", organisation="Kommun\x00\x1b\u200fAB", url=AR_URL, onion="")
    text = pypdf.PdfReader(BytesIO(poster.pdf(odd))).pages[0].extract_text()
    assert "KommunAB" in text.replace("\u200f", "")
    assert AR_URL in text
    if poster.can_draw_png("rtl"):
        assert _decode(Image.open(BytesIO(poster.png(odd)))) == [AR_URL]


def test_the_arabic_pdf_is_shaped_with_the_embedded_font() -> None:
    with pikepdf.open(BytesIO(poster.pdf(_arabic()))) as doc:
        fonts = doc.pages[0].Resources.Font
        embedded = {
            str(font.BaseFont): font
            for font in fonts.values()
            if font.Subtype == "/Type0" and "/FontFile2" in font.DescendantFonts[0].FontDescriptor
        }
        assert any(name.endswith("DejaVuSansBook") for name in embedded)
        regular = next(f for n, f in embedded.items() if n.endswith("DejaVuSansBook"))
        cmap = regular.ToUnicode.read_bytes().decode()
    # glyph -> text: shaping picks a positional form per place in the word (several glyphs for
    # one letter) and joins lam and alef into one ligature glyph standing for two letters.
    pairs = [line.split() for line in cmap.splitlines() if line.startswith("<") and " <" in line]
    lam = [glyph for glyph, text in pairs if text == "<0644>"]
    assert len(lam) >= 2, "lam is drawn in one form only: the text was not shaped"
    assert any(text == "<06440627>" for _, text in pairs), "no lam-alef ligature"


def test_the_latin_posters_stay_in_the_core_fonts() -> None:
    with pikepdf.open(BytesIO(poster.pdf(_sample()))) as doc:
        names = {str(font.BaseFont) for font in doc.pages[0].Resources.Font.values()}
    assert names == {"/Helvetica-Bold", "/Helvetica", "/Courier-Bold"}


@needs_raqm
def test_the_arabic_png_decodes_and_is_set_from_the_right() -> None:
    image = Image.open(BytesIO(poster.png(_arabic())))
    assert image.size == (1240, 1754)
    assert _decode(image) == [AR_URL]
    # The steps (bottom part of the page) are set flush right: ink at the right margin, the
    # left margin area empty in the steps' last line (the third step is short).
    margin = round(poster.MARGIN_MM / 25.4 * poster.PNG_DPI)
    grey = image.convert("L")
    rows = [
        y
        for y in range(image.height)
        if grey.crop((0, y, image.width, y + 1)).getextrema()[0] < 128
    ]
    last_line = grey.crop((0, rows[-1] - 20, image.width, rows[-1] + 1))
    box = Image.eval(last_line, lambda v: 255 - v).getbbox()
    assert box is not None
    assert abs(box[2] - (image.width - margin)) <= 6
    assert box[0] > margin + 50


@needs_raqm
def test_the_arabic_png_title_is_joined_not_letters_apart() -> None:
    content = _arabic()
    image = Image.open(BytesIO(poster.png(content))).convert("L")
    pixels = round(30 * poster.PNG_DPI / 72)
    font_file = str(poster.FONT_DIR / "DejaVuSans.ttf")
    shaped = ImageFont.truetype(font_file, pixels, layout_engine=ImageFont.Layout.RAQM)
    apart = ImageFont.truetype(font_file, pixels, layout_engine=ImageFont.Layout.BASIC)
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    joined_width = draw.textlength(content.title, font=shaped, direction="rtl")
    apart_width = draw.textlength(content.title, font=apart)
    assert abs(joined_width - apart_width) > 20  # the two are told apart by width
    margin = round(poster.MARGIN_MM / 25.4 * poster.PNG_DPI)
    title = image.crop((0, margin, image.width, margin + round(pixels * 1.3)))
    box = Image.eval(title, lambda v: 255 - v).getbbox()
    assert box is not None
    assert abs((box[2] - box[0]) - joined_width) < abs((box[2] - box[0]) - apart_width)


def test_without_libraqm_the_arabic_png_is_refused_not_drawn_apart(
    world: World,
    settings: Settings,
    engine: Engine,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(poster, "_raqm", lambda: False)
    with pytest.raises(RuntimeError):
        poster.png(_arabic())
    assert _decode(Image.open(BytesIO(poster.png(_sample(AR_URL))))) == [AR_URL]  # sv still
    app = create_app(settings, engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as admin:
        login_staff(admin, "admin")
        overview = admin.get("/admin").text
        assert 'href="/admin/poster.pdf?lang=ar"' in overview
        assert 'href="/admin/poster.png?lang=ar"' not in overview
        assert admin.get("/admin/poster.png?lang=ar").status_code == 404
        assert admin.get("/admin/poster.pdf?lang=ar").status_code == 200
        assert admin.get("/admin/poster.png?lang=sv").status_code == 200
