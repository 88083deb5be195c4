"""whistle.scrub: each supported format, made here with identifying metadata, comes out without
it and still opens with its own library."""

from __future__ import annotations

import zipfile
import zlib
from io import BytesIO

import pikepdf
import pytest
from PIL import ExifTags, Image, PngImagePlugin

from tests import bombs
from whistle import scrub, scrub_office

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
    r, g, b = clean.getpixel((32, 32))
    assert abs(r - 10) < 8
    assert abs(g - 120) < 8
    assert abs(b - 200) < 8


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


def _rewrite_zip(data: bytes, changes: dict) -> bytes:
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
    assert clean.active is not None
    assert clean.active["A1"].value == "Invoice 1234"
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
        assert first.filename == "mimetype"
        assert first.compress_type == zipfile.ZIP_STORED
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


# ---------------------------------------------------------------------------------------------
# bounds: what a file may cost is checked before it is spent


def test_an_animation_is_bounded_by_all_its_frames_not_the_first() -> None:
    # Six frames of 3000 × 3000: each is under MAX_PIXELS, together they are over it. The old
    # check looked at the first frame only and then copied every frame.
    bomb = bombs.apng(3000, 6)
    assert len(bomb) < 100_000
    assert 3000 * 3000 < scrub.MAX_PIXELS < 6 * 3000 * 3000
    with pytest.raises(scrub.Unsupported, match="too large"):
        scrub.scrub(bomb, "png")
    # The reviewer's files: 7000 × 7000 in 6 and in 100 frames (3.6 GB and ≈ 20 GB to decode).
    for frames in (6, 100):
        with pytest.raises(scrub.Unsupported):
            scrub.scrub(bombs.apng(7000, frames), "png")


def test_too_many_frames_are_refused_even_when_tiny() -> None:
    with pytest.raises(scrub.Unsupported, match="frames"):
        scrub.scrub(bombs.apng(2, scrub.MAX_FRAMES + 1), "png")


def test_a_tiff_page_after_the_first_is_counted_too() -> None:
    small = Image.new("1", (10, 10))
    huge = Image.new("1", (8000, 7000))  # 56 megapixels, one byte each here
    out = BytesIO()
    small.save(out, format="TIFF", save_all=True, append_images=[huge], compression="packbits")
    assert len(out.getvalue()) < 2_000_000
    with pytest.raises(scrub.Unsupported, match="too large"):
        scrub.scrub(out.getvalue(), "tiff")


@pytest.mark.parametrize(("fmt", "kind"), [("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tiff")])
def test_animations_and_pages_lose_their_metadata_and_keep_their_frames(
    fmt: str, kind: str
) -> None:
    frames = [Image.new("RGB", (30, 20), (i * 60, 0, 0)) for i in range(3)]
    params: dict[str, object] = {"exif": _exif(), "duration": [100, 200, 300]}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", AUTHOR)
        params["pnginfo"] = info
    if fmt == "WEBP":
        params.update(xmp=XMP.encode(), lossless=True)
    out = BytesIO()
    frames[0].save(out, format=fmt, save_all=True, append_images=frames[1:], **params)
    assert AUTHOR.encode() in out.getvalue()
    result = scrub.scrub(out.getvalue(), kind)
    assert AUTHOR.encode() not in result.data
    assert b"PhoneMaker" not in result.data
    assert "EXIF Artist" in result.removed
    clean = Image.open(BytesIO(result.data))
    assert clean.n_frames == 3
    durations, reds = [], []
    for index in range(3):
        clean.seek(index)
        clean.load()
        durations.append(clean.info.get("duration"))
        reds.append(clean.convert("RGB").getpixel((5, 5))[0])
    assert all(abs(red - want) <= 3 for red, want in zip(reds, [0, 60, 120], strict=True))
    if kind != "tiff":  # TIFF pages have no timing
        assert durations == [100, 200, 300]


def test_an_office_file_with_too_many_elements_is_refused_while_parsing() -> None:
    # 1.2 million empty elements: 4.8 MB of XML in a 12 KB file. The old code parsed every one
    # (the reviewer's 10 million took 2.0 GB and 83 s); now parsing stops at MAX_NODES.
    bomb = bombs.docx_elements(1_200_000)
    assert len(bomb) < 50_000
    with pytest.raises(scrub.Unsupported):
        scrub.scrub(bomb, "zip")
    with pytest.raises(scrub_office.OfficeUnsupported, match="too many XML elements"):
        scrub_office.scrub(bomb)
    # The reviewer's own file is refused by the size of its XML part, before any parsing.
    with pytest.raises(scrub_office.OfficeUnsupported, match="too large"):
        scrub_office.scrub(bombs.docx_elements(10_000_000))


def test_attributes_count_and_all_parts_share_one_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrub_office, "MAX_NODES", 1000)
    # 400 elements of one attribute each: 800 nodes, within the budget alone.
    part = b"<r>" + b'<a b="1"/>' * 399 + b"</r>"
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", bombs.CONTENT_TYPES)
        archive.writestr("word/document.xml", part)
    assert scrub_office.scrub(out.getvalue()).kind == "docx"
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("word/footer1.xml", part)  # 1,600 together
    with pytest.raises(scrub_office.OfficeUnsupported, match="too many XML elements"):
        scrub_office.scrub(out.getvalue())


def test_a_realistic_document_within_the_budget_is_cleaned() -> None:
    paragraphs = 20_000  # 140,000 nodes, a long report
    result = scrub_office.scrub(bombs.office(bombs.word_paragraphs(paragraphs), media=b"x" * 100))
    assert result.removed == ("revision ids (rsid)",)
    with zipfile.ZipFile(BytesIO(result.data)) as archive:
        assert archive.read("word/media/image1.jpeg") == b"x" * 100  # copied through
        assert archive.read("word/document.xml").count(b"<w:p>") == paragraphs


def test_a_pdf_that_declares_too_many_objects_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrub, "MAX_PDF_OBJECTS", 50)
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    pdf.Root["/X"] = pikepdf.Array([pdf.make_indirect(pikepdf.Dictionary(A=i)) for i in range(60)])
    out = BytesIO()
    pdf.save(out)
    with pytest.raises(scrub.Unsupported, match="too many PDF objects"):
        scrub.scrub(out.getvalue(), "pdf")
    monkeypatch.setattr(scrub, "MAX_PDF_OBJECTS", 100)
    assert scrub.scrub(out.getvalue(), "pdf").kind == "pdf"


def test_pdf_streams_are_copied_without_being_decoded() -> None:
    # A stream that would inflate to 100 MB: written as it came, never inflated.
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    packed = zlib.compress(b"\0" * 100_000_000, 9)
    stream = pikepdf.Stream(pdf, packed)
    stream["/Filter"] = pikepdf.Name.FlateDecode
    pdf.Root["/Bomb"] = pdf.make_indirect(stream)
    pdf.docinfo["/Author"] = AUTHOR
    out = BytesIO()
    pdf.save(out, compress_streams=False)
    result = scrub.scrub(out.getvalue(), "pdf")
    assert AUTHOR.encode() not in result.data
    assert packed in result.data
    assert len(result.data) < len(out.getvalue()) + 10_000
