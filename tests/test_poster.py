"""The notice-board poster: an A4 PDF and PNG whose QR code reads back as the configured
address, with the onion address when set and the three steps in the chosen language; only an
administrator gets it from the overview."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO

import pikepdf
import pytest
import segno
import zxingcpp
from PIL import Image
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.conftest import World, login_staff
from whistle import i18n, poster
from whistle.app import create_app
from whistle.keys import Keys
from whistle.settings import Settings
from whistle.web import poster as poster_page

ONION = "http://" + "a" * 56 + ".onion"


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
        i18n._current.reset(token)
    return step.split(",")[0][:12].encode("latin-1")


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
        assert box[2] == pytest.approx(595.28, abs=0.5) and box[3] == pytest.approx(841.89, abs=0.5)
        content = pdf.pages[0].Contents.read_bytes()
    assert b"visselblasning.kommun.se" in content and ONION[7:20].encode() in content
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
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            with pikepdf.open(BytesIO(pdf.content)) as doc:
                content = doc.pages[0].Contents.read_bytes()
            assert step in content and b"vb.testkommunen.se" in content
            png = admin.get(f"/admin/poster.png?lang={lang}")
            assert png.headers["content-type"] == "image/png"
            assert _decode(Image.open(BytesIO(png.content))) == ["https://vb.testkommunen.se/"]
        assert admin.get("/admin/poster.gif?lang=sv").status_code == 404
        assert admin.get("/admin/poster.pdf?lang=xx").status_code == 404
        # Arabic pages exist, but the poster cannot draw Arabic script yet: no poster of "????".
        assert admin.get("/admin/poster.pdf?lang=ar").status_code == 404
        assert admin.get("/admin/poster.png?lang=ar").status_code == 404


def test_an_investigator_gets_no_poster(world: World, new_client: Callable[[], TestClient]) -> None:
    anna = new_client()
    login_staff(anna, "anna")
    assert anna.get("/admin/poster.pdf?lang=sv").status_code == 404
