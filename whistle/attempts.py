"""Counting failed attempts per time window, without any client address.

Counters live in the database so that every replica shares them. The key names the budget
(a browser's anonymous session, a staff username's digest, a pending login) and the window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete

from whistle import cases, crypto, reports, sessions
from whistle.models import Case, RateCounter, utcnow


def _window(now: dt.datetime, seconds: int) -> dt.datetime:
    epoch = int(now.timestamp()) // seconds * seconds
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _key(name: str, window: dt.datetime, seconds: int) -> str:
    # The length is part of the key: a 60 s and a 600 s window can start at the same second.
    return f"{name}/{seconds}@{int(window.timestamp())}"


def count(db: Session, name: str, *, seconds: int, now: dt.datetime | None = None) -> int:
    window = _window(now or utcnow(), seconds)
    row = db.get(RateCounter, _key(name, window, seconds))
    return row.count if row else 0


def record(db: Session, name: str, *, seconds: int, now: dt.datetime | None = None) -> int:
    """Add one failure to the current window and return the window's count."""
    now = now or utcnow()
    window = _window(now, seconds)
    key = _key(name, window, seconds)
    # An atomic increment, so concurrent replicas never lose a count.
    stmt = update(RateCounter).where(col(RateCounter.key) == key)
    result = db.exec(stmt.values(count=RateCounter.count + 1))
    if result.rowcount == 0:
        try:
            with db.begin_nested():
                db.add(RateCounter(key=key, window_start=window, count=1))
        except IntegrityError:
            db.exec(stmt.values(count=RateCounter.count + 1))
    db.flush()
    return count(db, name, seconds=seconds, now=now)


def purge(db: Session, *, older_than: dt.timedelta, now: dt.datetime | None = None) -> None:
    cutoff = (now or utcnow()) - older_than
    db.exec(delete(RateCounter).where(col(RateCounter.window_start) < cutoff))


# --- the case-code budget of one browser -----------------------------------------------------
#
# The order of a reporter's login is the policy: a malformed code is refused before anything
# (it costs the server nothing, so counting it would hand an attacker a cheap lockout); a
# browser over its budget is refused before the derivation; the derivation runs outside any
# transaction (the caller's bounded slot), then open_case looks the code up and counts a miss.
#
# Only a help for the honest browser (a reporter who mistypes ten times is asked to wait): an
# attacker discards the cookie it is keyed to. What bounds guessing is the reporters' share of
# the derivation slots (whistle.derivation, docs/threat-model.md §5.1). There is deliberately no
# budget for all clients together: tripping it would lock every reporter out, a cheaper attack
# than the guessing it would stop.

CASE_CODE_WINDOW = 600


def browser_budget_key(browser_token: str) -> str:
    """The counter of one browser, named by a digest of its anonymous cookie, never an address."""
    return "case-code-session:" + crypto.digest(browser_token)[:12].hex()


def case_code_refused(db: Session, *, browser_token: str, limit: int) -> bool:
    """True when this browser has used up its failed case-code attempts for now."""
    key = browser_budget_key(browser_token)
    return count(db, key, seconds=CASE_CODE_WINDOW) >= limit


def case_code_failed(db: Session, *, browser_token: str) -> None:
    """Count a well-formed code that opened nothing (malformed input is never counted)."""
    record(db, browser_budget_key(browser_token), seconds=CASE_CODE_WINDOW)


@dataclass(frozen=True)
class Opened:
    """A reporter session opened with a code: its cookie, and whether the code is one an
    investigator handed over at a meeting (the reporter then takes a code of their own)."""

    cookie: str
    handed_over: bool


def open_case(
    db: Session, *, access: crypto.CaseAccess, browser_token: str, lifetime: dt.timedelta
) -> Opened | None:
    """Open a reporter session with a derived case code, or None (and the browser's failure
    counted) when the code opens nothing."""
    try:
        case_id, case_key = reports.open_as_reporter(db, access=access)
    except cases.CaseNotFound:
        case_code_failed(db, browser_token=browser_token)
        return None
    case = db.get(Case, case_id)
    cookie = sessions.create(
        db, kind="reporter", payload=case_key, case_id=case_id, lifetime=lifetime
    )
    return Opened(cookie, case is not None and case.code_handed_over)
