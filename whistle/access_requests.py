"""Access requests (GDPR art. 15; art. 12(3): answered within one month).

An investigator records who asks and when. Who asks is personal data tied to no case, so it is
sealed under a random key that is HPKE-wrapped to the recording investigator only. The search
runs over the cases that investigator can read, in memory only: nothing about the hits is
stored. Cases they cannot read are reported only as a count (their readers answer for them).
The answer is a PDF of the passages that name the person, masked by the one rule
(:mod:`whistle.masking`); the reporter's identity is never in it, even when the person asking is
the reporter: identity items are left out, and every reporter's name and contact (of any case the
investigator reads) is masked in every passage; a text that still holds one is refused. So a
reporter who asks is not told of the report they made, and nobody's answer names a reporter.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from whistle import audit, casework, crypto, deadlines, disclosure, i18n, masking, package, pdf
from whistle.cases import CaseNotFound, OpenedItem, open_items
from whistle.errors import DomainError
from whistle.exports import FIELD_LABELS, KIND_LABELS
from whistle.i18n import N_, gettext
from whistle.models import AccessRequest, Case, CaseKeyWrap, User, new_id, utcnow

PURPOSE = "access_request"
MIN_NAME = 3


class AccessRequestError(DomainError):
    def __init__(self, code: str, where: str = "") -> None:
        super().__init__(code)
        self.where = where


def one_month_after(day: dt.date) -> dt.date:
    """The same day next month, or its last day (GDPR art. 12(3): "within one month")."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Request:
    id: str
    received_on: dt.date
    due_on: dt.date
    answered_on: dt.date | None
    person: str
    note: str


def _binding(rid: str) -> str:
    return f"access-request:{rid}"


def record(
    db: Session,
    *,
    user_id: str,
    person: str,
    note: str,
    received_on: str,
    now: dt.datetime | None = None,
) -> str:
    user = db.get(User, user_id)
    if user is None or user.public_key is None:
        raise CaseNotFound()
    try:
        day = dt.date.fromisoformat(received_on) if received_on else deadlines.today(now)
    except ValueError:
        raise AccessRequestError("bad-date") from None
    if day > deadlines.today(now):
        raise AccessRequestError("bad-date")
    who = person.strip()
    if len(who) < MIN_NAME or len(who) > 200:
        raise AccessRequestError("person")
    rid, key = new_id(), crypto.random_key()
    data = json.dumps({"person": who, "note": note.strip()[:2000]}, ensure_ascii=False).encode()
    db.add(
        AccessRequest(
            id=rid,
            received_on=day,
            due_on=one_month_after(day),
            created_by=user_id,
            created_at=now or utcnow(),
            sealed=crypto.seal(key, data, purpose=PURPOSE, case_id="", item_id=rid),
            wrap=crypto.wrap_key(key, user.public_key, case_id=_binding(rid), recipient_id=user_id),
        )
    )
    audit.record(db, action="access_request_recorded", actor_id=user_id, subject_id=rid, now=now)
    return rid


def _open(row: AccessRequest, *, user_id: str, private_key: bytes) -> Request:
    try:
        key = crypto.unwrap_key(
            row.wrap, private_key, case_id=_binding(row.id), recipient_id=user_id
        )
        raw = crypto.open_sealed(key, row.sealed, purpose=PURPOSE, case_id="", item_id=row.id)
    except crypto.CryptoError:
        raise CaseNotFound() from None
    data: dict[str, Any] = json.loads(raw)
    return Request(
        row.id, row.received_on, row.due_on, row.answered_on, data["person"], data["note"]
    )


def mine(db: Session, *, user_id: str, private_key: bytes) -> list[Request]:
    rows = db.exec(
        select(AccessRequest)
        .where(AccessRequest.created_by == user_id)
        .order_by(col(AccessRequest.created_at).desc())
    ).all()
    return [_open(row, user_id=user_id, private_key=private_key) for row in rows]


def _load(db: Session, *, request_id: str, user_id: str) -> AccessRequest:
    row = db.get(AccessRequest, request_id[:32])
    if row is None or row.created_by != user_id:
        raise CaseNotFound()
    return row


@dataclass(frozen=True)
class Hit:
    case_id: str
    reference: str
    number: int
    item: OpenedItem
    markers: list[str]  # the reporter's name and contact in that case: 32:3 b OSL
    others: list[str]  # those of the reporters of the other readable cases

    def key(self, name: str) -> str:
        return f"{self.case_id}:{self.item.id}:{name}"

    def prefill(self, name: str) -> str:
        """The text with every reporter's name and contact masked. In another case than their
        own the mark is 17:3 b: a 32:3 b mark there would tell that this person reported."""
        text = str(self.item.content.get(name) or "")
        spans = []
        for span in package.identity_spans(text, self.markers + self.others):
            piece = text[span.start : span.end].casefold()
            own = any(m.casefold() in piece for m in self.markers)
            spans.append(masking.Span(span.start, span.end, "32:3b" if own else "17:3b"))
        return masking.render(text, spans)


@dataclass(frozen=True)
class Search:
    request: Request
    hits: list[Hit]
    readable: int
    unreadable: int


def _markers(items: list[OpenedItem]) -> list[str]:
    return [
        str(v).strip() for i in items if i.kind == "identity" for v in i.content.values()
        if v and len(str(v).strip()) >= MIN_NAME
    ]  # fmt: skip


def search(db: Session, *, request_id: str, user_id: str, private_key: bytes) -> Search:
    """Every item of a readable case whose text names the person, in memory only."""
    request = _open(
        _load(db, request_id=request_id, user_id=user_id),
        user_id=user_id,
        private_key=private_key,
    )
    needle = request.person.casefold()
    case_ids = db.exec(select(CaseKeyWrap.case_id).where(CaseKeyWrap.user_id == user_id)).all()
    total = db.exec(select(func.count()).select_from(Case)).one()
    opened: dict[str, list[OpenedItem]] = {}
    for case_id in sorted(case_ids):
        case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
        opened[case.id] = open_items(db, case_id=case.id, case_key=key, reporter_view=False)
    # Every reporter's identity is masked everywhere, even when the person asking is one.
    markers = {case_id: _markers(items) for case_id, items in opened.items()}
    everyone = sorted({m for found in markers.values() for m in found})
    hits: list[Hit] = []
    for case_id, items in opened.items():
        others = [m for m in everyone if m not in markers[case_id]]
        for number, item in enumerate(items, start=1):
            if item.kind in disclosure.NEVER_RELEASED:
                continue
            hit = Hit(case_id, casework.reference(case_id), number, item, markers[case_id], others)
            # Searched with the reporter's identity already masked: when the reporter is the
            # person asking, the report they made is not a hit (it would tell that they made it).
            fields = disclosure.TEXT_FIELDS.get(item.kind, ())
            if any(needle in hit.prefill(n).casefold() for n in fields):
                hits.append(hit)
    return Search(request, hits, readable=len(case_ids), unreadable=int(total) - len(case_ids))


def _released(hit: Hit, submitted: Mapping[str, str]) -> str:
    parts = []
    for name in disclosure.TEXT_FIELDS.get(hit.item.kind, ()):
        original = str(hit.item.content.get(name) or "")
        if not original:
            continue
        try:
            spans = masking.verify(original, submitted.get(hit.key(name), hit.prefill(name)))
        except masking.MaskingError as exc:
            raise AccessRequestError(exc.code, hit.key(name)) from None
        text = masking.render(original, spans)
        if any(m.casefold() in text.casefold() for m in hit.markers + hit.others):
            raise AccessRequestError("identity-in-text", hit.key(name))
        parts.append(f"{gettext(FIELD_LABELS[name])}:\n{text}")
    return "\n\n".join(parts)


def answer(
    db: Session,
    *,
    request_id: str,
    user_id: str,
    private_key: bytes,
    submitted: Mapping[str, str],
    left_out: set[str],
    locale: str,
    now: dt.datetime | None = None,
) -> bytes:
    """The answer as a PDF; every texts' masking is checked; the request is marked answered."""
    found = search(db, request_id=request_id, user_id=user_id, private_key=private_key)
    known = {h.key(n) for h in found.hits for n in disclosure.TEXT_FIELDS.get(h.item.kind, ())}
    if set(submitted) - known:
        raise AccessRequestError("stale")
    chosen = [h for h in found.hits if f"{h.case_id}:{h.item.id}" not in left_out]
    with i18n.using(locale):
        sections = [
            pdf.Section(
                f"{gettext('Case')} {h.reference}, {h.number}. "
                f"{gettext(KIND_LABELS.get(h.item.kind, h.item.kind))}",
                _released(h, submitted),
                [(gettext("Date"), i18n.date(h.item.created_at.date()))],
            )
            for h in chosen
        ]
        today = deadlines.today(now)
        data = pdf.render(
            pdf.Document(
                # The person is not named: the answer must never carry the reporter's identity,
                # and the person asking may be the reporter. The covering letter names them.
                title=gettext("Answer to a request for access to personal data (GDPR art. 15)"),
                facts=[
                    (gettext("Request received"), i18n.date(found.request.received_on)),
                    (gettext("Answered"), i18n.date(today)),
                    (gettext("Passages found"), str(len(chosen))),
                ],
                sections=sections,
                dated=today,
                footer=gettext(ANSWER_NOTE),
            )
        )
    row = _load(db, request_id=request_id, user_id=user_id)
    row.answered_on = row.answered_on or deadlines.today(now)
    db.add(row)
    for case_id in sorted({h.case_id for h in chosen}):
        audit.record(db, action="access_request_answered", actor_id=user_id, case_id=case_id,
                     subject_id=row.id, now=now)  # fmt: skip
    if not chosen:
        audit.record(db, action="access_request_answered", actor_id=user_id, subject_id=row.id,
                     now=now)  # fmt: skip
    return data


REMIND_DAYS = 7


def claim_reminders(db: Session, *, today: dt.date) -> list[tuple[str, bool]]:
    """Unanswered requests due within a week, then overdue: (recording user id, overdue) for
    each reminder not sent before; marks it sent in the caller's transaction."""
    rows = db.exec(select(AccessRequest).where(col(AccessRequest.answered_on).is_(None))).all()
    claimed = []
    for row in rows:
        kind = "overdue" if row.due_on < today else "soon"
        if (row.due_on - today).days > REMIND_DAYS or row.reminded in (kind, "overdue"):
            continue
        row.reminded = kind
        db.add(row)
        claimed.append((row.created_by, kind == "overdue"))
    return claimed


ANSWER_NOTE = N_(
    "Information that could reveal who made a whistleblowing report is not released "
    "(OSL 32 kap. 3 b §, GDPR art. 15(4) and 23). Information about other people is masked "
    "where it may not be released."
)
