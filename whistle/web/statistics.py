"""The board's statistics on the web: a page with charts and tables, and the same as CSV.

Administrators only. The numbers come from :func:`whistle.statistics.compute`, which reads
metadata and applies the small-cell suppression; this module only labels and draws them. Charts
are SVG drawn here on the server: no page of whistle runs a script.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import cases, deadlines, i18n, statistics
from whistle.i18n import N_
from whistle.web.auth import require_staff
from whistle.web.context import call, ctx, locale_of, render, translate

BAR_WIDTH = 320  # px of the longest bar; the label column is drawn left of it
SUPPRESSED = "suppressed"  # in the CSV; the page says it in words

TITLES = {
    "unit": N_("Cases by unit"),
    "category": N_("Cases by category"),
    "channel": N_("Cases by channel"),
    "identity": N_("Anonymous and named reports"),
    "acknowledgement": N_("Confirmation of receipt within 7 days"),
    "feedback": N_("Feedback within 3 months"),
    "outcome": N_("Outcomes of closed cases"),
}
LABELS = {
    "channel": {"web": N_("In writing, on the website"), "oral": N_("Orally or at a meeting")},
    "identity": {"anonymous": N_("Anonymous"), "named": N_("With name (confidential)")},
    "acknowledgement": {
        "on_time": N_("On time"),
        "late": N_("Missed: late or not given"),
        "exempt": N_("Not required: declined by the reporter or withheld"),
        "not_due": N_("Not due yet, or closed before it was due"),
    },
    "feedback": {
        "on_time": N_("On time"),
        "late": N_("Missed: late or not given"),
        "not_due": N_("Not due yet, or closed before it was due"),
    },
    "outcome": {**cases.OUTCOMES, "not_recorded": N_("Not recorded")},
}
NONE_LABELS = {"unit": N_("Unit not given"), "category": N_("Category not known")}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    value: int | None  # None: suppressed
    bar: int  # bar length in px, 0 when suppressed or zero


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    rows: tuple[Row, ...]
    total: int | None


def _label(request: Request, data: statistics.Statistics, table: str, key: str) -> str:
    if key == statistics.NONE_KEY and table in NONE_LABELS:
        return translate(request, NONE_LABELS[table])
    names = {"unit": data.unit_names, "category": data.category_names}.get(table)
    if names is not None:
        sv, en = names.get(key, (key, key))
        return i18n.pick(sv, en, locale_of(request))
    return translate(request, LABELS[table].get(key, key))


def sections(request: Request, data: statistics.Statistics) -> list[Section]:
    out = []
    for table in data.tables:
        longest = max((c.value or 0 for c in table.cells), default=0) or 1
        rows = tuple(
            Row(
                key=cell.key,
                label=_label(request, data, table.name, cell.key),
                value=cell.value,
                bar=round(BAR_WIDTH * (cell.value or 0) / longest),
            )
            for cell in table.cells
        )
        out.append(Section(table.name, translate(request, TITLES[table.name]), rows, table.total))
    return out


def _period(request: Request) -> statistics.Period:
    """The period asked for (``?period=2026``, ``2026-Q3`` or ``2026-07``); this year if none.
    Only these fixed periods exist: two free date ranges could be subtracted from each other."""
    raw = request.query_params.get("period", "")
    return statistics.Period.parse(raw) if raw else statistics.Period.year_of(deadlines.today())


def period_label(request: Request, period: statistics.Period) -> str:
    if period.kind == "year":
        return translate(request, N_("The whole year %(year)s"), year=period.year)
    if period.kind == "quarter":
        return translate(
            request, N_("Quarter %(number)s, %(year)s"), number=period.number, year=period.year
        )
    return format_date(period.start, "LLLL y", locale=locale_of(request))


def period_choices(
    request: Request, chosen: statistics.Period | None
) -> list[tuple[int, list[tuple[str, str]]]]:
    """The periods offered, by year: the last five years, and the chosen one's."""
    this_year = deadlines.today().year
    years = set(range(this_year - 4, this_year + 1))
    if chosen is not None:
        years.add(chosen.year)
    return [
        (
            year,
            [
                (p.token(), period_label(request, p))
                for p in statistics.Period("year", year).family()
            ],
        )
        for year in sorted(years, reverse=True)
    ]


async def _compute(request: Request) -> statistics.Statistics | None:
    try:
        period = _period(request)
    except statistics.PeriodError:
        return None
    return await call(
        request,
        statistics.compute,
        period=period,
        threshold=ctx(request).settings.stats_threshold,
        today=deadlines.today(),
    )


def median_text(days: float | None, locale: str) -> str:
    return "" if days is None else format_decimal(days, format="0.#", locale=locale)


async def statistics_page(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    data = await _compute(request)
    context: dict[str, Any] = {
        "user": staff.user,
        "choices": period_choices(request, data.period if data else None),
        "chosen": data.period.token() if data else "",
    }
    if data is None:
        context["error"] = N_("Choose a year, a quarter or a month.")
        return render(request, "admin/statistics.html", context, status=400)
    locale = locale_of(request)
    context |= {
        "period_label": period_label(request, data.period),
        "stats": data,
        "sections": sections(request, data),
        "ack_median": median_text(data.ack_median.days, locale),
        "feedback_median": median_text(data.feedback_median.days, locale),
        "error": "",
        "bar_width": BAR_WIDTH,
    }
    return render(request, "admin/statistics.html", context)


def _spreadsheet_safe(text: str) -> str:
    # A label from the administrator starting with = + - @ would run as a formula in a
    # spreadsheet (CSV injection); a leading apostrophe makes it text.
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def _cell(value: int | float | None) -> str:
    return SUPPRESSED if value is None else format(value, "g")


def csv_text(request: Request, data: statistics.Statistics) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "key", "label", "value"])
    writer.writerow(["period", "name", "", data.period.token()])
    writer.writerow(["period", "from", "", data.period.start.isoformat()])
    writer.writerow(["period", "to", "", data.period.end.isoformat()])
    writer.writerow(["period", "threshold", "", str(data.threshold)])
    for section in sections(request, data):
        for row in section.rows:
            label = _spreadsheet_safe(row.label)
            writer.writerow([section.name, row.key, label, _cell(row.value)])
        writer.writerow([section.name, "total", "", _cell(section.total)])
    for key, median in (("acknowledgement", data.ack_median), ("feedback", data.feedback_median)):
        writer.writerow(["median_days", key, "", _cell(median.days)])
    return out.getvalue()


async def statistics_csv(request: Request) -> Response:
    await require_staff(request, "admin")
    data = await _compute(request)
    if data is None:
        return Response("invalid period\r\n", status_code=400, media_type="text/plain")
    name = f"statistics-{data.period.token()}.csv"
    return Response(
        csv_text(request, data),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


routes = [
    Route("/admin/statistics", statistics_page, methods=["GET"]),
    Route("/admin/statistics.csv", statistics_csv, methods=["GET"]),
]
