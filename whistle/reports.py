"""The reporter's side of a case: filing a report, opening it with the case code, replying.

Nothing here sees a request or a client address. The case code's Argon2 derivation happens in
the caller's bounded worker (see whistle.derivation) before these functions touch the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from whistle import cases, crypto, deadlines, numbers, records, routing
from whistle.i18n import N_
from whistle.keys import Keys
from whistle.models import Case, CaseKeyWrap, Category, Unit, User, new_id, utcnow

if TYPE_CHECKING:
    from whistle import attachments, blobstore

MAX_TEXT = 20_000
MAX_SHORT = 5_000
MAX_NAME = 200

# Messages are msgids: the web layer translates them.
E_REQUIRED = N_("This field is required.")
E_TOO_LONG = N_("This text is too long.")
E_CHOICE = N_("Choose one of the options.")
E_NAME = N_("Give your name, or choose to report anonymously.")
E_OLD_MINUTES = N_("A newer version of the minutes has been posted. Read it and answer that.")
E_CLOSED = N_("This case is closed. You can file a new report if you have more to tell.")


class InvalidReport(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid report")
        self.errors = errors


class NoReaders(RuntimeError):
    """Nobody is designated for the category: the channel is misconfigured."""


UNKNOWN = "unknown"  # the "don't know" category: the report goes to the triage group


@dataclass(frozen=True)
class ReportInput:
    category_id: int | None
    unit_id: int | None
    what: str
    when_where: str = ""
    who: str = ""
    how_known: str = ""
    anonymous: bool = True
    name: str = ""
    contact: str = ""
    waive_ack: bool = False
    meeting: bool = False
    excluded: tuple[str, ...] = field(default_factory=tuple)


def _text(form: Mapping[str, str], name: str, limit: int, errors: dict[str, str]) -> str:
    value = (form.get(name) or "").replace("\r\n", "\n").strip()
    if len(value) > limit:
        errors[name] = E_TOO_LONG
    return value


def parse_report(
    form: Mapping[str, str],
    *,
    categories: list[Category],
    units: list[Unit],
    excluded: tuple[str, ...] = (),
    spoken: bool = False,
) -> ReportInput:
    """Validate the report form; raise :class:`InvalidReport` with one message per field.

    ``spoken``: a voice message came with it, so it is complete without "what happened"."""
    errors: dict[str, str] = {}
    category_ids = {c.id for c in categories}
    unit_ids = {u.id for u in units}
    category_id: int | None = None
    raw_category = form.get("category", "")
    chosen_category = numbers.parse(raw_category)
    if chosen_category is not None and chosen_category in category_ids:
        category_id = chosen_category
    elif raw_category != UNKNOWN:
        errors["category"] = E_CHOICE
    unit_id: int | None = None
    raw_unit = form.get("unit", "")
    if raw_unit:
        chosen_unit = numbers.parse(raw_unit)
        if chosen_unit is not None and chosen_unit in unit_ids:
            unit_id = chosen_unit
        else:
            errors["unit"] = E_CHOICE
    what = _text(form, "what", MAX_TEXT, errors)
    # A spoken report, or a wish to meet or talk (a contact wish), needs no description.
    if not what and "what" not in errors and not spoken and form.get("meeting") != "yes":
        errors["what"] = E_REQUIRED
    when_where = _text(form, "when_where", MAX_SHORT, errors)
    who = _text(form, "who", MAX_SHORT, errors)
    how_known = _text(form, "how_known", MAX_SHORT, errors)
    mode = form.get("mode", "")
    if mode not in {"anonymous", "confidential"}:
        errors["mode"] = E_CHOICE
    name = _text(form, "name", MAX_NAME, errors)
    contact = _text(form, "contact", MAX_NAME, errors)
    if mode == "confidential" and not name and "name" not in errors:
        errors["name"] = E_NAME
    if errors:
        raise InvalidReport(errors)
    anonymous = mode == "anonymous"
    return ReportInput(
        category_id=category_id,
        unit_id=unit_id,
        what=what,
        when_where=when_where,
        who=who,
        how_known=how_known,
        anonymous=anonymous,
        # An anonymous reporter's name is not kept even if typed before switching mode.
        name="" if anonymous else name,
        contact="" if anonymous else contact,
        waive_ack=form.get("waive_ack") == "yes",
        meeting=form.get("meeting") == "yes",
        excluded=tuple(sorted(set(excluded)))[:50],
    )


def submit(
    db: Session,
    *,
    report: ReportInput,
    access: crypto.CaseAccess,
    keys: Keys,
    now: dt.datetime | None = None,
    channel: str = "web",
    taken_by: User | None = None,
    case_key: bytes | None = None,
    case_id: str | None = None,
    records_config: records.RecordsConfig | None = None,
    meeting_days: int = 14,
) -> str:
    """Store a new case sealed under a fresh case key; return its id. A wish to meet gets its
    target date ``meeting_days`` ahead.

    ``case_key`` and ``case_id`` are given when attachments were sealed to them while the
    form streamed in (``crypto.random_key()`` and ``models.new_id()``, made before reading).

    ``taken_by`` is the investigator who registered an oral report: they heard it, so they
    read it too, whatever the route says (unless the reporter excluded them).

    The case key is wrapped to the reporter key, to each designated investigator and, when
    configured, to the offline continuity key. All of it is one transaction, and so is the
    register entry of a case in a public unit (:func:`whistle.records.register`), written last.
    """
    now = now or utcnow()
    route = routing.recipients(
        db, category_id=report.category_id, unit_id=report.unit_id, excluded=report.excluded
    )
    readers = route.readers
    if taken_by is not None and taken_by.id not in report.excluded:
        readers = [taken_by, *(r for r in readers if r.id != taken_by.id)]
    if not readers:
        raise NoReaders()
    received = deadlines.today(now)
    case_key = case_key or crypto.random_key()
    case = Case(
        id=case_id or new_id(),
        lookup_id=access.lookup_id,
        unit_id=report.unit_id,
        category_id=report.category_id,
        triaged=route.to_triage,
        channel=channel,
        identity_given=not report.anonymous,
        received_on=received,
        ack_due=deadlines.ack_due(received),
        ack_waived=report.waive_ack,
        feedback_due=deadlines.feedback_due(received, None),
        reporter_wrap=b"",
        meeting_due=received + dt.timedelta(days=meeting_days) if report.meeting else None,
    )
    case.reporter_wrap = crypto.seal(
        access.reporter_key, case_key, purpose="reporter-wrap", case_id=case.id, item_id="reporter"
    )
    if keys.continuity_public is not None:
        case.continuity_wrap = crypto.wrap_key(
            case_key, keys.continuity_public, case_id=case.id, recipient_id="continuity"
        )
    cases.refresh_next_due(case)
    db.add(case)
    try:
        db.flush()
    except IntegrityError:
        raise RuntimeError("lookup id collision") from None  # 2^-256: a bug, not bad luck
    for reader in readers:
        assert reader.public_key is not None
        db.add(
            CaseKeyWrap(
                case_id=case.id,
                user_id=reader.id,
                wrapped=crypto.wrap_key(
                    case_key, reader.public_key, case_id=case.id, recipient_id=reader.id
                ),
            )
        )
    cases.add_item(
        db,
        case=case,
        case_key=case_key,
        kind="report",
        author="reporter",
        content={
            "what": report.what,
            "when_where": report.when_where,
            "who": report.who,
            "how_known": report.how_known,
            "meeting": report.meeting,
            "waive_ack": report.waive_ack,
        },
        now=now,
    )
    if report.excluded:
        # Who the reporter kept out is case content (it hints at whom they suspect): sealed,
        # and checked again whenever an investigator grants access to a colleague.
        cases.add_item(
            db,
            case=case,
            case_key=case_key,
            kind="exclusions",
            author="reporter",
            content={"user_ids": list(report.excluded)},
            visible_to_reporter=False,
            now=now,
        )
    if not report.anonymous:
        # The identity is its own item so it can be shown, masked or handed on separately.
        cases.add_item(
            db,
            case=case,
            case_key=case_key,
            kind="identity",
            author="reporter",
            content={"name": report.name, "contact": report.contact},
            now=now,
        )
    records.register(db, case=case, config=records_config or records.RecordsConfig())
    return case.id


def file_report(
    db: Session,
    *,
    form: Mapping[str, str],
    excluded: tuple[str, ...],
    access: crypto.CaseAccess,
    keys: Keys,
    case_key: bytes,
    case_id: str,
    files: list[attachments.Prepared],
    batch: blobstore.Batch,
    max_case_bytes: int,
    records_config: records.RecordsConfig | None = None,
    meeting_days: int = 14,
) -> str:
    """File a written report and its files as one case; return its id. The web twin of
    :func:`whistle.oral.register`.

    ``access`` is derived from the new case code before this runs, outside the transaction
    (a derivation inside it would hold SQLite's write lock throughout); ``case_key`` and
    ``case_id`` are the ones the files were sealed to while the form streamed in. A voice
    message that was re-encoded stands in for "what happened" (:func:`parse_report`)."""
    # attachments builds on this module (a reporter's reply), so it is imported here.
    from whistle import attachments

    report = parse_report(
        form,
        categories=routing.active_categories(db),
        units=routing.active_units(db),
        excluded=excluded,
        spoken=any(f.status in attachments.VOICE_STATUSES for f in files),
    )
    now = utcnow()  # one reading for the case and its files: they must not straddle midnight
    case_id = submit(
        db,
        report=report,
        access=access,
        keys=keys,
        case_key=case_key,
        case_id=case_id,
        now=now,
        records_config=records_config,
        meeting_days=meeting_days,
    )
    case = db.get(Case, case_id)
    assert case is not None
    attachments.attach(
        db,
        case=case,
        case_key=case_key,
        files=files,
        batch=batch,
        author="reporter",
        max_case_bytes=max_case_bytes,
        now=now,
    )
    return case_id


def open_as_reporter(db: Session, *, access: crypto.CaseAccess) -> tuple[str, bytes]:
    """Find the case by lookup id and unwrap its key with the reporter key."""
    case = db.exec(select(Case).where(Case.lookup_id == access.lookup_id)).first()
    if case is None:
        raise cases.CaseNotFound()
    try:
        case_key = crypto.open_sealed(
            access.reporter_key,
            case.reporter_wrap,
            purpose="reporter-wrap",
            case_id=case.id,
            item_id="reporter",
        )
    except crypto.CryptoError:
        raise cases.CaseNotFound() from None
    return case.id, case_key


def reply(
    db: Session, *, case_id: str, case_key: bytes, text: str, now: dt.datetime | None = None
) -> None:
    """A message from the reporter in the case thread."""
    check_own_code(db, case_id=case_id)
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidReport({"text": E_REQUIRED})
    if len(text) > MAX_TEXT:
        raise InvalidReport({"text": E_TOO_LONG})
    case = db.get(Case, case_id)
    if case is None:
        raise cases.CaseNotFound()
    if case.status == "closed":
        raise InvalidReport({"text": E_CLOSED})
    cases.add_item(
        db,
        case=case,
        case_key=case_key,
        kind="message",
        author="reporter",
        content={"text": text},
        now=now,
    )
    case.awaiting_investigator = True
    db.add(case)


class CodeHandedOver(Exception):
    """The case is still opened with the code an investigator handed over: the reporter must
    take their own code first (nothing may be done in their name with a code someone saw)."""


def replace_code(
    db: Session,
    *,
    case_id: str,
    case_key: bytes,
    access: crypto.CaseAccess,
    now: dt.datetime | None = None,
) -> None:
    """Replace the code handed over at a meeting by the reporter's own (derived from a new code
    before the transaction): a new lookup id and a new reporter wrap of the same case key, so
    the old code finds nothing any more. Recorded in the thread, so approvals before it are
    labelled as made with the handed-over code."""
    case = db.get(Case, case_id)
    if case is None:
        raise cases.CaseNotFound()
    if not case.code_handed_over:
        raise cases.CaseNotFound()  # a code of one's own is not replaced (one per case)
    case.lookup_id = access.lookup_id
    case.reporter_wrap = crypto.seal(
        access.reporter_key, case_key, purpose="reporter-wrap", case_id=case.id, item_id="reporter"
    )
    case.code_handed_over = False
    db.add(case)
    try:
        db.flush()
    except IntegrityError:
        raise RuntimeError("lookup id collision") from None
    cases.add_item(
        db, case=case, case_key=case_key, kind="own_code", author="reporter", content={}, now=now
    )


def check_own_code(db: Session, *, case_id: str) -> None:
    """Raise :class:`CodeHandedOver` while the case opens with a code an investigator saw."""
    case = db.get(Case, case_id)
    if case is not None and case.code_handed_over:
        raise CodeHandedOver()


def handed_approvals(items: list[cases.OpenedItem], *, channel: str) -> set[str]:
    """The approvals of minutes made with the code handed over at the meeting: in an oral case,
    those before the reporter took their own code (none can be made after: respond_to_minutes
    refuses while the code is the handed one, and approvals before this rule existed were)."""
    if channel != "oral":
        return set()
    found: set[str] = set()
    for item in items:
        if item.kind == "own_code":
            break
        if item.kind == "minutes_response" and item.content.get("approved"):
            found.add(item.id)
    return found


def respond_to_minutes(
    db: Session,
    *,
    case_id: str,
    case_key: bytes,
    version: int,
    approved: bool,
    text: str,
    now: dt.datetime | None = None,
) -> None:
    """The reporter approves the minutes of their oral report, or asks for corrections
    (8 kap. 3 §). Only the newest version can be answered; a correction leads to a new version.
    """
    case = db.get(Case, case_id)
    if case is None:
        raise cases.CaseNotFound()
    if case.code_handed_over:
        raise CodeHandedOver()
    items = cases.open_items(db, case_id=case_id, case_key=case_key, reporter_view=True)
    versions = [i.content["version"] for i in items if i.kind == "minutes"]
    if not versions or version != max(versions):
        raise InvalidReport({"minutes": E_OLD_MINUTES})
    text = text.replace("\r\n", "\n").strip()
    if not approved and not text:
        raise InvalidReport({"corrections": E_REQUIRED})
    if len(text) > MAX_TEXT:
        raise InvalidReport({"corrections": E_TOO_LONG})
    cases.add_item(
        db,
        case=case,
        case_key=case_key,
        kind="minutes_response",
        author="reporter",
        content={"version": version, "approved": approved, "text": "" if approved else text},
        now=now,
    )
    case.awaiting_investigator = True
    db.add(case)


def request_meeting(
    db: Session,
    *,
    case_id: str,
    case_key: bytes,
    text: str,
    meeting_days: int = 14,
    now: dt.datetime | None = None,
) -> None:
    """The reporter asks for a physical meeting (5 kap. 8 § 1); the investigator proposes times."""
    case = db.get(Case, case_id)
    if case is None:
        raise cases.CaseNotFound()
    if case.code_handed_over:
        raise CodeHandedOver()
    if case.status == "closed":
        raise InvalidReport({"meeting": E_CLOSED})
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_SHORT:
        raise InvalidReport({"meeting": E_TOO_LONG})
    cases.add_item(
        db,
        case=case,
        case_key=case_key,
        kind="meeting_request",
        author="reporter",
        content={"text": text},
        now=now,
    )
    if case.meeting_due is None:
        case.meeting_due = deadlines.today(now) + dt.timedelta(days=meeting_days)
    case.awaiting_investigator = True
    db.add(case)
