"""What goes into an exported PDF: the released and masked items of a case and the decision.

Built from decisions made with :mod:`whistle.disclosure`: every text is rendered by
:func:`whistle.masking.render` from the original and the decided spans, never taken from a form.
Withheld items appear only in the decision record, by number and ground; the reporter's
identity does not appear at all, not even as a withheld item (that one exists would tell that
the report was not anonymous). ``register_number`` and ``markings`` (item id -> secrecy
marking) come from the register entry where the organisation keeps one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from whistle import audit, disclosure, i18n, masking, pdf, records
from whistle.cases import OpenedItem
from whistle.i18n import N_, gettext

KIND_LABELS = {
    "report": N_("Report"),
    "message": N_("Message"),
    "note": N_("Internal note"),
    "acknowledgement": N_("Confirmation of receipt"),
    "feedback": N_("Feedback"),
    "ack_withheld": N_("Confirmation withheld"),
    "meeting": N_("Meeting proposal"),
    "meeting_request": N_("Meeting request"),
    "minutes": N_("Minutes"),
    "minutes_response": N_("Answer to the minutes"),
    "action": N_("Action"),
    "handover": N_("Handover"),
    "attachment": N_("File"),
}
FIELD_LABELS = {
    "what": N_("What happened"),
    "when_where": N_("When and where"),
    "who": N_("Who is involved"),
    "how_known": N_("How the reporter knows"),
    "text": N_("Text"),
    "measures": N_("Measures taken"),
    "reasons": N_("Reasons"),
    "reason": N_("Reason given"),
    "recipient": N_("Recipient"),
    "handed": N_("What was handed on"),
    "no_notice_reason": N_("Why the reporter was not told first"),
    "name": N_("File name"),
}
DECISION_LABELS = {
    "release": N_("Released"),
    "mask": N_("Released with masking"),
    "withhold": N_("Withheld"),
    "masked_outside": N_("Released after masking outside the system"),
}
IDENTITY_NOTE = N_(
    "Information that can reveal the reporter's identity is never released (OSL 32 kap. 3 b §)."
)
APPEAL = N_(
    "How to appeal: the decision to withhold or mask can be appealed to the administrative "
    "court of appeal (kammarrätten). Send the appeal in writing to %(organisation)s within "
    "three weeks from the day you received this decision; say which decision you appeal and "
    "what change you ask for."
)


def _ground(code: str) -> str:
    return f"{masking.GROUNDS[code][0]}: {gettext(masking.GROUNDS[code][1])}"


def _item_body(item: OpenedItem, spans: Mapping[str, list[list[Any]]]) -> str:
    parts = []
    for name in disclosure.TEXT_FIELDS.get(item.kind, ()):
        original = str(item.content.get(name) or "")
        if not original:
            continue
        found = [masking.Span(int(a), int(b), str(g)) for a, b, g in spans.get(name, [])]
        parts.append(f"{gettext(FIELD_LABELS[name])}:\n{masking.render(original, found)}")
    return "\n\n".join(parts)


def decision_document(
    *,
    request: disclosure.Request,
    items: list[OpenedItem],
    decided_by: str,
    organisation: str,
    register_number: str | None,
    markings: Mapping[str, str],
) -> pdf.Document:
    assert request.decision is not None
    decided: dict[str, dict[str, Any]] = request.decision["items"]
    sections: list[pdf.Section] = []
    record: list[tuple[str, str]] = []
    refused = False
    for number, item in enumerate(items, start=1):
        choice = decided.get(item.id)
        if item.kind in disclosure.NEVER_RELEASED or choice is None:
            continue
        label = f"{number}. {gettext(KIND_LABELS.get(item.kind, item.kind))}"
        decision = choice["decision"]
        verdict = gettext(DECISION_LABELS[decision])
        if decision == "withhold":
            refused = True
            record.append((label, f"{verdict}, {_ground(choice['ground'])}"))
            continue
        grounds = sorted({g for spans in choice.get("spans", {}).values() for *_, g in spans})
        if grounds:
            refused = True
            verdict += " (" + "; ".join(_ground(g) for g in grounds) + ")"
        record.append((label, verdict))
        facts = [(gettext("Decision"), verdict)]
        if item.id in markings:
            facts.append((gettext("Secrecy marking"), markings[item.id]))
        facts.append((gettext("Date"), i18n.date(item.created_at.date())))
        body = _item_body(item, choice.get("spans", {}))
        sections.append(pdf.Section(label, body, facts))
    decided_on = dt.date.fromisoformat(request.decision["decided_on"])
    sections.append(pdf.Section(gettext("Decision record"), gettext(IDENTITY_NOTE), record))
    head = [
        (gettext("Register number"), register_number or "–"),
        (gettext("Request received"), i18n.date(request.received_on)),
        (gettext("Decided"), i18n.date(decided_on)),
        (gettext("Decided by"), decided_by),
        (gettext("Asked for"), request.asked),
    ]
    return pdf.Document(
        title=gettext("Decision on a request for official documents"),
        facts=head,
        sections=sections,
        dated=decided_on,
        footer=gettext(APPEAL, organisation=organisation) if refused else "",
    )


def marking_labels(grounds: Mapping[str, str]) -> dict[str, str]:
    """Item id -> the marking as printed: the OSL ground, or "not secret" in the locale set."""
    return {item: ground or gettext("Not secret") for item, ground in grounds.items()}


def export_decision(
    db: Session,
    *,
    case_id: str,
    request_id: str,
    user_id: str,
    private_key: bytes,
    organisation: str,
    locale: str,
) -> bytes:
    """The PDF of a decided request, with the case's register number and secrecy markings. An
    undecided one cannot be exported."""
    review = disclosure.review(
        db, case_id=case_id, request_id=request_id, user_id=user_id, private_key=private_key
    )
    if review.request.decision is None:
        raise disclosure.DisclosureError("undecided")
    register_number, grounds = records.for_export(db, case_id=case_id)
    with i18n.using(locale):
        markings = marking_labels(grounds)
        document = decision_document(
            request=review.request,
            items=review.items,
            decided_by=review.names.get(review.request.decision["decided_by"], ""),
            organisation=organisation,
            register_number=register_number,
            markings=markings,
        )
        data = pdf.render(document)
    audit.record(
        db, action="document_request_exported", actor_id=user_id, case_id=case_id,
        subject_id=request_id,
    )  # fmt: skip
    return data
