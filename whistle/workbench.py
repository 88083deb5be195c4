"""The investigator's workbench on a case: the lead, labels, tasks and the triage assessment.

What stays in clear is only what the inbox filters and the reminders need: who the lead is (a
user id, like the wraps), which of the function's labels a case carries (names from a short
list the investigators keep, never free text on a case), and each task's due date and whether
it is done. A task's text and the whole triage assessment (priority, risk of retaliation,
protective measures, checklist) are sealed case items, readable only with the case key.

Every function that acts on a case unlocks it first, so a non-reader gets
:class:`~whistle.cases.CaseNotFound`, the same as for a case that does not exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from whistle import audit, cases, casework, deadlines
from whistle.casework import CaseworkError, clean_text
from whistle.i18n import N_
from whistle.models import Case, CaseKeyWrap, CaseLabel, CaseTask, Label, User, utcnow

MAX_LABELS = 40
MAX_LABEL_NAME = 40
MAX_TASK = 2_000
MAX_OPEN_TASKS = 100
PRIORITIES = {
    "high": N_("High"),
    "normal": N_("Normal"),
    "low": N_("Low"),
}
RISKS = {
    "low": N_("Low"),
    "medium": N_("Medium"),
    "high": N_("High"),
}
# ISO 37002 "assess": a short list the function ticks off; the codes are sealed with the rest.
CHECKLIST = {
    "in_scope": N_("The report falls within the scope of the channel"),
    "no_conflict": N_("No reader of the case has a conflict of interest"),
    "identity": N_("What could identify the reporter has been considered"),
    "evidence": N_("Evidence is secured"),
    "authority": N_("Whether an authority or the police must be told has been considered"),
}


# --- the lead ----------------------------------------------------------------------------------


def set_lead(
    db: Session, *, case_id: str, user_id: str, private_key: bytes, target_id: str
) -> None:
    """Make ``target_id`` responsible for the case: oneself (take it) or a colleague who holds
    it (hand it on). ``target_id`` "" clears the lead. Only a reader can do either."""
    case, _key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    if target_id:
        holder = db.exec(
            select(User)
            .join(CaseKeyWrap, col(CaseKeyWrap.user_id) == col(User.id))
            .where(CaseKeyWrap.case_id == case.id, User.id == target_id, User.status == "active")
        ).first()
        if holder is None:
            raise CaseworkError("bad-lead")
    case.lead_id = target_id or None
    db.add(case)
    audit.record(
        db,
        action="lead_changed",
        actor_id=user_id,
        case_id=case.id,
        subject_id=target_id or None,
    )


def drop_lead(db: Session, *, case_id: str, user_id: str) -> None:
    """The lead lost access (recused, wrap deleted): the case has no lead any more."""
    case = db.get(Case, case_id)
    if case is not None and case.lead_id == user_id:
        case.lead_id = None
        db.add(case)


# --- labels ------------------------------------------------------------------------------------


def labels(db: Session, *, active_only: bool = False) -> list[Label]:
    stmt = select(Label).order_by(col(Label.name))
    if active_only:
        stmt = stmt.where(Label.active == True)  # noqa: E712
    return list(db.exec(stmt).all())


def _investigator(db: Session, user_id: str) -> User:
    user = db.get(User, user_id)
    if user is None or user.role != "investigator" or user.status != "active":
        raise CaseworkError("not-investigator")
    return user


def define_label(db: Session, *, user_id: str, name: str) -> Label:
    """Add a label to the function's list (any investigator; administrators cannot)."""
    _investigator(db, user_id)
    name = " ".join(name.split())
    if not name:
        raise CaseworkError("empty")
    if len(name) > MAX_LABEL_NAME:
        raise CaseworkError("label-too-long")
    if len(labels(db, active_only=True)) >= MAX_LABELS:
        raise CaseworkError("too-many-labels")
    taken = {label.name.casefold(): label for label in labels(db)}
    existing = taken.get(name.casefold())
    if existing is not None:
        if existing.active:
            raise CaseworkError("label-exists")
        existing.active = True  # defining a retired label again brings it back
        db.add(existing)
        label = existing
    else:
        label = Label(name=name, created_by=user_id)
        db.add(label)
        db.flush()
    audit.record(db, action="label_defined", actor_id=user_id, detail=str(label.id))
    return label


def retire_label(db: Session, *, user_id: str, label_id: str) -> None:
    """Take a label off the list: cases keep it (statistics), nobody can add it any more."""
    _investigator(db, user_id)
    label = (
        db.get(Label, int(label_id))
        if label_id.isascii() and label_id.isdigit() and len(label_id) < 10
        else None
    )
    if label is None or not label.active:
        raise CaseworkError("bad-label")
    label.active = False
    db.add(label)
    audit.record(db, action="label_retired", actor_id=user_id, detail=str(label.id))


def case_label_ids(db: Session, *, case_id: str) -> set[int]:
    return set(db.exec(select(CaseLabel.label_id).where(CaseLabel.case_id == case_id)).all())


def set_case_labels(
    db: Session, *, case_id: str, user_id: str, private_key: bytes, label_ids: list[str]
) -> None:
    """Replace the labels of a case. Retired labels already on it stay; new ones must be active."""
    case, _key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    active = {label.id for label in labels(db, active_only=True)}
    wanted: set[int] = set()
    for raw in label_ids:
        if not (raw.isascii() and raw.isdigit() and len(raw) < 10) or int(raw) not in active:
            raise CaseworkError("bad-label")
        wanted.add(int(raw))
    current = case_label_ids(db, case_id=case.id)
    kept_retired = current - active
    wanted |= kept_retired
    for label_id in current - wanted:
        db.exec(
            delete(CaseLabel).where(
                col(CaseLabel.case_id) == case.id, col(CaseLabel.label_id) == label_id
            )
        )
    for label_id in wanted - current:
        db.add(CaseLabel(case_id=case.id, label_id=label_id))
    audit.record(
        db, action="labels_changed", actor_id=user_id, case_id=case.id, detail=str(len(wanted))
    )


# --- tasks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    id: str
    text: str
    due_on: dt.date
    done_on: dt.date | None
    created_by: str | None


def _parse_day(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise CaseworkError("bad-date") from None


def refresh_task_due(db: Session, case: Case) -> None:
    db.flush()
    case.task_due = db.exec(
        select(func.min(CaseTask.due_on)).where(
            CaseTask.case_id == case.id,
            col(CaseTask.done_on).is_(None),
        )
    ).one()
    db.add(case)


def add_task(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    text: str,
    due_on: str,
    now: dt.datetime | None = None,
) -> None:
    """A task with a clear due date; its text is sealed like every other piece of content."""
    now = now or utcnow()
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    body = clean_text(text)
    if len(body) > MAX_TASK:
        raise CaseworkError("too-long")
    day = _parse_day(due_on)
    open_count = db.exec(
        select(func.count())
        .select_from(CaseTask)
        .where(CaseTask.case_id == case.id, col(CaseTask.done_on).is_(None))
    ).one()
    if open_count >= MAX_OPEN_TASKS:
        raise CaseworkError("too-many-tasks")
    item = cases.add_item(
        db,
        case=case,
        case_key=key,
        kind="task",
        author="investigator",
        author_user_id=user_id,
        content={"text": body},
        visible_to_reporter=False,
        now=now,
    )
    db.add(CaseTask(case_id=case.id, item_id=item.id, due_on=day, created_by=user_id))
    refresh_task_due(db, case)
    audit.record(db, action="task_added", actor_id=user_id, case_id=case.id, now=now)


def set_task_done(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    task_id: str,
    finished: bool,
    now: dt.datetime | None = None,
) -> None:
    now = now or utcnow()
    case, _key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    task = db.get(CaseTask, task_id[:32])
    if task is None or task.case_id != case.id:
        raise CaseworkError("bad-task")
    task.done_on = deadlines.today(now) if finished else None
    db.add(task)
    refresh_task_due(db, case)
    audit.record(
        db,
        action="task_done" if finished else "task_reopened",
        actor_id=user_id,
        case_id=case.id,
        now=now,
    )


def tasks_of(db: Session, *, case_id: str, items: list[cases.OpenedItem]) -> list[Task]:
    """The tasks of a case, open ones first by due date, with their opened text."""
    texts = {i.id: str(i.content.get("text", "")) for i in items if i.kind == "task"}
    rows = db.exec(select(CaseTask).where(CaseTask.case_id == case_id)).all()
    found = [
        Task(
            id=row.id,
            text=texts.get(row.item_id, ""),
            due_on=row.due_on,
            done_on=row.done_on,
            created_by=row.created_by,
        )
        for row in rows
    ]
    return sorted(found, key=lambda t: (t.done_on is not None, t.due_on, t.id))


# --- triage ------------------------------------------------------------------------------------


def assess(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    priority: str,
    risk: str,
    measures: str,
    checklist: list[str],
    now: dt.datetime | None = None,
) -> None:
    """Record the triage assessment as a new sealed version; the newest one counts."""
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    if priority not in PRIORITIES or risk not in RISKS:
        raise CaseworkError("bad-triage")
    if any(code not in CHECKLIST for code in checklist):
        raise CaseworkError("bad-triage")
    text = clean_text(measures, required=False)
    cases.add_item(
        db,
        case=case,
        case_key=key,
        kind="triage",
        author="investigator",
        author_user_id=user_id,
        content={
            "priority": priority,
            "risk": risk,
            "measures": text,
            "checklist": sorted(set(checklist)),
        },
        visible_to_reporter=False,
        now=now,
    )
    audit.record(db, action="triage_assessed", actor_id=user_id, case_id=case.id, now=now)


def latest_triage(items: list[cases.OpenedItem]) -> cases.OpenedItem | None:
    found = [i for i in items if i.kind == "triage"]
    return found[-1] if found else None


@dataclass(frozen=True)
class CaseBench:
    """What the case page shows of the workbench, from an already opened case."""

    lead_id: str | None
    labels: list[Label]  # active ones to choose from, and retired ones the case still has
    label_ids: set[int]
    tasks: list[Task]
    triage: cases.OpenedItem | None


def for_case(db: Session, *, case: Case, items: list[cases.OpenedItem]) -> CaseBench:
    label_ids = case_label_ids(db, case_id=case.id)
    return CaseBench(
        lead_id=case.lead_id,
        labels=[label for label in labels(db) if label.active or label.id in label_ids],
        label_ids=label_ids,
        tasks=tasks_of(db, case_id=case.id, items=items),
        triage=latest_triage(items),
    )
