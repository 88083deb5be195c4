"""Plain-language names for the hidden data that :mod:`whistle.scrub` removes.

``scrub`` reports what it removed in technical terms ("EXIF Model", "docProps/app.xml: Company",
"Info Producer"). A reporter in a hurry needs to know *what kind* of thing was removed: the
groups below are translated message ids, and the technical list stays available, folded away,
for those who want it. Kept apart from ``scrub`` so its internals can change without touching
what people read; a name no rule knows falls into "other hidden data", never disappears.
"""

from __future__ import annotations

import re

from whistle.i18n import N_

AUTHORS = N_("authors and editors")
COMPANY = N_("company name")
CAMERA = N_("camera make and model")
LOCATION = N_("location (GPS)")
CAPTION = N_("caption, title and keywords")
SOFTWARE = N_("the program that created the file")
DATES = N_("dates and times")
HISTORY = N_("editing history")
PATHS = N_("file and template paths")
PRINTER = N_("printer settings")
OTHER = N_("other hidden data")

# The order groups are shown in: what identifies a person first.
ORDER = (AUTHORS, LOCATION, CAMERA, COMPANY, CAPTION, DATES, HISTORY, PATHS, PRINTER, SOFTWARE)

# Field name (the part after "EXIF ", "Info ", "docProps/app.xml: " ...) → group.
_FIELDS: dict[str, str] = {
    # people
    "creator": AUTHORS,
    "lastModifiedBy": AUTHORS,
    "initial-creator": AUTHORS,
    "Author": AUTHORS,
    "Artist": AUTHORS,
    "CameraOwnerName": AUTHORS,
    "Copyright": AUTHORS,
    "XPAuthor": AUTHORS,
    "Manager": AUTHORS,
    "comment and revision authors": AUTHORS,
    "people list": AUTHORS,
    "Annotation authors": AUTHORS,
    "user-defined": OTHER,
    # organisation
    "Company": COMPANY,
    "HyperlinkBase": PATHS,
    # camera
    "Make": CAMERA,
    "Model": CAMERA,
    "LensMake": CAMERA,
    "LensModel": CAMERA,
    "LensSerialNumber": CAMERA,
    "BodySerialNumber": CAMERA,
    # captions and titles
    "ImageDescription": CAPTION,
    "UserComment": CAPTION,
    "XPComment": CAPTION,
    "XPTitle": CAPTION,
    "XPSubject": CAPTION,
    "XPKeywords": CAPTION,
    "Comment": CAPTION,
    "Description": CAPTION,
    "Title": CAPTION,
    "title": CAPTION,
    "Subject": CAPTION,
    "subject": CAPTION,
    "description": CAPTION,
    "Keywords": CAPTION,
    "keywords": CAPTION,
    "category": CAPTION,
    # software
    "Software": SOFTWARE,
    "Producer": SOFTWARE,
    "Creator": SOFTWARE,
    "Application": SOFTWARE,
    "AppVersion": SOFTWARE,
    "generator": SOFTWARE,
    "HostComputer": SOFTWARE,
    # dates
    "DateTime": DATES,
    "DateTimeOriginal": DATES,
    "DateTimeDigitized": DATES,
    "OffsetTime": DATES,
    "OffsetTimeOriginal": DATES,
    "OffsetTimeDigitized": DATES,
    "SubsecTime": DATES,
    "SubsecTimeOriginal": DATES,
    "SubsecTimeDigitized": DATES,
    "CreationDate": DATES,
    "ModDate": DATES,
    "created": DATES,
    "modified": DATES,
    "lastPrinted": DATES,
    "creation-date": DATES,
    "date": DATES,
    "print-date": DATES,
    "Creation Time": DATES,
    # editing history
    "revision": HISTORY,
    "TotalTime": HISTORY,
    "editing-cycles": HISTORY,
    "editing-duration": HISTORY,
    "revision ids (rsid)": HISTORY,
    "ImageUniqueID": HISTORY,
    # paths and printers
    "Template": PATHS,
    "template path": PATHS,
    "file path": PATHS,
    "printer settings": PRINTER,
}

_PREFIX = re.compile(r"^(?:EXIF|GPS|PNG|Info|[\w./-]+\.xml:)\s*")


def group(name: str) -> str:
    """The plain-language group (an untranslated message id) of one technical name."""
    if name.startswith("GPS "):
        return LOCATION
    field = _PREFIX.sub("", name).removesuffix(" (object)").strip()
    return _FIELDS.get(field, OTHER)


def groups(names: list[str] | tuple[str, ...]) -> list[str]:
    """The groups of the removed names, each once, most identifying first, "other" last."""
    found = {group(name) for name in names}
    return [g for g in ORDER if g in found] + ([OTHER] if OTHER in found else [])
