"""Removing hidden data that identifies people from attached files, in memory only.

A phone photo carries the GPS position and the camera's serial number; a Word file carries its
author, the person who last saved it and the revision ids that tie it to other files from the
same computer; a PDF carries the author in its document information. Investigators in an
internal channel work for the reporter's employer, so this is removed before anyone reads it.

Supported (detected from the content, never from the file name): JPEG, PNG, WebP and TIFF
(EXIF including GPS, XMP, IPTC/Photoshop, comments, PNG text chunks) with Pillow; PDF
(document information dictionary, XMP metadata streams, page-piece data, annotation authors)
with pikepdf; Office Open XML and OpenDocument in :mod:`whistle.scrub_office`.

Everything here works on ``bytes`` in memory, so no plaintext file is ever written. It runs in
a worker process with hard memory and CPU limits (:mod:`whistle.sandbox`), but refuses what it
can see is too big before decoding it: a picture whose frames together have more than
:data:`MAX_PIXELS` pixels, an animation of more than :data:`MAX_FRAMES` frames, an Office file
with too many XML elements (:mod:`whistle.scrub_office`). Anything that fails (a malformed or
encrypted file, a picture too large to decode safely) raises :class:`Unsupported`, and the
file is kept unchanged with the reporter told so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pikepdf
from PIL import ExifTags, Image, ImageSequence, JpegImagePlugin

from whistle import scrub_office

# Pillow decodes the whole picture to scrub it, 4 bytes a pixel in every mode it supports here:
# 50 megapixels is 200 MB, and cleaning holds two copies at most. The bound is for all frames
# of an animated PNG/WebP or a multi-page TIFF together (a 191 KB APNG can declare six frames of
# 7000 × 7000), and is checked from the headers, before anything is decoded.
MAX_PIXELS = 50_000_000
# Frames (or TIFF pages) of one file: each costs an image object even when it is tiny.
MAX_FRAMES = 1_000
# Objects of a PDF, as its cross-reference table declares them (qpdf reads no object past that
# number). Cleaning visits every one, about 800 bytes each; a 1,000-page report has some 50,000.
MAX_PDF_OBJECTS = 250_000

# Voice messages (whistle.voice): "voice" disguises the voice, "ownvoice" keeps it; both
# answer "opus", an Ogg/Opus recording made afresh.
VOICE = "voice"
OWN_VOICE = "ownvoice"
VOICE_KINDS = (VOICE, OWN_VOICE)

MEDIA_TYPES = {
    "opus": "audio/ogg",
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


def scrub(data: bytes, kind: str, *, max_audio_seconds: int = 0) -> Scrubbed:
    """A copy of ``data`` without identifying metadata. Raises :class:`Unsupported`."""
    if kind in VOICE_KINDS:
        return _scrub_voice(data, disguise=kind == VOICE, max_seconds=max_audio_seconds)
    if kind in _PIL_FORMATS:
        return _scrub_image(data, kind)
    if kind == "pdf":
        return _scrub_pdf(data)
    if kind == "zip":
        try:
            office = scrub_office.scrub(data)
        except MemoryError:
            raise  # the worker's memory limit (whistle.sandbox): not a property of the file
        except Exception as exc:  # OfficeUnsupported, or lxml on input it cannot take
            raise Unsupported(type(exc).__name__) from None
        return Scrubbed(office.data, office.kind, office.removed)
    raise Unsupported(kind)


def _scrub_voice(data: bytes, *, disguise: bool, max_seconds: int) -> Scrubbed:
    # Imported here: only a worker that gets a voice message loads FFmpeg and the vocoder.
    from whistle import voice

    try:
        result = voice.transcode(data, disguise=disguise, max_seconds=max_seconds)
    except voice.BadAudio as exc:
        raise Unsupported(str(exc)) from None
    return Scrubbed(result.data, "opus", result.removed)


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


def _save_params(img: Image.Image, kind: str, frames: int) -> dict[str, Any]:
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
    if kind == "webp" and img.info.get("lossless"):
        params["lossless"] = True
    if kind == "webp" and not img.info.get("lossless"):
        params["quality"] = 95
    if frames > 1:
        params["save_all"] = True
        if kind in ("webp", "png"):
            params["loop"] = img.info.get("loop", 0)
    return params


def _clean_frame(frame: Image.Image) -> Image.Image:
    copy = frame.copy()
    copy.info = {}
    return copy


def _animation(img: Image.Image, kind: str, params: dict[str, Any]) -> Image.Image:
    """What to save for a file of several frames, holding each frame's pixels once.

    Pillow's PNG and WebP writers copy each frame of the original as they write it and take
    its metadata only from the save parameters; the TIFF writer copies the tags of the image
    it is given, so TIFF pages are first copied into plain images.
    """
    if kind == "tiff":
        frames = [_clean_frame(f) for f in ImageSequence.Iterator(img)]
        params["append_images"] = frames[1:]
        return frames[0]
    if kind == "webp":  # the WebP writer takes one duration for all unless given a list
        params["duration"] = [_duration(frame) for frame in ImageSequence.Iterator(img)]
        img.seek(0)
    return img


def _duration(frame: Image.Image) -> int:
    frame.load()  # Pillow reads a WebP frame's duration as it decodes it
    return int(frame.info.get("duration", 0))


def _frame_sizes(img: Image.Image, kind: str) -> list[tuple[int, int]]:
    """The size of every frame, read from the headers without decoding any pixels.

    PNG and WebP frames are the canvas size (Pillow composes each onto it); TIFF pages each
    have their own, read one directory at a time. Raises :class:`Unsupported` past the bounds.
    """
    if kind != "tiff":
        count = getattr(img, "n_frames", 1)
        if count > MAX_FRAMES:
            raise Unsupported("too many frames")
        return [img.size] * count
    sizes: list[tuple[int, int]] = []
    while True:
        sizes.append(img.size)
        if len(sizes) > MAX_FRAMES:
            raise Unsupported("too many frames")
        try:
            img.seek(len(sizes))
        except EOFError:
            break
    img.seek(0)
    return sizes


def _upright(img: Image.Image) -> Image.Image:
    """The single frame, turned by its EXIF orientation, as a new image without metadata; the
    decoded original is released at once, so no more than two copies are ever held."""
    img.load()  # Pillow turns a TIFF upright itself as it loads, and drops its orientation
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(img.getexif().get(ExifTags.Base.Orientation, 1))
    # transpose() and copy() make a plain Image: no TIFF tags, no cached EXIF, fresh info.
    clean = img.transpose(method) if method is not None else img.copy()
    clean.info = {}
    img.close()
    return clean


def _scrub_image(data: bytes, kind: str) -> Scrubbed:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as img:
                sizes = _frame_sizes(img, kind)
                if sum(width * height for width, height in sizes) > MAX_PIXELS:
                    raise Unsupported("image too large to decode safely")
                removed = _image_fields(img, kind)
                params = _save_params(img, kind, len(sizes))
                # A single picture: apply the EXIF orientation before dropping it, so the
                # picture stays upright.
                first = _upright(img) if len(sizes) == 1 else _animation(img, kind, params)
                out = BytesIO()
                first.save(out, format=_PIL_FORMATS[kind], **params)
    except (Unsupported, MemoryError):
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
    except MemoryError:
        raise
    except Exception as exc:  # encrypted (PasswordError) or damaged: keep as is
        raise Unsupported(type(exc).__name__) from None
    removed: list[str] = []
    with pdf:
        try:
            declared = int(pdf.trailer.get("/Size", 0))
        except (TypeError, ValueError):
            raise Unsupported("damaged cross-reference table") from None
        if declared > MAX_PDF_OBJECTS:
            raise Unsupported("too many PDF objects")
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
        # A new document id: the old one could link this copy to the author's original. Streams
        # are written as they are, never decoded: a compressed stream could inflate to gigabytes.
        pdf.save(out, deterministic_id=True, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return Scrubbed(out.getvalue(), "pdf", tuple(sorted(set(removed))))
