"""Hidden data in Office Open XML (.docx, .xlsx, .pptx) and OpenDocument (.odt, .ods, .odp).

Both are ZIP files of XML parts. What identifies people, and what is done with it:

* document properties (``docProps/core.xml``, ``app.xml``, ``custom.xml``; ODF ``meta.xml``):
  author, last saved by, company, manager, template, dates, editing time — emptied;
* comment and tracked-change authors, initials and dates (``w:author``, ``dc:creator`` …) and
  the people lists (``word/people.xml``, ``xl/persons``, ``ppt/commentAuthors.xml``,
  ``ppt/authors.xml``) — blanked, keeping the elements so the document still opens;
* Word revision-save ids (``w:rsid*``), which tie documents to one editing session on one
  computer, the attached template's path and Excel's absolute file path — removed;
* ODF printer settings (name and driver set-up) — blanked;
* the ZIP entries' timestamps, extra fields and comment — reset.

XML is parsed with lxml so that namespace prefixes and declarations survive (Office refuses a
file whose ``mc:Ignorable`` prefixes were renamed). A part with a DOCTYPE is refused outright:
no OOXML or ODF part has one, and without it no entity can be expanded.

What a file may cost is bounded before it is spent: the ZIP's declared sizes (a ZIP cannot
inflate past them), the size of each XML part, and the number of XML nodes (elements and
attributes) of all its parts together, counted while parsing, so a 39 KB file of ten million
``<a/>`` is refused after a million instead of taking 2 GB. Parts that are not XML (pictures,
fonts) are copied through in pieces, never held whole.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO

from lxml import etree

MEDIA_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
}
_ODF_KINDS = {MEDIA_TYPES[k]: k for k in ("odt", "ods", "odp")}
_OOXML_KINDS = {"word/": "docx", "xl/": "xlsx", "ppt/": "pptx"}

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DC = "http://purl.org/dc/elements/1.1/"
CONFIG = "urn:oasis:names:tc:opendocument:xmlns:config:1.0"
# Zip entries get this date (the earliest a ZIP can hold) instead of the author's save time.
_EPOCH = (1980, 1, 1, 0, 0, 0)
MAX_PARTS = 10_000
MAX_UNCOMPRESSED = 256 * 1024 * 1024  # a ZIP bomb is refused, not unpacked
MAX_XML_BYTES = 32 * 1024 * 1024  # one XML part, read whole to be parsed
# Elements and attributes of all XML parts of one file. libxml2 spends about 250 bytes on each,
# so this keeps a parsed part under 250 MB; a 300-page report has some 150,000.
MAX_NODES = 1_000_000
_COPY_PIECE = 1024 * 1024


class OfficeUnsupported(ValueError):
    """Not an Office/OpenDocument file we can clean (or damaged)."""


@dataclass(frozen=True)
class OfficeScrubbed:
    data: bytes
    kind: str
    removed: tuple[str, ...]


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


class _Budget:
    """The XML nodes a file may still have: counted as the parser makes them, so a part with
    too many is abandoned before it is built whole (whatever its encoding)."""

    def __init__(self, nodes: int) -> None:
        self.left = nodes

    def spend(self, nodes: int) -> None:
        self.left -= nodes
        if self.left < 0:
            raise OfficeUnsupported("too many XML elements")


def _parse(raw: bytes, budget: _Budget) -> etree._Element:
    if b"<!DOCTYPE" in raw[:4096].upper() or b"<!ENTITY" in raw.upper():
        raise OfficeUnsupported("DOCTYPE in an XML part")
    events = etree.iterparse(
        BytesIO(raw),
        events=("start",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    try:
        for _event, element in events:
            budget.spend(1 + len(element.attrib))
    except etree.XMLSyntaxError:
        raise OfficeUnsupported("malformed XML part") from None
    root: etree._Element = events.root
    return root


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _empty_properties(root: etree._Element, prefix: str) -> list[str]:
    """Remove every property, keeping the (now empty) root so relationships stay valid."""
    names = [f"{prefix}{_local(child.tag)}" for child in root if _local(child.tag)]
    for child in list(root):
        root.remove(child)
    return names


def _blank_people(root: etree._Element) -> list[str]:
    found: set[str] = set()
    for el in root.iter():
        tag = _local(el.tag)
        for attr in list(el.attrib):
            name = _local(attr)
            if name in {"author", "initials", "userId", "providerId"} or (
                name in {"name", "displayName"} and tag in {"person", "cmAuthor", "author"}
            ):
                if el.attrib[attr]:
                    found.add("comment and revision authors")
                el.attrib[attr] = ""
            elif name == "date" and etree.QName(attr).namespace == W:
                del el.attrib[attr]
            elif name.startswith("rsid") and etree.QName(attr).namespace == W:
                del el.attrib[attr]
                found.add("revision ids (rsid)")
        if tag == "author" and el.text and etree.QName(el.tag).namespace != DC:
            el.text = ""  # Excel comments: <authors><author>Name</author></authors>
            found.add("comment and revision authors")
        if etree.QName(el.tag).namespace == DC and tag in {"creator", "date"} and el.text:
            el.text = ""  # ODF annotations and tracked changes
            found.add("comment and revision authors")
        if tag == "config-item" and el.get(f"{{{CONFIG}}}name") in {"PrinterName", "PrinterSetup"}:
            if el.text:
                found.add("printer settings")
            el.text = ""
    for el in list(root.iter()):
        if _local(el.tag) in {"rsids", "attachedTemplate", "absPath"}:
            found.add(
                {"rsids": "revision ids (rsid)", "attachedTemplate": "template path"}.get(
                    _local(el.tag), "file path"
                )
            )
            parent = el.getparent()
            if parent is not None:
                parent.remove(el)
    return sorted(found)


def _clean_part(name: str, raw: bytes, kind: str, budget: _Budget) -> tuple[bytes, list[str]]:
    root = _parse(raw, budget)
    if name in {"docProps/core.xml", "docProps/app.xml", "docProps/custom.xml"}:
        removed = _empty_properties(root, f"{name}: ")
    elif name == "meta.xml" and kind in _ODF_KINDS.values():
        meta = next((el for el in root if _local(el.tag) == "meta"), None)
        removed = _empty_properties(meta, "meta.xml: ") if meta is not None else []
    elif name == "word/people.xml":
        removed = ["people list"] if len(root) else []
        for child in list(root):
            root.remove(child)
    else:
        removed = _blank_people(root)
    return _serialise(root), removed


def _kind(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    if "mimetype" in names:
        mimetype = archive.read("mimetype").decode("ascii", "replace").strip()
        if mimetype in _ODF_KINDS:
            return _ODF_KINDS[mimetype]
    if "[Content_Types].xml" in names:
        for prefix, kind in _OOXML_KINDS.items():
            if any(n.startswith(prefix) for n in names):
                return kind
    raise OfficeUnsupported("not an Office or OpenDocument file")


def _check_bomb(archive: zipfile.ZipFile) -> None:
    infos = archive.infolist()
    if len(infos) > MAX_PARTS or sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
        raise OfficeUnsupported("archive too large to unpack")


def _rebuild(
    archive: zipfile.ZipFile, clean: Callable[[str, bytes], tuple[bytes, list[str]]]
) -> tuple[bytes, list[str]]:
    out = BytesIO()
    removed: list[str] = []
    with zipfile.ZipFile(out, "w") as target:
        # ODF requires "mimetype" first and stored; OOXML has no order, so keep the original.
        for info in sorted(archive.infolist(), key=lambda i: i.filename != "mimetype"):
            if info.is_dir():
                continue
            entry = zipfile.ZipInfo(info.filename, date_time=_EPOCH)
            entry.compress_type = info.compress_type
            entry.external_attr = 0o644 << 16
            if not info.filename.endswith(".xml"):
                with archive.open(info) as source, target.open(entry, "w") as sink:
                    shutil.copyfileobj(source, sink, _COPY_PIECE)
                continue
            if info.file_size > MAX_XML_BYTES:
                raise OfficeUnsupported("XML part too large")
            data, found = clean(info.filename, archive.read(info))
            removed += found
            target.writestr(entry, data)
    return out.getvalue(), removed


def scrub(data: bytes) -> OfficeScrubbed:
    """Clean an Office Open XML or OpenDocument file; raises :class:`OfficeUnsupported`."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            _check_bomb(archive)
            kind = _kind(archive)
            budget = _Budget(MAX_NODES)
            cleaned, removed = _rebuild(archive, lambda n, raw: _clean_part(n, raw, kind, budget))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError, OSError):
        raise OfficeUnsupported("damaged archive") from None
    return OfficeScrubbed(cleaned, kind, tuple(sorted(set(removed))))
