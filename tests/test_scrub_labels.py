"""Plain-language notes about removed hidden data: the technical names scrub reports fall into
translated groups, sizes are written the way the reader's language writes numbers, and the
receipt shows the groups with the technical list folded away."""

from __future__ import annotations

import re
from collections.abc import Callable
from io import BytesIO

import pikepdf
import pytest
from PIL import ExifTags, Image
from starlette.testclient import TestClient

from tests.helpers import World, csrf
from whistle import i18n, scrub, scrub_labels


def _photo() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = "Anna Andersson"
    exif[ExifTags.Base.Make] = "Fairphone"
    exif[ExifTags.Base.Model] = "FP5"
    exif[ExifTags.Base.ImageDescription] = "Lagret i Rinkeby"
    exif[ExifTags.Base.Software] = "Camera 2.1"
    exif[ExifTags.Base.DateTime] = "2026:11:30 07:12:00"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (59.0, 19.0, 42.0)}
    )
    out = BytesIO()
    Image.new("RGB", (32, 32), (0, 128, 0)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = "Anna Andersson"
    pdf.docinfo["/Producer"] = "Kontorsprogram 7"
    pdf.docinfo["/CreationDate"] = "D:20261130071200"
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_what_scrub_removes_from_a_photo_and_a_pdf_has_a_plain_group() -> None:
    photo = scrub.scrub(_photo(), "jpeg").removed
    assert scrub_labels.groups(photo) == [
        scrub_labels.AUTHORS,
        scrub_labels.LOCATION,
        scrub_labels.CAMERA,
        scrub_labels.CAPTION,
        scrub_labels.DATES,
        scrub_labels.SOFTWARE,
    ]
    document = scrub.scrub(_pdf(), "pdf").removed
    assert scrub_labels.groups(document) == [
        scrub_labels.AUTHORS,
        scrub_labels.DATES,
        scrub_labels.SOFTWARE,
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("comment and revision authors", scrub_labels.AUTHORS),
        ("docProps/core.xml: lastModifiedBy", scrub_labels.AUTHORS),
        ("meta.xml: initial-creator", scrub_labels.AUTHORS),
        ("docProps/app.xml: Company", scrub_labels.COMPANY),
        ("docProps/app.xml: Application", scrub_labels.SOFTWARE),
        ("meta.xml: generator", scrub_labels.SOFTWARE),
        ("Info Producer", scrub_labels.SOFTWARE),
        ("EXIF ImageDescription", scrub_labels.CAPTION),
        ("GPS GPSLatitudeRef", scrub_labels.LOCATION),
        ("revision ids (rsid)", scrub_labels.HISTORY),
        ("template path", scrub_labels.PATHS),
        ("printer settings", scrub_labels.PRINTER),
        ("Metadata (object)", scrub_labels.OTHER),
        ("XMP", scrub_labels.OTHER),
        ("EXIF 0x9999", scrub_labels.OTHER),  # unknown: still shown, never dropped
    ],
)
def test_technical_names_map_to_groups(name: str, expected: str) -> None:
    assert scrub_labels.group(name) == expected


def test_other_comes_last_and_each_group_once() -> None:
    names = ["XMP", "GPS GPSLatitude", "GPS GPSLongitude", "EXIF Artist"]
    assert scrub_labels.groups(names) == [
        scrub_labels.AUTHORS,
        scrub_labels.LOCATION,
        scrub_labels.OTHER,
    ]


@pytest.mark.parametrize(
    ("locale", "size", "shown"),
    [
        ("sv", 516, "516 byte"),
        ("sv", 1, "1 byte"),
        ("sv", 1400, "1,4 kB"),
        ("sv", 25_300_000, "25 MB"),
        ("en", 516, "516 bytes"),
        ("en", 1, "1 byte"),
        ("en", 1400, "1.4 kB"),
        ("en", 2_500_000_000, "2.5 GB"),
    ],
)
def test_sizes_are_written_per_locale(locale: str, size: int, shown: str) -> None:
    token = i18n.set_locale(locale)
    try:
        assert i18n.filesize(size).replace("\N{NO-BREAK SPACE}", " ") == shown
    finally:
        i18n.reset_locale(token)


def _visible(html: str) -> str:
    """The text a reader sees without opening a <details>."""
    folded = re.sub(r"<details>.*?</details>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", folded)


def test_the_receipt_says_in_swedish_what_was_removed_and_folds_the_technical_list(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    reporter = new_client()
    data = {
        "csrf_token": csrf(reporter),
        "category": str(world.bribery),
        "what": "Foto av leveransen",
        "mode": "anonymous",
    }
    receipt = reporter.post("/report", data=data, files=[("files", ("IMG_0042.jpg", _photo()))])
    assert receipt.status_code == 200, receipt.text
    visible = " ".join(_visible(receipt.text).split())
    assert (
        "Dold information borttagen: författare och redigerare, platsuppgifter (GPS), kamerans "
        "märke och modell, bildtext, titel och nyckelord, datum och tider, programmet som "
        "skapade filen." in visible
    )
    for technical in ("EXIF", "GPSLatitude", "Artist", "ImageDescription"):
        assert technical not in visible
    # The technical list is there for whoever opens it, names only, never the values.
    details = re.search(r"<details><summary>Teknisk lista</summary>(.*?)</details>", receipt.text)
    assert details
    assert "GPS GPSLatitude" in details.group(1)
    assert "EXIF Model" in details.group(1)
    assert "Anna Andersson" not in receipt.text
    assert "Fairphone" not in receipt.text
    assert re.search(r"IMG_0042\.jpg</strong> \(\d+(,\d)?\s(byte|kB)\)", receipt.text)
