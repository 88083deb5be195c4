"""The law's deadlines (Lag 2021:890 5 kap. 8 §), computed on calendar dates.

* Acknowledgement within 7 days of receipt (unless waived or it would reveal the reporter).
* Feedback within 3 months of the acknowledgement, or of day 7 when no acknowledgement was
  given through no fault of the reporter (also the internal target when the reporter waived it).
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

ACK_DAYS = 7
FEEDBACK_MONTHS = 3
TIMEZONE = ZoneInfo("Europe/Stockholm")

OPEN_STATUSES = ("received", "assessment", "investigation")


def today(now: dt.datetime | None = None) -> dt.date:
    """The calendar date in Sweden (deadlines are days, not hours)."""
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(TIMEZONE).date()


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day number ``months`` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def ack_due(received: dt.date) -> dt.date:
    return received + dt.timedelta(days=ACK_DAYS)


def feedback_due(received: dt.date, acknowledged: dt.date | None) -> dt.date:
    start = acknowledged if acknowledged is not None else ack_due(received)
    return add_months(start, FEEDBACK_MONTHS)


def next_due(
    *,
    status: str,
    ack_due_on: dt.date,
    ack_waived: bool,
    acknowledged_on: dt.date | None,
    ack_withheld: bool = False,
    feedback_due_on: dt.date,
    feedback_given_on: dt.date | None,
) -> dt.date | None:
    """The nearest deadline still open, or None when nothing is due (feedback given, closed)."""
    if status == "closed" or feedback_given_on is not None:
        return None
    if acknowledged_on is None and not ack_waived and not ack_withheld:
        return ack_due_on
    return feedback_due_on
