"""Public-sector records (OSL 5 kap., 32 kap. 3 b §; TF 2 kap.): unit types, the register and
secrecy markings.

A case in a *public* unit (an authority, or a company under OSL 2 kap. 3 §) is an official
document. When it is received it gets a register entry in the same transaction: a register
number (``WHISTLE_REGISTER_FORMAT``, a sequence per calendar year in Sweden, without gaps), a
neutral title, the date, the unit and the secrecy marking. The entry holds nothing of the
sender and nothing of the content — not even the category, whose name could point at a
workplace or a person. The number is counted, not derived from the case code or the case id,
so knowing one says nothing about the other.

Every item of such a case is marked secret by default (OSL 5 kap. 5 §) with the configured
ground; an investigator who holds the case may mark an item differently, chosen from
:data:`GROUNDS` — never free text, since markings are kept in clear next to the register.

The exports module calls :func:`register_entry` and :func:`markings` for its PDFs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from whistle import audit, casework, i18n
from whistle.i18n import N_
from whistle.models import Case, CaseItem, ItemMarking, RegisterCounter, RegisterEntry, Unit
from whistle.settings import DEFAULTS, Settings

ORG_TYPES = ("public", "private")
DEFAULT_TITLE = N_("Report to the whistleblowing function")
# Grounds an investigator may choose for an item (OSL, as a municipality's function meets
# them), besides the configured default. "" is "not secret".
GROUNDS = (
    "Sekretess enligt 32 kap. 3 b § OSL",
    "Sekretess enligt 39 kap. 3 § OSL",
    "Sekretess enligt 26 kap. 1 § OSL",
    "Sekretess enligt 21 kap. 1 § OSL",
    "Sekretess enligt 18 kap. 1 § OSL",
)
NOT_SECRET = ""


class RecordsError(casework.CaseworkError):
    """A marking cannot be set; ``code`` names why (:mod:`whistle.errors`)."""


@dataclass(frozen=True)
class RecordsConfig:
    """What the register needs from the settings (given to :func:`whistle.reports.submit`)."""

    default_type: str = ""  # WHISTLE_RETENTION_POLICY: the type of a unit that has none
    register_format: str = DEFAULTS["register_format"]
    title: str = ""  # "": DEFAULT_TITLE, in the reader's language
    secrecy_ground: str = GROUNDS[0]

    @classmethod
    def from_settings(cls, settings: Settings) -> RecordsConfig:
        return cls(
            default_type=settings.retention_policy,
            register_format=settings.register_format,
            title=settings.register_title.strip(),
            secrecy_ground=settings.secrecy_ground.strip(),
        )

    def grounds(self) -> tuple[str, ...]:
        """The grounds an investigator can choose, the configured default first."""
        return (self.secrecy_ground, *(g for g in GROUNDS if g != self.secrecy_ground))


@dataclass(frozen=True)
class Marking:
    ground: str  # "" : not secret
    marked_by: str | None  # a user id; None: the default marking given at registration
    marked_at: dt.datetime | dt.date  # registration date for the default marking

    @property
    def is_default(self) -> bool:
        return self.marked_by is None


def unit_type(unit: Unit | None, *, default: str) -> str:
    """``public``, ``private`` or "" (neither the unit nor the deployment says)."""
    if unit is not None and unit.org_type in ORG_TYPES:
        return unit.org_type
    return default if default in ORG_TYPES else ""


def next_sequence(db: Session, *, year: int) -> int:
    """The next register sequence number of ``year``, in the caller's transaction.

    The counter row is created if missing (``ON CONFLICT DO NOTHING``: two first cases of a
    year do not collide) and then incremented by one ``UPDATE … RETURNING``. The UPDATE takes
    the row lock (as ``SELECT … FOR UPDATE`` would) and holds it until the case's transaction
    ends, so a concurrent submission waits and then reads the committed value; if the case
    rolls back, so does the increment — no gaps, no duplicates. On SQLite every write
    transaction already holds the database lock from BEGIN IMMEDIATE (whistle/db.py).
    """
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.exec(insert(RegisterCounter).values(year=year, last_seq=0).on_conflict_do_nothing())
    stmt = (
        update(RegisterCounter)
        .where(col(RegisterCounter.year) == year)
        .values(last_seq=col(RegisterCounter.last_seq) + 1)
        .returning(col(RegisterCounter.last_seq))
    )
    return int(db.exec(stmt).scalar_one())


def register(db: Session, *, case: Case, config: RecordsConfig) -> RegisterEntry | None:
    """Write the register entry of a newly received case if its unit is public.

    Called by :func:`whistle.reports.submit` last, so the counter's lock is held as briefly
    as the transaction allows.
    """
    unit = db.get(Unit, case.unit_id) if case.unit_id is not None else None
    if unit_type(unit, default=config.default_type) != "public":
        return None
    year = case.received_on.year  # received_on is the date in Sweden (deadlines.today)
    seq = next_sequence(db, year=year)
    entry = RegisterEntry(
        case_id=case.id,
        year=year,
        seq=seq,
        number=config.register_format.format(year=year, seq=seq),
        title=config.title,
        received_on=case.received_on,
        unit_id=case.unit_id,
        marking=config.secrecy_ground,
    )
    db.add(entry)
    db.flush()
    return entry


def register_entry(db: Session, *, case_id: str) -> RegisterEntry | None:
    """The case's register entry, or None (not a public unit's case)."""
    return db.exec(select(RegisterEntry).where(col(RegisterEntry.case_id) == case_id)).first()


def for_export(db: Session, *, case_id: str) -> tuple[str | None, dict[str, str]]:
    """What every export of the case states (OSL 5 kap. 5 §): its register number and each item's
    secrecy ground ("" for an item marked as not secret). (None, {}) for an unregistered case."""
    entry = register_entry(db, case_id=case_id)
    if entry is None:
        return None, {}
    return entry.number, {item: m.ground for item, m in markings(db, case_id=case_id).items()}


def markings(db: Session, *, case_id: str) -> dict[str, Marking]:
    """The secrecy marking of every item of a registered case (empty for other cases): the
    newest investigator's marking of the item, else the entry's default."""
    return _markings_of(db, case_id=case_id, entry=register_entry(db, case_id=case_id))


def _markings_of(db: Session, *, case_id: str, entry: RegisterEntry | None) -> dict[str, Marking]:
    if entry is None:
        return {}
    default = Marking(ground=entry.marking, marked_by=None, marked_at=entry.received_on)
    found = {
        item_id: default
        for item_id in db.exec(select(CaseItem.id).where(col(CaseItem.case_id) == case_id))
    }
    rows = db.exec(
        select(ItemMarking).where(col(ItemMarking.case_id) == case_id).order_by(col(ItemMarking.id))
    )
    for row in rows:  # later rows replace earlier ones
        found[row.item_id] = Marking(row.ground, row.marked_by, row.marked_at)
    return found


def set_marking(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    item_id: str,
    ground: str,
    config: RecordsConfig,
    now: dt.datetime | None = None,
) -> None:
    """An investigator who holds the case marks one item (OSL 5 kap. 5 §); audited."""
    casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    if register_entry(db, case_id=case_id) is None:
        raise RecordsError("not-registered")
    item = db.get(CaseItem, item_id[:32])
    if item is None or item.case_id != case_id:
        raise RecordsError("bad-item")
    if ground != NOT_SECRET and ground not in config.grounds():
        raise RecordsError("bad-ground")
    row = ItemMarking(case_id=case_id, item_id=item.id, ground=ground, marked_by=user_id)
    if now is not None:
        row.marked_at = now
    db.add(row)
    db.flush()
    audit.record(
        db, action="marking_changed", actor_id=user_id, case_id=case_id, detail=f"item {item.seq}"
    )


@dataclass(frozen=True)
class CaseRecords:
    """What the investigator's case page shows of the records (register entry, markings)."""

    entry: RegisterEntry | None
    markings: dict[str, Marking]
    grounds: tuple[str, ...]


def case_records(db: Session, *, case_id: str, config: RecordsConfig) -> CaseRecords:
    """For a page that has already unlocked the case (this reads no content)."""
    entry = register_entry(db, case_id=case_id)  # read once for both
    return CaseRecords(entry, _markings_of(db, case_id=case_id, entry=entry), config.grounds())


def mark_disposed(db: Session, *, case_id: str, today: dt.date) -> None:
    """Retention disposed of the case: the register entry stays, without the case id."""
    db.exec(
        update(RegisterEntry)
        .where(col(RegisterEntry.case_id) == case_id)
        .values(case_id=None, disposed_on=today)
    )


# --- the registrar's view ----------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRow:
    number: str
    title: str  # "" : the default title (translate DEFAULT_TITLE)
    received_on: dt.date
    unit_sv: str
    unit_en: str
    marking: str
    disposed_on: dt.date | None


def years(db: Session) -> list[int]:
    return sorted((int(y) for y in db.exec(select(RegisterCounter.year)).all()), reverse=True)


def register_rows(db: Session, *, year: int) -> list[RegisterRow]:
    """The register of one year, in number order: only the entry's own columns and the unit's
    name — the registrar's query never touches a case row."""
    stmt = (
        select(RegisterEntry, Unit)
        .join(Unit, col(Unit.id) == col(RegisterEntry.unit_id), isouter=True)
        .where(col(RegisterEntry.year) == year)
        .order_by(col(RegisterEntry.seq))
    )
    return [
        RegisterRow(
            number=e.number,
            title=e.title,
            received_on=e.received_on,
            unit_sv=u.name_sv if u else "",
            unit_en=u.name_en if u else "",
            marking=e.marking,
            disposed_on=e.disposed_on,
        )
        for e, u in db.exec(stmt).all()
    ]


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with one of these as a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(
    rows: Iterable[RegisterRow], *, headers: list[str], default_title: str, locale: str
) -> str:
    """The register as CSV (headers and the default title already translated)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for r in rows:
        writer.writerow(
            [
                _cell(r.number),
                _cell(r.title or default_title),
                r.received_on.isoformat(),
                _cell(i18n.localized(r, "unit", locale)),
                _cell(r.marking),
                r.disposed_on.isoformat() if r.disposed_on else "",
            ]
        )
    return out.getvalue()
