"""Search across the cases an investigator can read: decrypt in memory, match, discard.

There is no index, no cache and no stored query: an index of words would be case content in
another form, readable without any key. Each search unwraps the key of every case the
investigator holds, opens its items one case at a time, looks for the term in their text and
keeps only a short excerpt around the first hit of each matching case, so memory stays flat
however many cases there are. The term is never logged, stored or put in a URL (the form is
posted), and the audit log records only that a search ran and over how many cases.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from whistle import audit, crypto
from whistle.casework import CaseworkError, reference
from whistle.models import Case, CaseItem, CaseKeyWrap

MIN_TERM = 3
MAX_TERM = 200
MAX_RESULTS = 50
EXCERPT = 60  # characters either side of the hit
BATCH = 100  # cases whose wraps are read at a time


@dataclass(frozen=True)
class Hit:
    case_id: str
    reference: str
    status: str
    received_on: dt.date
    kind: str  # the kind of the first item that matched
    excerpt: str


@dataclass(frozen=True)
class Found:
    hits: list[Hit]
    searched: int  # cases opened
    more: bool  # stopped at MAX_RESULTS


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def clean_term(term: str) -> str:
    term = " ".join(term.split())
    if len(term) < MIN_TERM:
        raise CaseworkError("term-too-short")
    if len(term) > MAX_TERM:
        raise CaseworkError("too-long")
    return term


def _strings(value: Any) -> Iterator[str]:
    """Every text in an item's content (report fields, names of files, minutes …)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def _excerpt(text: str, folded: str, at: int, length: int) -> str:
    # Folding can change lengths (ß -> ss); the excerpt is cut from the folded text's
    # positions only when they line up, else from the start of the text.
    if len(folded) != len(text):
        at, text = 0, text
    start, end = max(0, at - EXCERPT), min(len(text), at + length + EXCERPT)
    cut = " ".join(text[start:end].split())
    return ("…" if start > 0 else "") + cut + ("…" if end < len(text) else "")


@dataclass(frozen=True)
class _Sealed:
    id: str
    case_id: str
    kind: str
    sealed: bytes


def _match(items: list[_Sealed], case_key: bytes, needle: str) -> tuple[str, str] | None:
    for item in items:
        plain = crypto.open_sealed(
            case_key,
            item.sealed,
            purpose=f"item:{item.kind}",
            case_id=item.case_id,
            item_id=item.id,
        )
        for text in _strings(json.loads(plain)):
            folded = _fold(text)
            at = folded.find(needle)
            if at >= 0:
                return item.kind, _excerpt(text, folded, at, len(needle))
    return None


def _sealed_items(db: Session, case_ids: list[str]) -> dict[str, list[_Sealed]]:
    """The sealed items of a batch of cases, as plain tuples (no ORM objects: a search reads
    tens of thousands of rows)."""
    table = CaseItem.__table__  # type: ignore[attr-defined]
    stmt = (
        core_select(table.c.id, table.c.case_id, table.c.kind, table.c.sealed)
        .where(table.c.case_id.in_(case_ids), table.c.kind != "exclusions")
        .order_by(table.c.case_id, table.c.seq)
    )
    found: dict[str, list[_Sealed]] = {case_id: [] for case_id in case_ids}
    for item_id, case_id, kind, sealed in db.connection().execute(stmt).all():
        found[case_id].append(_Sealed(item_id, case_id, kind, bytes(sealed)))
    return found


def _held(db: Session, user_id: str) -> Iterator[list[tuple[CaseKeyWrap, Case]]]:
    """The investigator's wraps with their cases, newest case first, a batch at a time."""
    last: tuple[dt.date, str] | None = None
    while True:
        stmt = (
            select(CaseKeyWrap, Case)
            .join(Case, col(Case.id) == col(CaseKeyWrap.case_id))
            .where(CaseKeyWrap.user_id == user_id)
            .order_by(col(Case.received_on).desc(), col(Case.id).desc())
            .limit(BATCH)
        )
        if last is not None:
            day, case_id = last
            stmt = stmt.where(
                (col(Case.received_on) < day)
                | ((col(Case.received_on) == day) & (col(Case.id) < case_id))
            )
        rows = list(db.exec(stmt).all())
        if not rows:
            return
        yield rows
        last = (rows[-1][1].received_on, rows[-1][1].id)


def search(
    db: Session,
    *,
    user_id: str,
    private_key: bytes,
    term: str,
    now: dt.datetime | None = None,
) -> Found:
    """Cases this investigator can read whose content contains ``term`` (case-insensitive)."""
    needle = _fold(clean_term(term))
    unwrapper = crypto.Unwrapper(private_key)
    hits: list[Hit] = []
    searched = 0
    more = False
    for batch in _held(db, user_id):
        items = _sealed_items(db, [case.id for _wrap, case in batch])
        for wrap, case in batch:
            try:
                key = unwrapper.unwrap(wrap.wrapped, case_id=case.id, recipient_id=user_id)
            except crypto.CryptoError:
                continue
            searched += 1
            found = _match(items[case.id], key, needle)
            if found is not None:
                hits.append(Hit(case.id, reference(case.id), case.status, case.received_on, *found))
                if len(hits) >= MAX_RESULTS:
                    more = True
                    break
        items.clear()
        if more:
            break
    audit.record(db, action="cases_searched", actor_id=user_id, detail=str(searched), now=now)
    return Found(hits=hits, searched=searched, more=more)
