"""whistle.scrub: each supported format, made here with identifying metadata, comes out without
it and still opens with its own library."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pikepdf
import pytest
from PIL import ExifTags, Image, PngImagePlugin

from whistle import scrub

AUTHOR = "Anna Andersson"
COMPANY = "Stadsdelsforvaltning Norr"
GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (59.0, 19.0, 42.0),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (18.0, 4.0, 7.0),
}
XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>{AUTHOR}</dc:creator></x:xmpmeta>'


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = AUTHOR
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12"
    exif[ExifTags.Base.Orientation] = 6  # rotated: the clean copy must be turned upright
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps.update(GPS)
    return exif


def _picture(fmt: str, **params: object) -> bytes:
    img = Image.new("RGB", (40, 20), (200, 30, 30))
    out = BytesIO()
    img.save(out, format=fmt, exif=_exif(), **params)
    return out.getvalue()


def _no_identifying_exif(data: bytes) -> Image.Image:
    img = Image.open(BytesIO(data))
    img.load()
    exif = img.getexif()
    assert ExifTags.Base.Artist not in exif
    assert ExifTags.Base.Make not in exif
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert AUTHOR.encode() not in data
    assert b"PhoneMaker" not in data
    return img


@pytest.mark.parametrize(
    ("fmt", "kind", "params"),
    [
        ("JPEG", "jpeg", {"comment": AUTHOR.encode(), "xmp": XMP.encode()}),
        ("WEBP", "webp", {"xmp": XMP.encode()}),
        ("TIFF", "tiff", {}),
    ],
)
def test_pictures_lose_exif_gps_xmp_and_comments(fmt: str, kind: str, params: dict) -> None:
    original = _picture(fmt, **params)
    assert AUTHOR.encode() in original
    assert scrub.detect(original[:64]) == kind
    # Pillow's TIFF writer drops the GPS directory itself; the others keep it, as phones do.
    had_gps = bool(Image.open(BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo))
    assert had_gps == (kind != "tiff")
    result = scrub.scrub(original, kind)
    img = _no_identifying_exif(result.data)
    assert img.format == fmt
    assert img.size == (20, 40)  # orientation 6 applied before the tag was dropped
    if had_gps:
        assert "GPS GPSLatitude" in result.removed
    assert "EXIF Artist" in result.removed
    if "xmp" in params:
        assert "XMP" in result.removed
    if "comment" in params:
        assert "Comment" in result.removed


def test_png_text_chunks_and_exif() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", AUTHOR)
    info.add_itxt("Comment", f"taken by {AUTHOR}")
    original = _picture("PNG", pnginfo=info)
    assert scrub.detect(original[:64]) == "png"
    result = scrub.scrub(original, "png")
    img = _no_identifying_exif(result.data)
    assert img.format == "PNG"
    assert not getattr(img, "text", {})
    assert {"PNG Author", "PNG Comment", "GPS GPSLatitude"} <= set(result.removed)


def test_jpeg_keeps_its_pixels() -> None:
    img = Image.new("RGB", (64, 64), (10, 120, 200))
    out = BytesIO()
    img.save(out, format="JPEG", quality=90, exif=_exif())
    clean = Image.open(BytesIO(scrub.scrub(out.getvalue(), "jpeg").data)).convert("RGB")
    r, g, b = clean.getpixel((32, 32))  # type: ignore[misc]
    assert abs(r - 10) < 8 and abs(g - 120) < 8 and abs(b - 200) < 8


def _pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    pdf.docinfo["/Author"] = AUTHOR
    pdf.docinfo["/Creator"] = "Word for " + COMPANY
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [AUTHOR]
    annot = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Text,
            Rect=[10, 10, 30, 30],
            T=pikepdf.String(AUTHOR),
            Contents=pikepdf.String("Look here"),
        )
    )
    pdf.pages[0].obj["/Annots"] = pdf.make_indirect(pikepdf.Array([annot]))
    out = BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def test_pdf_loses_info_xmp_and_annotation_authors() -> None:
    original = _pdf()
    assert AUTHOR.encode() in original
    assert scrub.detect(original[:64]) == "pdf"
    result = scrub.scrub(original, "pdf")
    assert AUTHOR.encode() not in result.data
    assert {"Info Author", "XMP", "Annotation authors"} <= set(result.removed)
    with pikepdf.open(BytesIO(result.data)) as clean:
        assert len(clean.pages) == 1
        assert "/Author" not in clean.docinfo
        assert "/Metadata" not in clean.Root
        [annot] = clean.pages[0].obj["/Annots"]
        assert str(annot["/Contents"]) == "Look here"  # the comment itself is content: kept


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.author = AUTHOR
    document.core_properties.last_modified_by = AUTHOR
    paragraph = document.add_paragraph("The invoices were altered.")
    document.add_comment(paragraph.runs, text="Check this", author=AUTHOR, initials="AA")
    out = BytesIO()
    document.save(out)
    # Word adds revision ids and a people list; python-docx does not, so add them as Word would.
    return _rewrite_zip(
        out.getvalue(),
        {
            "word/document.xml": lambda x: x.replace(b"<w:p>", b'<w:p w:rsidR="00AB12CD">', 1),
            "word/people.xml": lambda _: (
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                b'<w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml">'
                b'<w15:person w15:author="' + AUTHOR.encode() + b'"><w15:presenceInfo '
                b'w15:providerId="AD" w15:userId="S-1-5-21-anna.andersson"/></w15:person>'
                b"</w15:people>"
            ),
        },
    )


def _rewrite_zip(data: bytes, changes: dict) -> bytes:  # type: ignore[type-arg]
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        names = source.namelist()
        for name in names:
            raw = source.read(name)
            target.writestr(name, changes[name](raw) if name in changes else raw)
        for name, change in changes.items():
            if name not in names:
                target.writestr(name, change(b""))
    return out.getvalue()


def _all_text(data: bytes) -> bytes:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return b"".join(archive.read(n) for n in archive.namelist())


def test_docx_loses_authors_comment_authors_rsids_and_people() -> None:
    original = _docx()
    assert AUTHOR.encode() in _all_text(original)
    assert b"w:rsidR" in _all_text(original)
    result = scrub.scrub(original, "zip")
    assert result.kind == "docx"
    text = _all_text(result.data)
    assert AUTHOR.encode() not in text
    assert b"anna.andersson" not in text
    assert b"rsidR" not in text
    assert "docProps/core.xml: creator" in result.removed
    assert "comment and revision authors" in result.removed
    assert "revision ids (rsid)" in result.removed
    assert "people list" in result.removed
    import docx

    clean = docx.Document(BytesIO(result.data))
    assert clean.paragraphs[0].text == "The invoices were altered."
    assert clean.core_properties.author == ""
    with zipfile.ZipFile(BytesIO(result.data)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_xlsx_loses_creator_and_comment_authors() -> None:
    import openpyxl
    from openpyxl.comments import Comment

    book = openpyxl.Workbook()
    book.properties.creator = AUTHOR
    sheet = book.active
    assert sheet is not None
    sheet["A1"] = "Invoice 1234"
    sheet["A1"].comment = Comment("Paid twice", AUTHOR)
    out = BytesIO()
    book.save(out)
    original = out.getvalue()
    assert AUTHOR.encode() in _all_text(original)
    result = scrub.scrub(original, "zip")
    assert result.kind == "xlsx"
    assert AUTHOR.encode() not in _all_text(result.data)
    clean = openpyxl.load_workbook(BytesIO(result.data))
    assert clean.active is not None and clean.active["A1"].value == "Invoice 1234"
    assert clean.properties.creator != AUTHOR


def test_pptx_loses_document_properties() -> None:
    import pptx

    deck = pptx.Presentation()
    deck.core_properties.author = AUTHOR
    deck.slides.add_slide(deck.slide_layouts[0]).shapes.title.text = "Findings"
    out = BytesIO()
    deck.save(out)
    result = scrub.scrub(out.getvalue(), "zip")
    assert result.kind == "pptx"
    assert AUTHOR.encode() not in _all_text(result.data)
    clean = pptx.Presentation(BytesIO(result.data))
    assert clean.slides[0].shapes.title.text == "Findings"


def test_odt_loses_meta_and_annotation_creators() -> None:
    from odf import dc, meta, office, opendocument, text

    document = opendocument.OpenDocumentText()
    document.meta.addElement(meta.InitialCreator(text=AUTHOR))
    document.meta.addElement(dc.Creator(text=AUTHOR))
    paragraph = text.P(text="Cash payments in March.")
    note = office.Annotation()
    note.addElement(dc.Creator(text=AUTHOR))
    note.addElement(text.P(text="ask the cashier"))
    paragraph.addElement(note)
    document.text.addElement(paragraph)
    out = BytesIO()
    document.write(out)
    original = out.getvalue()
    assert AUTHOR.encode() in _all_text(original)
    result = scrub.scrub(original, "zip")
    assert result.kind == "odt"
    assert AUTHOR.encode() not in _all_text(result.data)
    assert "meta.xml: initial-creator" in result.removed
    with zipfile.ZipFile(BytesIO(result.data)) as archive:
        first = archive.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
    clean = opendocument.load(BytesIO(result.data))
    assert "Cash payments in March." in str(clean.text)


@pytest.mark.parametrize(
    "data",
    [
        b"plain text, no magic",
        b"PK\x03\x04 not really a zip",
        b"%PDF-1.7 truncated",
        b"\xff\xd8\xff\xe0 broken jpeg",
    ],
)
def test_unknown_or_broken_files_are_refused_not_guessed(data: bytes) -> None:
    kind = scrub.detect(data[:64])
    if kind is None:
        return
    with pytest.raises(scrub.Unsupported):
        scrub.scrub(data, kind)


def test_an_xml_part_with_a_doctype_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><x>&b;</x>'
    )
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w") as target:
        target.writestr("[Content_Types].xml", bomb)
        target.writestr("word/document.xml", bomb)
    with pytest.raises(scrub.Unsupported):
        scrub.scrub(archive.getvalue(), "zip")


def test_a_plain_zip_is_not_an_office_file() -> None:
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w") as target:
        target.writestr("notes.txt", AUTHOR)
    with pytest.raises(scrub.Unsupported):
        scrub.scrub(archive.getvalue(), "zip")
