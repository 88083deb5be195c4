"""whistle.deadlines: the law's deadlines on calendar dates, with explicit dates only."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from whistle import deadlines
from whistle.deadlines import add_months

D = dt.date


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (D(2027, 3, 1), D(2027, 3, 8)),
        (D(2027, 1, 28), D(2027, 2, 4)),  # month end
        (D(2027, 12, 28), D(2028, 1, 4)),  # year wrap
        (D(2028, 2, 25), D(2028, 3, 3)),  # through 29 February
        (D(2027, 2, 25), D(2027, 3, 4)),  # through 28 February
    ],
)
def test_ack_due_is_seven_days_after_receipt(received: dt.date, due: dt.date) -> None:
    assert deadlines.ack_due(received) == due


def test_feedback_due_counts_from_the_acknowledgement() -> None:
    assert deadlines.feedback_due(D(2027, 3, 1), D(2027, 3, 3)) == D(2027, 6, 3)


def test_feedback_due_counts_from_day_seven_without_acknowledgement() -> None:
    assert deadlines.feedback_due(D(2027, 3, 1), None) == D(2027, 6, 8)
    # Year wrap: day 7 of a report of 20 December is 27 December.
    assert deadlines.feedback_due(D(2027, 12, 20), None) == D(2028, 3, 27)


def test_feedback_due_from_a_month_end_acknowledgement() -> None:
    assert deadlines.feedback_due(D(2027, 11, 25), D(2027, 11, 30)) == D(2028, 2, 29)
    assert deadlines.feedback_due(D(2027, 1, 30), D(2027, 1, 31)) == D(2027, 4, 30)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (D(2027, 1, 31), 3, D(2027, 4, 30)),  # April has 30 days: clamped
        (D(2027, 1, 31), 1, D(2027, 2, 28)),
        (D(2028, 1, 31), 1, D(2028, 2, 29)),  # leap year
        (D(2028, 2, 29), 12, D(2029, 2, 28)),  # leap day, one year on
        (D(2028, 2, 29), 48, D(2032, 2, 29)),  # leap day, next leap year
        (D(2027, 11, 30), 3, D(2028, 2, 29)),  # year wrap into a leap February
        (D(2026, 11, 30), 3, D(2027, 2, 28)),
        (D(2027, 10, 31), 3, D(2028, 1, 31)),
        (D(2027, 12, 15), 1, D(2028, 1, 15)),
        (D(2027, 12, 31), 12, D(2028, 12, 31)),
        (D(2027, 5, 17), 0, D(2027, 5, 17)),
        (D(2027, 5, 17), 27, D(2029, 8, 17)),
    ],
)
def test_add_months(start: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(start, months) == expected


def test_add_months_on_every_day_of_four_years() -> None:
    """The definition, checked on every start day: same day number, clamped to month end."""
    day = D(2026, 1, 1)
    while day < D(2030, 1, 1):
        for months in (1, 3, 11, 12, 13):
            result = add_months(day, months)
            assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
            last = calendar.monthrange(result.year, result.month)[1]
            assert result.day == min(day.day, last)
        day += dt.timedelta(days=1)


def _next_due(**changes: object) -> dt.date | None:
    fields: dict[str, object] = {
        "status": "received",
        "ack_due_on": D(2027, 3, 8),
        "ack_waived": False,
        "acknowledged_on": None,
        "feedback_due_on": D(2027, 6, 8),
        "feedback_given_on": None,
    }
    fields.update(changes)
    return deadlines.next_due(**fields)


def test_next_due_before_acknowledgement_is_the_ack_deadline() -> None:
    assert _next_due() == D(2027, 3, 8)
    assert _next_due(status="assessment") == D(2027, 3, 8)


def test_next_due_after_acknowledgement_is_feedback() -> None:
    assert _next_due(acknowledged_on=D(2027, 3, 3), feedback_due_on=D(2027, 6, 3)) == D(2027, 6, 3)


def test_next_due_when_acknowledgement_waived_is_feedback() -> None:
    assert _next_due(ack_waived=True) == D(2027, 6, 8)


def test_next_due_when_acknowledgement_withheld_is_feedback_from_day_seven() -> None:
    # Withheld because it could reveal the reporter: no fault of theirs, so 3 months from day 7.
    received = D(2027, 3, 1)
    feedback = deadlines.feedback_due(received, None)
    assert feedback == D(2027, 6, 8)
    assert _next_due(ack_withheld=True, feedback_due_on=feedback) == D(2027, 6, 8)


def test_next_due_none_once_feedback_given() -> None:
    assert _next_due(status="feedback_given", feedback_given_on=D(2027, 5, 1)) is None
    assert _next_due(feedback_given_on=D(2027, 5, 1)) is None


def test_next_due_none_when_closed() -> None:
    assert _next_due(status="closed") is None
    assert _next_due(status="closed", acknowledged_on=D(2027, 3, 3)) is None


UTC = dt.UTC


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Winter (CET, UTC+1): 23:30 UTC on New Year's Eve is already New Year's Day.
        (dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC), D(2027, 1, 1)),
        (dt.datetime(2026, 12, 31, 22, 59, tzinfo=UTC), D(2026, 12, 31)),
        # Summer (CEST, UTC+2).
        (dt.datetime(2027, 6, 30, 22, 30, tzinfo=UTC), D(2027, 7, 1)),
        (dt.datetime(2027, 6, 30, 21, 30, tzinfo=UTC), D(2027, 6, 30)),
        # A naive datetime is taken as UTC.
        (dt.datetime(2026, 12, 31, 23, 30), D(2027, 1, 1)),
        # An aware time in another zone is converted, not read off.
        (
            dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=3))),
            D(2026, 12, 31),
        ),
    ],
)
def test_today_is_the_date_in_stockholm(moment: dt.datetime, expected: dt.date) -> None:
    assert deadlines.today(moment) == expected
