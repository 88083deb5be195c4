"""Retention (L18, Lag 2021:890 7 kap. 8 §, 8 kap. 4 §): what happens to a closed case when its
retention period has run out. docs/retention.md says what each policy keeps and why.

* ``private`` (a private employer): the case is deleted for good — every row that refers to it
  (content, wraps, sessions, reminders, attachments and their blobs…) and the case row. One
  anonymous statistics row stays (:func:`whistle.statistics.anonymous_row`).
* ``public`` (a public authority: the report is an official document and the archive act
  governs its disposal): the personal data the server can find without a key is removed — the
  sealed ``identity`` and ``exclusions`` items, the reporter's way back in (the lookup id and the
  reporter wrap) and live reporter sessions. Then, per ``disposal``, the case is kept for the
  archive (its investigators can still read it for a masked export) or disposed of exactly like
  a private case.

The policy is the case's unit's type (:func:`whistle.records.unit_type`): the unit's own, else
``WHISTLE_RETENTION_POLICY``. A case whose unit has neither is skipped, never guessed. When a
case is deleted its register entry stays (the register is kept), marked as disposed of.

The server holds no case key, so it cannot redact inside sealed content: it deletes whole rows.
Only closed cases are touched; the audit log records each deletion by case id, never content.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, Table, delete, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from whistle import audit, blobstore, crypto, records, statistics
from whistle.models import Attachment, Case, CaseItem, CaseStatistic, Unit, WebSession, metadata
from whistle.settings import Settings

log = logging.getLogger("whistle.retention")
POLICIES = ("private", "public")
DISPOSALS = ("archive", "dispose")
# Kinds of item that are personal data the server can remove without opening anything.
PERSONAL_KINDS = ("identity", "exclusions")
# Not swept by the schema walk: the audit log keeps the case id (a random number that no longer
# leads anywhere), since rewriting the hash chain would destroy what makes it trustworthy; the
# case row itself goes last, after everything that refers to it. The register entry stays
# without its case id (records.mark_disposed): the register outlives the documents.
SKIPPED_TABLES = frozenset({"audit_entries", "cases", "register_entries"})


class RetentionError(ValueError):
    """The policy is not configured, or a setting is out of range."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class RetentionAction:
    reference: str  # the case's short reference (casework.reference): never content
    closed_on: dt.date
    action: str  # deleted | personal_data_removed
    rows: int  # rows deleted (or that would be)
    blobs: int  # blob files deleted (or that would be)
    policy: str = ""  # the case's unit's type: private | public
    disposal_reference: str = ""  # the unit's disposal decision, for a public case


@dataclass(frozen=True)
class RetentionReport:
    policy: str  # the deployment's default ("" : only units with their own type)
    disposal: str
    cutoff: dt.date  # cases closed before this day are due
    dry_run: bool
    actions: tuple[RetentionAction, ...]
    skipped: int = 0  # due cases whose unit has no type and there is no default

    def lines(self) -> list[str]:
        verb = "would be" if self.dry_run else "was"
        head = f"retention ({self.policy or 'per unit'}"
        head += f", {self.disposal})" if self.policy != "private" else ")"
        out = [f"{head}: cases closed before {self.cutoff.isoformat()}"]
        for a in self.actions:
            what = "deleted" if a.action == "deleted" else "stripped of personal data"
            under = f" under {a.disposal_reference}" if a.disposal_reference else ""
            out.append(
                f"  case {a.reference} ({a.policy}, closed {a.closed_on.isoformat()}) {verb} "
                f"{what}{under}: {a.rows} rows, {a.blobs} files"
            )
        out.append(
            f"{len(self.actions)} cases" + (" (dry run: nothing changed)" if self.dry_run else "")
        )
        if self.skipped:
            out.append(
                f"{self.skipped} cases skipped: their unit has no type and no default is set"
            )
        return out


def delete_case_blobs(db: Session, *, blob_dir: Path, case_id: str, dry_run: bool) -> int:
    """Delete the attachment files of a case; return how many there were.

    A blob is named by its attachment row's random id (``blob_dir/<id>`` or its chunk rows, see
    :class:`whistle.models.Attachment`). Called before the rows go: afterwards nothing would name
    the files. If the transaction then fails, the case stays and the next run finishes it.
    """
    ids = db.exec(select(Attachment.id).where(col(Attachment.case_id) == case_id)).all()
    count = 0
    for blob_id in ids:
        if dry_run:
            count += blobstore.exists(db, blob_dir=blob_dir, blob_id=blob_id)
        else:
            # Chunk rows (WHISTLE_BLOB_STORE=database) go in this transaction, files at once.
            count += blobstore.delete_blob(db, blob_dir=blob_dir, blob_id=blob_id)
    return count


def _condition(table: Table, case_id: str, depth: int = 0) -> ColumnElement[bool] | None:
    """Which rows of ``table`` belong to the case: a ``case_id`` column, or a foreign key to
    a row that does. Found from the schema, so a table added later is covered without an edit."""
    if depth > 4:
        return None
    found: list[ColumnElement[bool]] = []
    if "case_id" in table.c:
        found.append(table.c.case_id == case_id)
    for fk in table.foreign_keys:
        parent = fk.column.table
        if parent is table or not isinstance(parent, Table):
            continue
        if parent.name == "cases":
            found.append(fk.parent == case_id)
            continue
        inner = _condition(parent, case_id, depth + 1)
        if inner is not None:
            found.append(fk.parent.in_(core_select(fk.column).where(inner)))
    return or_(*found) if found else None


def _count(db: Session, table: Table, where: ColumnElement[bool]) -> int:
    return int(db.exec(select(func.count()).select_from(table).where(where)).one())


def _delete_case(db: Session, *, case: Case, dry_run: bool) -> int:
    """Every row of the case, children first, then the case row."""
    rows = 0
    for table in reversed(metadata.sorted_tables):
        if table.name in SKIPPED_TABLES:
            continue
        where = _condition(table, case.id)
        if where is None:
            continue
        if dry_run:
            rows += _count(db, table, where)
        else:
            rows += db.exec(delete(table).where(where)).rowcount
    if not dry_run:
        db.exec(delete(Case).where(col(Case.id) == case.id))
    return rows + 1


def _remove_personal_data(db: Session, *, case: Case, dry_run: bool) -> int:
    items = col(CaseItem.kind).in_(PERSONAL_KINDS) & (col(CaseItem.case_id) == case.id)
    sessions = col(WebSession.case_id) == case.id
    rows = _count(db, metadata.tables["case_items"], items)
    rows += _count(db, metadata.tables["web_sessions"], sessions)
    if not dry_run:
        db.exec(delete(CaseItem).where(items))
        db.exec(delete(WebSession).where(sessions))
        # The case code is the reporter's credential: a random lookup id and an empty wrap
        # mean it opens nothing any more (the code itself was never stored).
        db.exec(
            update(Case)
            .where(col(Case.id) == case.id)
            .values(lookup_id=crypto.random_key(), reporter_wrap=b"")
        )
    return rows


def _has_personal_data(db: Session, case: Case) -> bool:
    if case.reporter_wrap:
        return True
    stmt = select(CaseItem.id).where(
        col(CaseItem.case_id) == case.id, col(CaseItem.kind).in_(PERSONAL_KINDS)
    )
    return db.exec(stmt).first() is not None


def _content_order(row: CaseStatistic) -> tuple[str, ...]:
    return (row.received_month.isoformat(), str(row.unit_id), str(row.category_id), row.id)


def due_cases(db: Session, *, cutoff: dt.date) -> list[Case]:
    """Closed cases whose closing day is before ``cutoff``. Open cases are never due."""
    stmt = (
        select(Case)
        .where(
            col(Case.status) == "closed",
            col(Case.closed_on).is_not(None),
            col(Case.closed_on) < cutoff,
        )
        .order_by(col(Case.closed_on), col(Case.id))
    )
    return list(db.exec(stmt).all())


def apply(
    db: Session,
    *,
    policy: str,
    disposal: str,
    retention_days: int,
    today: dt.date,
    dry_run: bool,
    blob_dir: Path,
) -> RetentionReport:
    """Apply each due case's policy (its unit's type, else ``policy``), or only say what
    would happen."""
    units = {u.id: u for u in db.exec(select(Unit)).all()}
    if policy not in POLICIES and (policy or not typed_units(units.values())):
        raise RetentionError("policy-not-set")
    if disposal not in DISPOSALS or retention_days < 1:
        raise RetentionError("invalid-setting")
    # Kept at most ``retention_days`` full days after the closing day.
    cutoff = today - dt.timedelta(days=retention_days)
    actions: list[RetentionAction] = []
    kept: list[CaseStatistic] = []
    skipped = 0
    for case in due_cases(db, cutoff=cutoff):
        unit = units.get(case.unit_id)
        case_policy = records.unit_type(unit, default=policy)
        if not case_policy:
            skipped += 1  # never guessed: see the module docstring
            continue
        row = statistics.anonymous_row(case, today=today)  # before the case row goes
        done = _retire(
            db,
            case=case,
            policy=case_policy,
            disposal=disposal,
            dry_run=dry_run,
            blob_dir=blob_dir,
            today=today,
            reference=unit.disposal_reference if unit and case_policy == "public" else "",
        )
        if done is None:
            continue  # archived earlier: nothing left to remove
        if done.action == "deleted":
            kept.append(row)
        actions.append(done)
    if not dry_run:
        # Inserted after all deletions and in an order of their own, so the rows' physical
        # order does not follow the audit entries' order of case ids.
        ordered: list[CaseStatistic] = sorted(kept, key=_content_order)
        db.add_all(ordered)
        db.flush()
    return RetentionReport(policy, disposal, cutoff, dry_run, tuple(actions), skipped)


def typed_units(units: Iterable[Unit]) -> bool:
    """Whether any unit has its own type (then retention can run without a default)."""
    return any(u.org_type in records.ORG_TYPES for u in units)


def _retire(
    db: Session,
    *,
    case: Case,
    policy: str,
    disposal: str,
    dry_run: bool,
    blob_dir: Path,
    today: dt.date,
    reference: str,
) -> RetentionAction | None:
    closed_on = case.closed_on
    assert closed_on is not None
    if policy == "private" or disposal == "dispose":
        if not dry_run:
            records.mark_disposed(db, case_id=case.id, today=today)
        blobs = delete_case_blobs(db, blob_dir=blob_dir, case_id=case.id, dry_run=dry_run)
        rows = _delete_case(db, case=case, dry_run=dry_run)
        action = "deleted"
    elif _has_personal_data(db, case):
        blobs, rows = 0, _remove_personal_data(db, case=case, dry_run=dry_run)
        action = "personal_data_removed"
    else:
        return None
    if not dry_run:
        audit.record(
            db,
            action=f"retention_{action}",
            case_id=case.id,
            detail=policy if policy == "private" else f"public, {disposal}",
        )
    return RetentionAction(case.id[:8].upper(), closed_on, action, rows, blobs, policy, reference)


def run_job(db: Session, settings: Settings, today: dt.date) -> None:
    """The background job (``whistle.jobs.EXTRA`` signature): apply the configured policy.

    Without a policy it only warns: guessing would either destroy official documents or keep
    personal data too long (docs/retention.md). The log gets counts, never case references.
    """
    if not settings.retention_policy and not typed_units(db.exec(select(Unit)).all()):
        log.warning("retention skipped: WHISTLE_RETENTION_POLICY is not set")
        return
    report = apply(
        db,
        policy=settings.retention_policy,
        disposal=settings.disposal,
        retention_days=settings.retention_days,
        today=today,
        dry_run=False,
        blob_dir=settings.blob_dir,
    )
    deleted = sum(1 for a in report.actions if a.action == "deleted")
    log.info(
        "retention: %d cases deleted, %d stripped, %d skipped (unit without a type)",
        deleted,
        len(report.actions) - deleted,
        report.skipped,
    )
