"""Removing hidden data that identifies people from attached files, in memory only.

A phone photo carries the GPS position and the camera's serial number; a Word file carries its
author, the person who last saved it and the revision ids that tie it to other files from the
same computer; a PDF carries the author in its document information. Investigators in an
internal channel work for the reporter's employer, so this is removed before anyone reads it.

Supported (detected from the content, never from the file name): JPEG, PNG, WebP and TIFF
(EXIF including GPS, XMP, IPTC/Photoshop, comments, PNG text chunks) with Pillow; PDF
(document information dictionary, XMP metadata streams, page-piece data, annotation authors)
with pikepdf; Office Open XML and OpenDocument in :mod:`whistle.scrub_office`.

Everything here works on ``bytes`` in memory: the caller decrypts a blob into memory, calls
:func:`scrub` and seals the result again, so no plaintext file is ever written. Anything that
fails (a malformed or encrypted file, an image too large to decode safely) raises
:class:`Unsupported`, and the file is kept unchanged with the reporter told so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pikepdf
from PIL import ExifTags, Image, ImageOps, ImageSequence, JpegImagePlugin

from whistle import scrub_office

# Pillow decodes the whole image to scrub it; 50 megapixels is about 200 MB as RGBA.
MAX_PIXELS = 50_000_000

MEDIA_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
    **scrub_office.MEDIA_TYPES,
}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "tiff": "TIFF"}

# TIFF tags that describe the picture itself, not who made it: not reported as removed (the
# clean copy gets its own). Every other tag is metadata and is dropped.
_TIFF_STRUCTURE = {
    254, 255, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 282, 283, 284, 292, 293,
    296, 297, 317, 318, 319, 320, 321, 322, 323, 324, 325, 338, 339, 340, 341, 347, 530, 531,
    532, 34675,
}  # fmt: skip
_EXIF_POINTERS = {int(ExifTags.IFD.Exif), int(ExifTags.IFD.GPSInfo), int(ExifTags.IFD.Interop)}


class Unsupported(ValueError):
    """Not a type we can clean, or a file we could not read: it is kept as it is."""


@dataclass(frozen=True)
class Scrubbed:
    data: bytes
    kind: str  # a key of MEDIA_TYPES
    removed: tuple[str, ...]  # names of what was removed (never values)


def detect(head: bytes) -> str | None:
    """The file's type from its first bytes (magic numbers), or None when unknown.

    ``"zip"`` means a ZIP container; :func:`scrub` looks inside to tell Office from other ZIPs.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:1024].lstrip()[:5] == b"%PDF-":
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return None


def scrub(data: bytes, kind: str) -> Scrubbed:
    """A copy of ``data`` without identifying metadata. Raises :class:`Unsupported`."""
    if kind in _PIL_FORMATS:
        return _scrub_image(data, kind)
    if kind == "pdf":
        return _scrub_pdf(data)
    if kind == "zip":
        try:
            office = scrub_office.scrub(data)
        except Exception as exc:  # OfficeUnsupported, or lxml on input it cannot take
            raise Unsupported(type(exc).__name__) from None
        return Scrubbed(office.data, office.kind, office.removed)
    raise Unsupported(kind)


# ---------------------------------------------------------------------------------------------
# images


def _exif_names(img: Image.Image, kind: str) -> list[str]:
    exif = img.getexif()
    names = [
        f"EXIF {ExifTags.TAGS.get(tag, hex(tag))}"
        for tag in exif
        if tag not in _EXIF_POINTERS and not (kind == "tiff" and tag in _TIFF_STRUCTURE)
    ]
    names += [f"EXIF {ExifTags.TAGS.get(tag, hex(tag))}" for tag in exif.get_ifd(ExifTags.IFD.Exif)]
    names += [
        f"GPS {ExifTags.GPSTAGS.get(tag, hex(tag))}" for tag in exif.get_ifd(ExifTags.IFD.GPSInfo)
    ]
    return names


def _image_fields(img: Image.Image, kind: str) -> list[str]:
    names = _exif_names(img, kind)
    info = img.info
    if "xmp" in info or "XML:com.adobe.xmp" in info:
        names.append("XMP")
    if "photoshop" in info or (kind == "tiff" and 33723 in img.getexif()):
        names.append("IPTC")
    if "comment" in info:
        names.append("Comment")
    text = getattr(img, "text", None)  # PNG tEXt/iTXt/zTXt chunks
    if isinstance(text, dict):
        names += [f"PNG {key}" for key in text if key != "XML:com.adobe.xmp"]
    return sorted(set(names))


def _save_params(img: Image.Image, kind: str, frames: list[Image.Image]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    # The colour profile says how to show the colours; it is kept so the picture looks right.
    if "icc_profile" in img.info:
        params["icc_profile"] = img.info["icc_profile"]
    if kind == "jpeg" and isinstance(img, JpegImagePlugin.JpegImageFile):
        # The original quantisation tables: the re-encoded picture keeps its quality.
        params["qtables"] = img.quantization
        sampling = JpegImagePlugin.get_sampling(img)
        if sampling != -1:
            params["subsampling"] = sampling
    if kind in ("webp", "png") and "duration" in img.info:
        params["duration"] = [f.info.get("duration", img.info["duration"]) for f in frames]
        params["loop"] = img.info.get("loop", 0)
    if kind == "webp" and img.info.get("lossless"):
        params["lossless"] = True
    if kind == "webp" and not img.info.get("lossless"):
        params["quality"] = 95
    if len(frames) > 1:
        params["save_all"] = True
        params["append_images"] = frames[1:]
    return params


def _clean_frame(frame: Image.Image) -> Image.Image:
    copy = frame.copy()
    copy.info = {}
    return copy


def _scrub_image(data: bytes, kind: str) -> Scrubbed:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise Unsupported("image too large to decode safely")
                removed = _image_fields(img, kind)
                if getattr(img, "n_frames", 1) == 1:
                    # Apply the EXIF orientation before dropping it, so the picture stays upright.
                    # The transposed image caches the EXIF it came from: copy once more, clean.
                    frames = [_clean_frame(ImageOps.exif_transpose(img))]
                else:
                    frames = [_clean_frame(f) for f in ImageSequence.Iterator(img)]
                params = _save_params(img, kind, frames)
                out = BytesIO()
                frames[0].save(out, format=_PIL_FORMATS[kind], **params)
    except Unsupported:
        raise
    except Exception as exc:  # Pillow raises many types for bad input; all mean "keep as is"
        raise Unsupported(type(exc).__name__) from None
    return Scrubbed(out.getvalue(), kind, tuple(removed))


# ---------------------------------------------------------------------------------------------
# PDF


def _strip_dict(obj: pikepdf.Object, keys: tuple[str, ...]) -> list[str]:
    removed = []
    for key in keys:
        if key in obj:
            del obj[key]
            removed.append(key[1:])
    return removed


def _annotation_authors(pdf: pikepdf.Pdf) -> bool:
    """Remove the author (``/T``) of comments and markup; form fields use ``/T`` as their name,
    so widgets keep it."""
    found = False
    for page in pdf.pages:
        for annot in page.obj.get("/Annots", pikepdf.Array()):
            if not isinstance(annot, pikepdf.Dictionary) or annot.get("/Subtype") == "/Widget":
                continue
            if "/T" in annot:
                del annot["/T"]
                found = True
    return found


def _scrub_pdf(data: bytes) -> Scrubbed:
    try:
        pdf = pikepdf.open(BytesIO(data))
    except Exception as exc:  # encrypted (PasswordError) or damaged: keep as is
        raise Unsupported(type(exc).__name__) from None
    removed: list[str] = []
    with pdf:
        info = pdf.trailer.get("/Info")
        if isinstance(info, pikepdf.Dictionary):
            removed += [f"Info {str(key)[1:]}" for key in info.keys()]  # noqa: SIM118
            del pdf.trailer["/Info"]
        if _strip_dict(pdf.Root, ("/Metadata",)):
            removed.append("XMP")
        removed += _strip_dict(pdf.Root, ("/PieceInfo",))
        # XMP packets and application data can also hang on pages, images and fonts.
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                found = _strip_dict(obj, ("/Metadata", "/PieceInfo"))
                removed += [f"{name} (object)" for name in found]
        if _annotation_authors(pdf):
            removed.append("Annotation authors")
        out = BytesIO()
        # A new document id: the old one could link this copy to the author's original.
        pdf.save(out, deterministic_id=True)
    return Scrubbed(out.getvalue(), "pdf", tuple(sorted(set(removed))))
