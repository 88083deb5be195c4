"""The working copy: a whole case as one PDF, for the whistleblowing function's own file.

An investigator who reads the case downloads it: the facts of the case, the triage assessment,
the tasks, and every item of the thread as investigators see it (the report, the reporter's
identity when given, messages, internal notes, minutes, actions, handovers), with the attached
files listed by name, type and size (their bytes stay in the case). Unlike a handover package
(:mod:`whistle.package`) nothing is masked: the copy is for the function itself, so the page
before the download warns when it contains the reporter's identity.

The PDF is built in memory (:mod:`whistle.pdf`) and handed to the response; it is never
written to disk. The audit entry says only that a copy was made: not whether the case holds an
identity (that alone would tell that the report was not anonymous).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session, col, select

from whistle import audit, cases, casework, deadlines, duties, i18n, pdf, records, workbench
from whistle.cases import OUTCOMES, STATUS_LABELS, OpenedItem
from whistle.exports import FIELD_LABELS, KIND_LABELS
from whistle.i18n import N_, gettext
from whistle.models import Case, Category, Unit, User, utcnow

# Item kinds the thread of the copy prints; tasks and triage have their own sections.
OWN_SECTIONS = ("task", "triage")
NOTE = N_(
    "Working copy for the whistleblowing function's own file. It contains personal data and "
    "is covered by secrecy: keep it where only the function's investigators can reach it, and "
    "destroy it when it is no longer needed."
)
IDENTITY_WARNING = N_("This copy contains the reporter's identity.")


@dataclass(frozen=True)
class Preview:
    """What the page before the download says about the copy."""

    case_id: str
    reference: str
    items: int
    attachments: int
    has_identity: bool


def preview(db: Session, *, case_id: str, user_id: str, private_key: bytes) -> Preview:
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    items = cases.open_items(db, case_id=case.id, case_key=key, reporter_view=False)
    return Preview(
        case_id=case.id,
        reference=casework.reference(case.id),
        items=sum(1 for i in items if i.kind not in OWN_SECTIONS),
        attachments=sum(1 for i in items if i.kind == "attachment"),
        has_identity=any(i.kind == "identity" for i in items),
    )


def _label(table: Mapping[str, str], code: str) -> str:
    return gettext(table[code]) if code in table else code


def _fields(item: OpenedItem, names: Mapping[str, str]) -> list[tuple[str, str]]:
    """An item's content as (label, text) lines, for every kind the thread holds."""
    c = item.content
    kind = item.kind
    if kind == "identity":
        return [
            (gettext("Name"), str(c.get("name", ""))),
            (gettext("Contact"), str(c.get("contact") or "")),
        ]
    if kind == "exclusions":
        people = ", ".join(names.get(uid, "?") for uid in c.get("user_ids", []))
        return [(gettext("The reporter asked to keep these people out of the case:"), people)]
    if kind == "attachment":
        size = i18n.filesize(int(c.get("size") or 0))
        removed = ", ".join(str(r) for r in c.get("removed", []))
        found = [(gettext("File name"), str(c.get("name", ""))), (gettext("Size"), size)]
        if c.get("type"):
            found.append((gettext("Type"), str(c["type"])))
        if removed:
            found.append((gettext("Hidden data removed"), removed))
        return found
    if kind == "minutes":
        head = gettext("Minutes, version %(n)s", n=c.get("version", ""))
        if c.get("recording_consent"):
            head += " · " + gettext("the reporter consented to a recording")
        return [(head, str(c.get("text", "")))]
    if kind == "minutes_response":
        version = c.get("version", "")
        if c.get("approved"):
            return [(gettext("Approved version %(n)s of the minutes.", n=version), "")]
        return [
            (
                gettext("Corrections to version %(n)s of the minutes:", n=version),
                str(c.get("text", "")),
            )
        ]
    if kind == "action":
        head = f"{_label(duties.ACTION_TYPES, str(c.get('type', '')))} · {c.get('on', '')}"
        return [(head, str(c.get("text") or ""))]
    if kind == "handover":
        shown = [
            (gettext("Handed to"), str(c.get("recipient", ""))),
            (
                gettext("Legal ground"),
                _label(duties.LEGAL_GROUNDS, str(c.get("legal_ground", ""))),
            ),
            (gettext("What was handed on"), str(c.get("handed", ""))),
            (
                gettext("Reporter's identity"),
                gettext("Disclosed") if c.get("identity_disclosed") else gettext("Masked"),
            ),
        ]
        if c.get("no_notice_reason"):
            shown.append(
                (gettext("Why the reporter was not told first"), str(c["no_notice_reason"]))
            )
        return shown
    if kind == "report":
        shown = [
            (gettext(FIELD_LABELS[n]), str(c.get(n) or ""))
            for n in ("what", "when_where", "who", "how_known")
        ]
        shown.append(
            (
                gettext("Meeting in person"),
                gettext("Requested") if c.get("meeting") else gettext("Not requested"),
            )
        )
        return [(label, text) for label, text in shown if text]
    # message, note, acknowledgement, meeting, meeting_request, ack_withheld, feedback
    return [
        (gettext(FIELD_LABELS.get(name, name)), str(value))
        for name, value in c.items()
        if isinstance(value, str) and value
    ]


def _item_section(number: int, item: OpenedItem, names: Mapping[str, str]) -> pdf.Section:
    kind = gettext(KIND_LABELS.get(item.kind, N_("Reporter's identity")))
    if item.kind == "exclusions":
        kind = gettext("Conflict of interest")
    who = (
        gettext("Reporter")
        if item.author == "reporter"
        else names.get(item.author_user_id or "", gettext("Investigator"))
    )
    when = i18n.date(item.created_at.date())
    facts = [(gettext("From"), who), (gettext("Date"), when)]
    if not item.visible_to_reporter:
        facts.append((gettext("Shown to the reporter"), gettext("No")))
    body = "\n\n".join(
        f"{label}\n{text}" if text else label for label, text in _fields(item, names)
    )
    return pdf.Section(f"{number}. {kind}", body, facts)


def _triage_sections(items: list[OpenedItem], names: Mapping[str, str]) -> list[pdf.Section]:
    found = [i for i in items if i.kind == "triage"]
    if not found:
        return [pdf.Section(gettext("Triage assessment"), gettext("Not assessed yet."))]
    out = []
    for version, item in enumerate(reversed(found)):
        c = item.content
        checked = "; ".join(_label(workbench.CHECKLIST, code) for code in c.get("checklist", []))
        heading = gettext("Triage assessment") if version == 0 else gettext("Earlier assessment")
        facts = [
            (gettext("Priority"), _label(workbench.PRIORITIES, str(c.get("priority", "")))),
            (gettext("Risk of retaliation"), _label(workbench.RISKS, str(c.get("risk", "")))),
            (gettext("Assessed by"), names.get(item.author_user_id or "", gettext("Investigator"))),
            (gettext("Date"), i18n.date(item.created_at.date())),
            (gettext("Checked"), checked or "–"),
        ]
        body = f"{gettext('Protective measures')}\n{c.get('measures') or '–'}"
        out.append(pdf.Section(heading, body, facts))
    return out


def _tasks_section(tasks: list[workbench.Task], names: Mapping[str, str]) -> pdf.Section:
    facts = []
    for task in tasks:
        if task.done_on:
            state = gettext("done %(date)s", date=i18n.date(task.done_on))
        else:
            state = gettext("due %(date)s", date=i18n.date(task.due_on))
        who = names.get(task.created_by or "", "")
        facts.append((state, f"{task.text}" + (f" ({who})" if who else "")))
    return pdf.Section(gettext("Tasks"), "" if tasks else gettext("No tasks yet."), facts)


def _names(
    db: Session, items: list[OpenedItem], case: Case, tasks: list[workbench.Task]
) -> dict[str, str]:
    people = {i.author_user_id for i in items if i.author_user_id}
    people |= {
        uid for i in items if i.kind == "exclusions" for uid in i.content.get("user_ids", [])
    }
    people |= {t.created_by for t in tasks if t.created_by} | (
        {case.lead_id} if case.lead_id else set()
    )
    if not people:
        return {}
    return {u.id: u.display_name for u in db.exec(select(User).where(col(User.id).in_(people)))}


def _head(
    db: Session, case: Case, names: Mapping[str, str], register_number: str | None
) -> list[tuple[str, str]]:
    category = db.get(Category, case.category_id) if case.category_id is not None else None
    unit = db.get(Unit, case.unit_id) if case.unit_id is not None else None
    readers = ", ".join(u.display_name for u in casework._holders(db, case.id))
    status = _label(STATUS_LABELS, case.status)
    if case.outcome:
        status += " · " + _label(OUTCOMES, case.outcome)
    labels = workbench.case_label_ids(db, case_id=case.id)
    tags = ", ".join(t.name for t in workbench.labels(db) if t.id in labels)
    return [
        (gettext("Register number"), register_number or "–"),
        (
            gettext("Category"),
            i18n.localized(category) if category else gettext("Not known (triage)"),
        ),
        (
            gettext("Part of the organisation"),
            i18n.localized(unit) if unit else gettext("Not given"),
        ),
        (gettext("Status"), status),
        (gettext("Received"), i18n.date(case.received_on)),
        (gettext("Confirmation of receipt"), i18n.date(case.acknowledged_on) or "–"),
        (gettext("Feedback"), i18n.date(case.feedback_given_on) or "–"),
        (gettext("Lead"), names.get(case.lead_id or "", "–")),
        (gettext("Labels"), tags or "–"),
        (gettext("Who can read this case"), readers),
    ]


def working_copy(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    locale: str,
    now: dt.datetime | None = None,
) -> bytes:
    """The whole case as a PDF, in ``locale``; audited. Only a reader of the case can."""
    now = now or utcnow()
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    items = cases.open_items(db, case_id=case.id, case_key=key, reporter_view=False)
    register_number, _grounds = records.for_export(db, case_id=case.id)
    with i18n.using(locale):
        tasks = workbench.tasks_of(db, case_id=case.id, items=items)
        names = _names(db, items, case, tasks)
        maker = db.get(User, user_id)
        thread = [i for i in items if i.kind not in OWN_SECTIONS]
        sections = [*_triage_sections(items, names), _tasks_section(tasks, names)]
        sections += [_item_section(n, item, names) for n, item in enumerate(thread, start=1)]
        footer = gettext(NOTE)
        if any(i.kind == "identity" for i in items):
            footer = f"{gettext(IDENTITY_WARNING)} {footer}"
        made = gettext(
            "Made by %(name)s, %(date)s",
            name=maker.display_name if maker else "",
            date=i18n.date(deadlines.today(now)),
        )
        document = pdf.Document(
            title=gettext("Working copy of case %(ref)s", ref=casework.reference(case.id)),
            facts=[*_head(db, case, names, register_number), (gettext("Working copy"), made)],
            sections=sections,
            dated=deadlines.today(now),
            footer=footer,
        )
        data = pdf.render(document)
    audit.record(db, action="working_copy_exported", actor_id=user_id, case_id=case.id, now=now)
    return data
