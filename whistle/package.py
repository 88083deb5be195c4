"""Handover packages ("Lämna vidare", 5 kap. 10 §, 7 kap. 4 §): a zip for the receiving unit or
authority (police, HR) with a PDF of the selected items, the selected attachments and a signed
manifest.

The reporter's identity is masked: identity items are left out and every occurrence of the
name or contact details the reporter gave is replaced in the texts by the mark of OSL
32 kap. 3 b § (the rule of :mod:`whistle.masking`). Only a handover recorded as one that reveals
the identity (whistle/duties.py: the reporter is told first, or why not is recorded) may
include it. ``manifest.json`` lists the SHA-256 of every other file; ``manifest.sig`` is its
Ed25519 signature with the key in ``keys/signing.key``. The zip is built in memory: no plaintext
touches the disk. The audit entry records the manifest's hash.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from whistle import (
    attachments,
    audit,
    blobstore,
    casework,
    crypto,
    deadlines,
    disclosure,
    i18n,
    masking,
    pdf,
    records,
)
from whistle.cases import OpenedItem, open_items
from whistle.errors import DomainError
from whistle.exports import FIELD_LABELS, KIND_LABELS, marking_labels
from whistle.i18n import N_, gettext
from whistle.models import Attachment

FORMAT = "whistle-handover/1"
MANIFEST, SIGNATURE, DOCUMENT = "manifest.json", "manifest.sig", "handover.pdf"


class PackageError(DomainError):
    """A refused request; ``code`` names why (:mod:`whistle.errors`)."""


def identity_spans(text: str, markers: Sequence[str]) -> list[masking.Span]:
    """Every occurrence (any letter case) of a marker, as spans with the identity ground."""
    found: list[tuple[int, int]] = []
    for marker in markers:
        found += [(m.start(), m.end()) for m in re.finditer(re.escape(marker), text, re.I)]
    merged: list[list[int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [masking.Span(a, b, masking.IDENTITY_GROUND) for a, b in merged]


def _markers(items: list[OpenedItem]) -> list[str]:
    out = []
    for item in items:
        if item.kind == "identity":
            out += [str(v).strip() for v in item.content.values() if v and len(str(v).strip()) >= 3]
    return out


def _discloses(items: list[OpenedItem]) -> bool:
    return any(i.kind == "handover" and i.content.get("identity_disclosed") for i in items)


def _section(item: OpenedItem, number: int, markers: list[str]) -> pdf.Section:
    parts = []
    fields = disclosure.TEXT_FIELDS.get(item.kind, ("name", "contact"))
    for name in fields:
        text = str(item.content.get(name) or "")
        if text:
            shown = masking.render(text, identity_spans(text, markers))
            parts.append(f"{gettext(FIELD_LABELS.get(name, name))}:\n{shown}")
    label = KIND_LABELS.get(item.kind, N_("Reporter's identity"))
    return pdf.Section(f"{number}. {gettext(label)}", "\n\n".join(parts))


@dataclass(frozen=True)
class Built:
    data: bytes
    manifest_sha256: str


def build(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    item_ids: Sequence[str],
    recipient: str,
    reveal_identity: bool,
    blob_dir: Path,
    signing_key: bytes,
    locale: str,
    max_bytes: int,
) -> Built:
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    register_number, grounds = records.for_export(db, case_id=case.id)
    items = open_items(db, case_id=case.id, case_key=key, reporter_view=False)
    chosen = [i for i in items if i.id in set(item_ids) and i.kind != "exclusions"]
    to = casework.clean_text(recipient)[:300]
    if not chosen:
        raise PackageError("nothing-selected")
    if reveal_identity and not _discloses(items):
        raise PackageError("no-disclosing-handover")
    markers = [] if reveal_identity else _markers(items)
    if not reveal_identity:
        chosen = [i for i in chosen if i.kind != "identity"]
    files: dict[str, bytes] = {}
    with i18n.using(locale):
        markings = marking_labels(grounds)
        files[DOCUMENT] = _document(case.id, chosen, items, to, markers, register_number,
                                    markings)  # fmt: skip
    total = 0
    chosen_ids = {i.id for i in chosen}
    for number, item in enumerate(items, start=1):
        if item.id not in chosen_ids or item.kind != "attachment":
            continue
        row = db.exec(select(Attachment).where(Attachment.item_id == item.id)).first()
        if row is None:
            continue  # deleted by a redaction: the PDF lists it by its mark
        total += row.size
        if total > max_bytes:
            raise PackageError("too-large")
        plain = blobstore.read_in(
            db, blob_dir=blob_dir, blob_id=row.id, key=key, case_id=case.id, item_id=item.id
        )
        data = b"".join(plain)
        name = attachments.clean_name(str(item.content.get("name") or "file"))
        if markers:
            name = masking.render(name, identity_spans(name, markers))
        files[f"files/{number:03d}-{name}"] = data
    built = _zip(files, signing_key, reference=casework.reference(case.id), day=deadlines.today())
    audit.record(
        db, action="handover_package_exported", actor_id=user_id, case_id=case.id,
        detail=f"manifest sha256 {built.manifest_sha256}",
    )  # fmt: skip
    return built


def _document(
    case_id: str,
    chosen: list[OpenedItem],
    items: list[OpenedItem],
    recipient: str,
    markers: list[str],
    register_number: str | None,
    markings: Mapping[str, str],
) -> bytes:
    numbers = {item.id: n for n, item in enumerate(items, start=1)}
    sections = []
    for item in chosen:
        section = _section(item, numbers[item.id], markers)
        if item.id in markings:
            section = pdf.Section(section.heading, section.body,
                                  [(gettext("Secrecy marking"), markings[item.id])])  # fmt: skip
        sections.append(section)
    note = gettext(IDENTITY_MASKED) if markers else gettext(IDENTITY_SHOWN)
    return pdf.render(
        pdf.Document(
            title=gettext("Handover of information from a whistleblowing case"),
            facts=[
                (gettext("Case"), casework.reference(case_id)),
                (gettext("Register number"), register_number or "–"),
                (gettext("Recipient"), recipient),
                (gettext("Date"), deadlines.today().isoformat()),
            ],
            sections=sections,
            dated=deadlines.today(),
            footer=note,
        )
    )


IDENTITY_MASKED = N_(
    "The reporter's identity is masked (OSL 32 kap. 3 b §). The recipient must not try to find "
    "out who the reporter is (Lag 2021:890)."
)
IDENTITY_SHOWN = N_(
    "This handover reveals the reporter's identity; it was recorded as such and the reporter "
    "was told first, or the reason why not was recorded (5 kap. 8 § 4 Lag 2021:890)."
)


def _zip(files: dict[str, bytes], signing_key: bytes, *, reference: str, day: dt.date) -> Built:
    manifest = {
        "format": FORMAT,
        "case": reference,
        "created_on": day.isoformat(),
        "files": [{"name": n, "sha256": crypto.sha256_hex(d)} for n, d in sorted(files.items())],
    }
    raw = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
    signature = crypto.sign(signing_key, raw)
    buffer = io.BytesIO()
    stamp = (day.year, day.month, day.day, 0, 0, 0)  # the day only: no precise time in the zip
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(MANIFEST, raw), (SIGNATURE, signature.hex().encode()), *files.items()]:
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), data)
    return Built(buffer.getvalue(), crypto.sha256_hex(raw))


def verify(files: Mapping[str, bytes], public_key: bytes) -> list[str]:
    """Problems found in an unpacked package (empty when it is intact). Offline: needs only the
    files and the published public key."""
    raw, signature = files.get(MANIFEST), files.get(SIGNATURE)
    if raw is None or signature is None:
        return ["manifest or signature missing"]
    try:
        sig = bytes.fromhex(signature.decode().strip())
    except (UnicodeDecodeError, ValueError):
        return ["signature is not hex"]
    if not crypto.verify_signature(public_key, raw, sig):
        return ["the manifest's signature does not verify with this public key"]
    listed = json.loads(raw)["files"]
    problems = []
    for entry in listed:
        data = files.get(entry["name"])
        if data is None:
            problems.append(f"missing: {entry['name']}")
        elif not crypto.constant_time_equal(crypto.sha256_hex(data), entry["sha256"]):
            problems.append(f"changed: {entry['name']}")
    extra = set(files) - {e["name"] for e in listed} - {MANIFEST, SIGNATURE}
    problems += [f"not in the manifest: {name}" for name in sorted(extra)]
    return problems


def read_package(path: Path) -> dict[str, bytes]:
    """The files of a package, from its zip or from the directory it was unpacked into."""
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()
        }
    with zipfile.ZipFile(path) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}


def selectable(
    db: Session, *, case_id: str, user_id: str, private_key: bytes
) -> tuple[list[OpenedItem], bool]:
    """The items that can go into a package, and whether a disclosing handover is recorded."""
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    items = open_items(db, case_id=case.id, case_key=key, reporter_view=False)
    audit.record(db, action="case_opened", actor_id=user_id, case_id=case.id)
    return [i for i in items if i.kind != "exclusions"], _discloses(items)
