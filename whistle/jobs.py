"""Background work: reminders, housekeeping, retention. Run by `whistle jobs` (cron) or inside
the server every few minutes; a lease in the database makes sure one process at a time runs it,
however many replicas there are.

Jobs hold no key that opens a case: they read only the clear metadata (dates, statuses, who
holds a wrap), so they can remind people and delete expired data, never read content.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from whistle import (
    access_requests,
    attachments,
    attempts,
    audit,
    crypto,
    deadlines,
    disclosure,
    leavers,
    notify,
    retention,
    security_keys,
    sessions,
)
from whistle.db import session_scope
from whistle.models import (
    Case,
    CaseItem,
    CaseKeyWrap,
    CaseTask,
    JobLease,
    Reminder,
    User,
    utcnow,
)
from whistle.settings import Settings

log = logging.getLogger("whistle.jobs")
LEASE = "jobs"
LEASE_TTL = dt.timedelta(minutes=10)
TASK_NOTICE = dt.timedelta(days=1)


def holder_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{crypto.random_token(4)}"


def acquire(db: Session, *, holder: str, now: dt.datetime | None = None) -> bool:
    """Take the lease if it is free or expired. Atomic on SQLite and PostgreSQL alike."""
    moment = now or utcnow()
    taken = db.exec(
        update(JobLease)
        .where(
            col(JobLease.name) == LEASE,
            (col(JobLease.expires_at) < moment) | (col(JobLease.holder) == holder),
        )
        .values(holder=holder, expires_at=moment + LEASE_TTL)
    )
    if taken.rowcount == 1:
        return True
    try:
        with db.begin_nested():
            db.add(JobLease(name=LEASE, holder=holder, expires_at=moment + LEASE_TTL))
        return True
    except IntegrityError:
        return False


# A released lease is expired at the epoch, not "a second ago": stamping it with the real clock
# would make it look held to a caller whose injected `now` lies before the real time.
RELEASED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def release(db: Session, *, holder: str) -> None:
    db.exec(
        update(JobLease)
        .where(col(JobLease.name) == LEASE, col(JobLease.holder) == holder)
        .values(expires_at=RELEASED)
    )


@dataclass(frozen=True)
class Due:
    case_id: str
    # new_case | reporter_wrote | ack_soon | feedback_soon | overdue | document_request | task
    # | meeting_soon | meeting_overdue
    kind: str
    due_on: dt.date
    to_lead: bool = False


def _last_reporter_day(db: Session) -> dict[str, dt.date]:
    rows = db.exec(
        select(CaseItem.case_id, func.max(CaseItem.created_at))
        .where(CaseItem.author == "reporter", CaseItem.kind != "report")
        .group_by(col(CaseItem.case_id))
    ).all()
    return {case_id: when.date() for case_id, when in rows if when is not None}


def due_reminders(db: Session, *, today: dt.date, settings: Settings) -> list[Due]:
    """Everything that deserves a reminder today. Sent ones are filtered out by the caller."""
    wrote = _last_reporter_day(db)
    out: list[Due] = []
    open_cases = db.exec(select(Case).where(col(Case.status) != "closed")).all()
    for case in open_cases:
        out.append(Due(case.id, "new_case", case.received_on))
        if case.awaiting_investigator and case.id in wrote:
            out.append(Due(case.id, "reporter_wrote", wrote[case.id]))
        ack_open = not (case.acknowledged_on or case.ack_waived or case.ack_withheld)
        if ack_open and 0 <= (case.ack_due - today).days <= settings.remind_ack_days:
            out.append(Due(case.id, "ack_soon", case.ack_due))
        if (
            case.feedback_given_on is None
            and 0 <= (case.feedback_due - today).days <= settings.remind_feedback_days
        ):
            out.append(Due(case.id, "feedback_soon", case.feedback_due))
        if case.next_due is not None and case.next_due < today:
            out.append(Due(case.id, "overdue", case.next_due, to_lead=True))
        # A meeting or a call the reporter asked for (WHISTLE_MEETING_DAYS), like the
        # acknowledgement: before the target, and to the lead once it has passed.
        if case.meeting_due is not None:
            left = (case.meeting_due - today).days
            if 0 <= left <= settings.remind_ack_days:
                out.append(Due(case.id, "meeting_soon", case.meeting_due))
            elif left < 0:
                out.append(Due(case.id, "meeting_overdue", case.meeting_due, to_lead=True))
    # A request for official documents is due the day it came in (skyndsamt): remind daily.
    for case_id, received in disclosure.due(db, today=today):
        out.append(Due(case_id, "document_request", received, to_lead=received < today))
    # Tasks (whistle/workbench.py): a reminder the day before, once per case and due date.
    tasks = db.exec(
        select(col(CaseTask.case_id), col(CaseTask.due_on))
        .join(Case, col(Case.id) == col(CaseTask.case_id))
        .where(
            col(CaseTask.done_on).is_(None),
            col(CaseTask.due_on) <= today + TASK_NOTICE,
            col(Case.status) != "closed",
        )
        .distinct()
    ).all()
    out.extend(Due(case_id, "task", due_on) for case_id, due_on in tasks)
    return out


def _holders(db: Session) -> dict[str, list[User]]:
    rows = db.exec(
        select(CaseKeyWrap.case_id, User)
        .join(User, col(User.id) == col(CaseKeyWrap.user_id))
        .where(User.status == "active")
    ).all()
    holders: dict[str, list[User]] = defaultdict(list)
    for case_id, user in rows:
        holders[case_id].append(user)
    return holders


def _claim(db: Session, due: Due, recipient: str) -> bool:
    """Record a reminder as sent; False when it already was (each fires once)."""
    try:
        with db.begin_nested():
            db.add(
                Reminder(case_id=due.case_id, kind=due.kind, due_on=due.due_on, recipient=recipient)
            )
        return True
    except IntegrityError:
        return False


@dataclass
class RunReport:
    ran: bool
    reminders: int = 0
    emails: list[str] = field(default_factory=list)
    webhook: bool = False
    sessions_purged: int = 0
    audit_head_sent: bool = False


def _remind_access_requests(
    db: Session, *, settings: Settings, today: dt.date, addresses: set[str]
) -> int:
    """Access requests (GDPR art. 15) belong to no case: their reminders are claimed on the row,
    to the investigator who recorded one, and to the function lead once it is overdue."""
    claimed = access_requests.claim_reminders(db, today=today)
    for user_id, overdue in claimed:
        recorder = db.get(User, user_id)
        if recorder is not None and recorder.email and recorder.status == "active":
            addresses.add(recorder.email)
        if overdue and settings.function_lead_email:
            addresses.add(settings.function_lead_email)
    return len(claimed)


def remind(db: Session, *, settings: Settings, today: dt.date, client: httpx.Client) -> RunReport:
    """Claim due reminders and deliver them, in the caller's transaction: if delivery fails,
    the claims roll back and the next run tries again (at least once, never silently lost)."""
    holders = _holders(db)
    addresses: set[str] = set()
    count = 0
    for due in due_reminders(db, today=today, settings=settings):
        for user in holders.get(due.case_id, []):
            if _claim(db, due, user.id):
                count += 1
                if user.email:
                    addresses.add(user.email)
        if due.to_lead and settings.function_lead_email and _claim(db, due, "lead"):
            count += 1
            addresses.add(settings.function_lead_email)
    count += _remind_access_requests(db, settings=settings, today=today, addresses=addresses)
    report = RunReport(ran=True, reminders=count, emails=sorted(addresses))
    if count:
        notify.send_email(settings, report.emails)
        notify.send_webhook(settings, client)
        report.webhook = bool(settings.webhook_url)
    return report


def sweep_blobs(db: Session, settings: Settings, _today: dt.date) -> None:
    """Delete sealed blob files that no row names (left by a crash mid-upload)."""
    attachments.sweep(db, blob_dir=settings.blob_dir)


def release_leavers(db: Session, _settings: Settings, _today: dt.date) -> None:
    """Delete deactivated investigators' wraps of cases an active colleague now reads."""
    leavers.release_all(db)


# Further jobs, each run in its own transaction with (db, settings, today).
EXTRA: tuple[Callable[[Session, Settings, dt.date], None], ...] = (
    retention.run_job,
    sweep_blobs,
    release_leavers,
)


AUDIT_HEAD = "audit-head"  # a JobLease row whose expiry is when the head is next sent


def _claim_slot(db: Session, *, name: str, now: dt.datetime, every: dt.timedelta) -> bool:
    """Take a schedule's slot if it is due (atomic, like :func:`acquire`): True at most once
    per ``every`` across all processes."""
    taken = db.exec(
        update(JobLease)
        .where(col(JobLease.name) == name, col(JobLease.expires_at) <= now)
        .values(holder="schedule", expires_at=now + every)
    )
    if taken.rowcount == 1:
        return True
    try:
        with db.begin_nested():
            db.add(JobLease(name=name, holder="schedule", expires_at=now + every))
        return True
    except IntegrityError:
        return False


def send_audit_head(
    db: Session, *, settings: Settings, client: httpx.Client, now: dt.datetime | None = None
) -> bool:
    """Every ``audit_head_hours``, send the audit log's head to the function's lead and the
    webhook, in the caller's transaction: a failed delivery rolls the slot back and the next
    run tries again. True when it was sent."""
    has_mail = bool(settings.smtp_host and settings.function_lead_email)
    if settings.audit_head_hours == 0 or not (has_mail or settings.webhook_url):
        return False
    every = dt.timedelta(hours=settings.audit_head_hours)
    if not _claim_slot(db, name=AUDIT_HEAD, now=now or utcnow(), every=every):
        return False
    result = audit.verify(db)
    broken_at = None if result.ok else result.first_bad_id
    notify.send_audit_head(settings, client, token=result.head.token(), broken_at=broken_at)
    return True


def run(
    engine: Engine,
    *,
    settings: Settings,
    client: httpx.Client,
    now: dt.datetime | None = None,
    holder: str | None = None,
) -> RunReport:
    """One round of every job, if this process gets the lease."""
    now = now or utcnow()
    me = holder or holder_id()
    with session_scope(engine) as db:
        if not acquire(db, holder=me, now=now):
            return RunReport(ran=False)
    try:
        today = deadlines.today(now)
        with session_scope(engine) as db:
            report = remind(db, settings=settings, today=today, client=client)
        with session_scope(engine) as db:
            report.sessions_purged = sessions.purge_expired(db, now=now)
            attempts.purge(db, older_than=dt.timedelta(days=1), now=now)
            security_keys.purge_challenges(db, now=now)
        for job in EXTRA:
            with session_scope(engine) as db:
                job(db, settings, today)
        with session_scope(engine) as db:
            report.audit_head_sent = send_audit_head(db, settings=settings, client=client, now=now)
        return report
    finally:
        with session_scope(engine) as db:
            release(db, holder=me)
