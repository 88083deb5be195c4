"""The registrar's pages: the register of public units' cases (whistle/records.py), as a page,
a printable page and CSV. Nothing else: a registrar holds no key, and every case URL answers
them 404 (they are not an investigator)."""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import audit, deadlines, numbers, records
from whistle.i18n import N_
from whistle.web.auth import require_staff
from whistle.web.context import call, locale_of, render, translate

CSV_HEADERS = (
    N_("Register number"),
    N_("Title"),
    N_("Received"),
    N_("Unit"),
    N_("Secrecy marking"),
    N_("Disposed of"),
)


def _year(request: Request) -> int:
    year = numbers.parse(request.query_params.get("year", ""), max_digits=4)
    return year if year is not None and year >= 1000 else deadlines.today().year


def _register(db: Session, *, year: int) -> dict[str, object]:
    return {"rows": records.register_rows(db, year=year), "years": records.years(db)}


def _exported(db: Session, *, user_id: str, year: int, how: str) -> list[records.RegisterRow]:
    rows = records.register_rows(db, year=year)
    audit.record(db, action="register_exported", actor_id=user_id, detail=f"{year} {how}")
    return rows


async def register_page(request: Request) -> Response:
    staff = await require_staff(request, "registrar")
    year = _year(request)
    data = await call(request, _register, year=year)
    return render(
        request,
        "registrar/register.html",
        {**data, "user": staff.user, "year": year, "printable": False},
    )


async def register_print(request: Request) -> Response:
    staff = await require_staff(request, "registrar")
    year = _year(request)
    rows = await call(request, _exported, user_id=staff.user.id, year=year, how="print")
    return render(
        request,
        "registrar/register.html",
        {
            "rows": rows,
            "user": staff.user,
            "year": year,
            "printable": True,
            "printed_on": deadlines.today(),
        },
    )


async def register_csv(request: Request) -> Response:
    staff = await require_staff(request, "registrar")
    year = _year(request)
    rows = await call(request, _exported, user_id=staff.user.id, year=year, how="csv")
    body = records.to_csv(
        rows,
        headers=[translate(request, h) for h in CSV_HEADERS],
        default_title=translate(request, records.DEFAULT_TITLE),
        locale=locale_of(request),
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="register-{year}.csv"'},
    )


routes = [
    Route("/registrar", register_page, methods=["GET"]),
    Route("/registrar/print", register_print, methods=["GET"]),
    Route("/registrar/register.csv", register_csv, methods=["GET"]),
]
