"""The investigator's pages for access requests (GDPR art. 15): record, search, answer as PDF."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import access_requests, deadlines, disclosure, exports
from whistle.cases import CaseNotFound
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.case_page import case_call
from whistle.web.context import call, locale_of, not_found, redirect, render
from whistle.web.errors import message


async def list_page(
    request: Request, *, error: str = "", values: dict[str, str] | None = None, status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    found = await call(
        request, access_requests.mine, user_id=staff.user.id, private_key=staff.private_key
    )
    return render(
        request,
        "investigator/access_requests.html",
        {"requests": found, "today": deadlines.today(), "error": error, "values": values or {}},
        status=status,
    )


async def list_view(request: Request) -> Response:
    return await list_page(request)


async def record_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    values = security.form_values(form, "person", "note", "received_on")
    try:
        rid = await call(request, access_requests.record, user_id=staff.user.id, **values)
    except CaseNotFound:
        return not_found(request)
    except access_requests.AccessRequestError as exc:
        return await list_page(
            request, error=message(exc, page="documents"), values=values, status=400
        )
    return redirect(f"/access-requests/{rid}")


async def search_page(
    request: Request,
    *,
    error: str = "",
    where: str = "",
    submitted: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    staff = await require_staff(request, "investigator")
    found = await case_call(
        request, access_requests.search, request_id=request.path_params["access_id"], staff=staff
    )
    return render(
        request,
        "investigator/access_request.html",
        {
            "found": found,
            "req": found.request,
            "submitted": submitted or {},
            "error": error,
            "where": where,
            "field_names": disclosure.TEXT_FIELDS,
            "field_labels": exports.FIELD_LABELS,
        },
        status=status,
    )


async def search_view(request: Request) -> Response:
    return await search_page(request)


async def answer_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request, max_fields=2000)
    submitted = {k: v for k, v in form.items() if k.count(":") == 2}
    left_out = {v[:65] for v in form.getlist("leave_out")}
    try:
        data = await case_call(
            request,
            access_requests.answer,
            request_id=request.path_params["access_id"],
            staff=staff,
            submitted=submitted,
            left_out=left_out,
            locale=locale_of(request),
        )
    except access_requests.AccessRequestError as exc:
        return await search_page(
            request,
            error=message(exc, page="documents"),
            where=exc.where,
            submitted=submitted,
            status=400,
        )
    return Response(
        data,
        media_type="application/pdf",
        headers={"content-disposition": 'attachment; filename="registerutdrag.pdf"'},
    )


routes = [
    Route("/access-requests", list_view, methods=["GET"]),
    Route("/access-requests", record_post, methods=["POST"]),
    Route("/access-requests/{access_id}", search_view, methods=["GET"]),
    Route("/access-requests/{access_id}/answer", answer_post, methods=["POST"]),
]
