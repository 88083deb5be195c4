"""The organisation's own texts, dated and versioned: the written routine for the channel (L3,
5 kap. 6 §), the introduction of the public information page (L13) and the organisation's part of
the privacy notice (L26: controller, DPO, anything it adds).

Each save inserts a new version with its author and time; no version is ever changed or
deleted, so the organisation can show which routine applied on a given day. Texts are plain
text: templates escape them and split them into paragraphs, never render them as markup.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from whistle import audit
from whistle.errors import DomainError
from whistle.models import OrganisationText, User, utcnow

NAMES = ("routine", "introduction", "privacy")
MAX_CHARS = 20000
MAX_DECISION_REF = 200


class TextError(DomainError):
    """A refused request; ``code`` names why (:mod:`whistle.errors`)."""


@dataclass(frozen=True)
class Version:
    name: str
    version: int
    body_sv: str
    body_en: str
    created_at: dt.datetime
    author: str  # display name; "" when the account is gone
    adopted_on: dt.date | None = None  # when the deciding body adopted it; not the save date
    decision_ref: str = ""  # e.g. "KS 2026/123 § 45"

    def body(self, locale: str) -> str:
        """The English text in English, the Swedish one in every other language."""
        return self.body_en if locale == "en" else self.body_sv


def _clean(body: str) -> str:
    # Browsers send CRLF from a textarea; stored with LF so versions compare cleanly.
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_CHARS:
        raise TextError("text-too-long")
    return text


def _version(db: Session, row: OrganisationText) -> Version:
    author = db.get(User, row.author_id) if row.author_id else None
    return Version(
        name=row.name,
        version=row.version,
        body_sv=row.body_sv,
        body_en=row.body_en,
        created_at=row.created_at,
        author=author.display_name if author else "",
        adopted_on=row.adopted_on,
        decision_ref=row.decision_ref,
    )


def save(
    db: Session,
    *,
    actor_id: str,
    name: str,
    body_sv: str,
    body_en: str,
    adopted_on: dt.date | None = None,
    decision_ref: str = "",
    now: dt.datetime | None = None,
) -> Version:
    """Store a new version of the text; both languages are required. ``adopted_on`` and
    ``decision_ref`` record the decision behind it, which the save time is not."""
    now = now or utcnow()
    if name not in NAMES:
        raise TextError("not-found")
    sv, en = _clean(body_sv), _clean(body_en)
    if not sv or not en:
        raise TextError("text-required")
    decision_ref = " ".join(decision_ref.split())
    if len(decision_ref) > MAX_DECISION_REF:
        raise TextError("reference-too-long")
    # A day's slack: the deciding body's date is local (Europe/Stockholm), ``now`` is UTC.
    if adopted_on is not None and adopted_on > now.date() + dt.timedelta(days=1):
        raise TextError("adopted-in-future")
    newest = db.exec(
        select(func.max(OrganisationText.version)).where(OrganisationText.name == name)
    ).one()
    row = OrganisationText(
        name=name,
        version=(newest or 0) + 1,
        body_sv=sv,
        body_en=en,
        created_at=now,
        author_id=actor_id,
        adopted_on=adopted_on,
        decision_ref=decision_ref,
    )
    try:
        # Two administrators saving at once: the unique (name, version) refuses the second.
        with db.begin_nested():
            db.add(row)
    except IntegrityError:
        raise TextError("saved-meanwhile") from None
    audit.record(
        db, action="text_saved", actor_id=actor_id, detail=f"{name} {row.version}", now=now
    )
    return _version(db, row)


def current(db: Session, *, name: str) -> Version | None:
    stmt = (
        select(OrganisationText)
        .where(OrganisationText.name == name)
        .order_by(col(OrganisationText.version).desc())
        .limit(1)
    )
    row = db.exec(stmt).first()
    return _version(db, row) if row else None


def get(db: Session, *, name: str, version: int) -> Version | None:
    stmt = select(OrganisationText).where(
        OrganisationText.name == name, OrganisationText.version == version
    )
    row = db.exec(stmt).first()
    return _version(db, row) if row else None


def history(db: Session, *, name: str) -> list[Version]:
    stmt = (
        select(OrganisationText)
        .where(OrganisationText.name == name)
        .order_by(col(OrganisationText.version).desc())
    )
    return [_version(db, row) for row in db.exec(stmt).all()]


def paragraphs(body: str) -> list[list[str]]:
    """Paragraphs (split at blank lines), each a list of its lines."""
    blocks = [block.strip() for block in re.split(r"\n[ \t]*\n", body.replace("\r\n", "\n"))]
    return [[line.strip() for line in block.split("\n")] for block in blocks if block]
