"""The law's follow-up duties on a case (Lag 2021:890 5 kap. 8 §, 10 §; 8 kap. 1–3 §§).

Each record is a sealed case item, like every other piece of content: a withheld
acknowledgement and its reason, feedback (measures and reasons), the outcome at closing, meeting
proposals, minutes of an oral report and their versions, handovers of information, and the
structured action log. What must stay in clear for deadlines and statistics is a flag or a fixed
code on the case row, never text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session

from whistle import audit, cases, casework, deadlines
from whistle.casework import CaseworkError, clean_text
from whistle.i18n import N_
from whistle.models import Case, utcnow

ACTION_TYPES = {
    "investigation_opened": N_("Internal investigation opened"),
    "police_report": N_("Police report filed"),
    "threat_assessment": N_("Threat assessment made"),
    "employee_suspended": N_("Employee suspended (with HR support)"),
    "employee_dismissed": N_("Employee dismissed (with HR support)"),
    "work_environment_review": N_("Work-environment review"),
    "security_contacted": N_("Security department contacted"),
    "recruitment_reviewed": N_("Recruitment reviewed"),
    "lessons_learned": N_("Lessons learned"),
    "other": N_("Other measure"),
}
LEGAL_GROUNDS = {
    "further_measures": N_("For further measures (5 kap. 10 § Lag 2021:890)"),
    "authority_request": N_("Request from an authority under law"),
    "criminal_investigation": N_("Criminal investigation (police or prosecutor)"),
    "court_order": N_("Court order"),
}


def _record(
    db: Session,
    *,
    case: Case,
    key: bytes,
    user_id: str,
    kind: str,
    content: dict[str, Any],
    visible: bool,
    now: dt.datetime | None,
) -> None:
    cases.add_item(
        db,
        case=case,
        case_key=key,
        kind=kind,
        author="investigator",
        author_user_id=user_id,
        content=content,
        visible_to_reporter=visible,
        now=now,
    )


def withhold_acknowledgement(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    reason: str,
    now: dt.datetime | None = None,
) -> None:
    """Record that no acknowledgement is sent because it could reveal the reporter (5:8 2)."""
    now = now or utcnow()
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    body = clean_text(reason)
    if case.acknowledged_on is not None:
        raise CaseworkError("already-acknowledged")
    _record(
        db,
        case=case,
        key=key,
        user_id=user_id,
        kind="ack_withheld",
        content={"reason": body},
        visible=False,
        now=now,
    )
    case.ack_withheld = True
    # Without an acknowledgement through no fault of the reporter, feedback runs from day 7.
    case.feedback_due = deadlines.feedback_due(case.received_on, None)
    cases.refresh_next_due(case)
    db.add(case)
    audit.record(db, action="acknowledgement_withheld", actor_id=user_id, case_id=case.id, now=now)


def give_feedback(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    measures: str,
    reasons: str,
    now: dt.datetime | None = None,
) -> None:
    """Feedback on measures taken and the reasons for them (5 kap. 8 § 3)."""
    now = now or utcnow()
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    if case.status == "closed":
        raise CaseworkError("closed")
    content = {"measures": clean_text(measures), "reasons": clean_text(reasons)}
    _record(
        db,
        case=case,
        key=key,
        user_id=user_id,
        kind="feedback",
        content=content,
        visible=True,
        now=now,
    )
    case.feedback_given_on = case.feedback_given_on or deadlines.today(now)
    if case.status in deadlines.OPEN_STATUSES:
        case.status = "feedback_given"
    case.awaiting_investigator = False
    cases.refresh_next_due(case)
    db.add(case)
    audit.record(db, action="feedback_sent", actor_id=user_id, case_id=case.id, now=now)


def propose_meeting(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    proposal: str,
    now: dt.datetime | None = None,
) -> None:
    """Times and place for a physical meeting, in the thread (5 kap. 8 § 1)."""
    now = now or utcnow()
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    _record(
        db,
        case=case,
        key=key,
        user_id=user_id,
        kind="meeting",
        content={"text": clean_text(proposal)},
        visible=True,
        now=now,
    )
    case.meeting_due = None  # the wish to meet is answered: no more reminders
    case.awaiting_investigator = False
    db.add(case)
    audit.record(db, action="message_sent", actor_id=user_id, case_id=case.id, now=now)


def post_minutes(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    text: str,
    recording_consent: bool = False,
    now: dt.datetime | None = None,
) -> int:
    """A new version of the minutes of an oral report, for the reporter to check (8 kap. 3 §).

    Every version is kept; the reporter approves or corrects the newest one.
    """
    now = now or utcnow()
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    items = cases.open_items(db, case_id=case.id, case_key=key, reporter_view=False)
    version = 1 + sum(1 for i in items if i.kind == "minutes")
    _record(
        db,
        case=case,
        key=key,
        user_id=user_id,
        kind="minutes",
        content={
            "version": version,
            "text": clean_text(text),
            "recording_consent": recording_consent,
        },
        visible=True,
        now=now,
    )
    db.add(case)
    audit.record(
        db,
        action="minutes_posted",
        actor_id=user_id,
        case_id=case.id,
        detail=f"version {version}",
        now=now,
    )
    return version


def record_action(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    action_type: str,
    on: str,
    text: str,
    now: dt.datetime | None = None,
) -> None:
    """One line of the structured action log; the free text is sealed like all content."""
    now = now or utcnow()
    if action_type not in ACTION_TYPES:
        raise CaseworkError("bad-action")
    try:
        day = dt.date.fromisoformat(on) if on else deadlines.today(now)
    except ValueError:
        raise CaseworkError("bad-date") from None
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    _record(
        db,
        case=case,
        key=key,
        user_id=user_id,
        kind="action",
        content={
            "type": action_type,
            "on": day.isoformat(),
            "text": clean_text(text, required=False),
        },
        visible=False,
        now=now,
    )
    audit.record(db, action="action_recorded", actor_id=user_id, case_id=case.id, now=now)


def record_handover(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    recipient: str,
    legal_ground: str,
    handed: str,
    identity_disclosed: bool,
    notify_reporter: bool,
    no_notice_reason: str,
    notice_text: str,
    now: dt.datetime | None = None,
) -> None:
    """Information handed to another unit or authority (5 kap. 10 §, 7 kap. 4 §).

    Identity is masked unless chosen otherwise. Before identifying information is handed on,
    the reporter is told (5 kap. 8 § 4), unless the investigator records why that would
    obstruct the follow-up.
    """
    now = now or utcnow()
    if legal_ground not in LEGAL_GROUNDS:
        raise CaseworkError("bad-ground")
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    content = {
        "recipient": clean_text(recipient),
        "legal_ground": legal_ground,
        "handed": clean_text(handed),
        "identity_disclosed": identity_disclosed,
        "reporter_notified": identity_disclosed and notify_reporter,
        "no_notice_reason": "",
    }
    if identity_disclosed and not notify_reporter:
        content["no_notice_reason"] = clean_text(no_notice_reason)
    if identity_disclosed and notify_reporter:
        _record(
            db,
            case=case,
            key=key,
            user_id=user_id,
            kind="message",
            content={"text": clean_text(notice_text)},
            visible=True,
            now=now,
        )
    _record(
        db,
        case=case,
        key=key,
        user_id=user_id,
        kind="handover",
        content=content,
        visible=False,
        now=now,
    )
    audit.record(
        db,
        action="handover_recorded",
        actor_id=user_id,
        case_id=case.id,
        detail="identity disclosed" if identity_disclosed else "identity masked",
        now=now,
    )
