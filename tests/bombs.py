"""Files that cost far more to clean than they cost to send, made in memory in milliseconds.

Shared by the tests (tests/test_scrub.py, tests/test_sandbox.py, tests/test_attachments.py) and
the benchmarks (bench/scenarios/scrub.py). The APNG is written chunk by chunk (Pillow would
have to hold every frame to write one): its first frame is all zeros, which zlib shrinks a
thousandfold, and every further frame changes one pixel.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from functools import cache
from io import BytesIO

CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
W_NS = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def apng(side: int, frames: int) -> bytes:
    """An animated PNG of ``frames`` frames of ``side`` × ``side`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    row = b"\0" * (1 + 3 * side)  # filter byte "none", then black pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    parts = [
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", ihdr),
        _chunk(b"acTL", struct.pack(">II", frames, 0)),
    ]
    sequence = 0

    def fctl(width: int, height: int, x: int) -> bytes:
        nonlocal sequence
        data = struct.pack(">IIIIIHHBB", sequence, width, height, x, 0, 1, 10, 0, 0)
        sequence += 1
        return _chunk(b"fcTL", data)

    parts += [fctl(side, side, 0), _chunk(b"IDAT", idat)]
    pixel = zlib.compress(b"\0\xff\0\0")
    for frame in range(1, frames):
        parts.append(fctl(1, 1, frame % side))
        parts.append(_chunk(b"fdAT", struct.pack(">I", sequence) + pixel))
        sequence += 1
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def office(document: bytes, *, media: bytes = b"") -> bytes:
    """A minimal .docx whose ``word/document.xml`` is ``document`` (and an optional picture)."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("word/document.xml", document)
        if media:
            entry = zipfile.ZipInfo("word/media/image1.jpeg")
            archive.writestr(entry, media, compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


@cache
def docx_elements(count: int) -> bytes:
    """``count`` empty elements in one part: 10 million of them zip to 39 KB."""
    return office(b"<r>" + b"<a/>" * count + b"</r>")


def word_paragraphs(count: int) -> bytes:
    """Word-like paragraphs with revision ids: seven XML nodes each (4 elements, 3 attributes)."""
    paragraph = (
        b'<w:p w:rsidR="00AB12CD" w:rsidRDefault="00AB12CD"><w:r w:rsidR="00AB12CD">'
        b"<w:t>Some words of the report</w:t></w:r></w:p>"
    )
    return b"<w:document " + W_NS + b"><w:body>" + paragraph * count + b"</w:body></w:document>"
