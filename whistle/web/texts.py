"""The organisation's texts on the web: the administrator's editor with every version, and the
public page with the current routine for the channel (L3)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import numbers, texts
from whistle.i18n import N_
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.context import call, not_found, redirect, render
from whistle.web.errors import message

TITLES = {
    "routine": N_("Written routine for the channel"),
    "introduction": N_("Introduction on the information page"),
    "privacy": N_("Privacy notice: the organisation's part"),
}


def _overview(db: Session) -> list[tuple[str, texts.Version | None]]:
    return [(name, texts.current(db, name=name)) for name in texts.NAMES]


async def texts_list(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    listing = await call(request, _overview)
    return render(
        request, "admin/texts.html", {"user": staff.user, "listing": listing, "titles": TITLES}
    )


def _editor(db: Session, *, name: str) -> dict[str, Any]:
    return {"current": texts.current(db, name=name), "history": texts.history(db, name=name)}


async def text_page(
    request: Request,
    *,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    staff = await require_staff(request, "admin")
    name = request.path_params["name"]
    if name not in texts.NAMES:
        return not_found(request)
    data = await call(request, _editor, name=name)
    current = data["current"]
    if values is None:
        values = (
            {
                "body_sv": current.body_sv,
                "body_en": current.body_en,
                "adopted_on": current.adopted_on.isoformat() if current.adopted_on else "",
                "decision_ref": current.decision_ref,
            }
            if current
            else {}
        )
    context = {
        **data,
        "user": staff.user,
        "name": name,
        "title": TITLES[name],
        "values": values,
        "error": error,
        "done": request.query_params.get("done"),
    }
    return render(request, "admin/texts_edit.html", context, status=status)


async def text_view(request: Request) -> Response:
    return await text_page(request)


def _date(raw: str) -> dt.date | None:
    if not raw.strip():
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise texts.TextError("bad-date") from None


async def text_save(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    name = request.path_params["name"]
    if name not in texts.NAMES:
        return not_found(request)
    form = await security.read_form(request)
    values = security.form_values(form, "body_sv", "body_en", "adopted_on", "decision_ref")
    try:
        adopted_on = _date(values["adopted_on"])
        await call(
            request,
            texts.save,
            actor_id=staff.user.id,
            name=name,
            body_sv=values["body_sv"],
            body_en=values["body_en"],
            adopted_on=adopted_on,
            decision_ref=values["decision_ref"],
        )
    except texts.TextError as exc:
        return await text_page(request, error=message(exc, page="texts"), values=values, status=400)
    return redirect(f"/admin/texts/{name}?done=1")


async def text_version(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    name, raw = request.path_params["name"], request.path_params["version"]
    number = numbers.parse(raw)
    if name not in texts.NAMES or number is None:
        return not_found(request)
    version = await call(request, texts.get, name=name, version=number)
    if version is None:
        return not_found(request)
    context = {
        "user": staff.user,
        "name": name,
        "title": TITLES[name],
        "version": version,
        "paragraphs": texts.paragraphs,
    }
    return render(request, "admin/texts_version.html", context)


routes = [
    Route("/admin/texts", texts_list, methods=["GET"]),
    Route("/admin/texts/{name}", text_view, methods=["GET"]),
    Route("/admin/texts/{name}", text_save, methods=["POST"]),
    Route("/admin/texts/{name}/{version}", text_version, methods=["GET"]),
]
