"""The investigators' readers page: who reads which kind of report, new readers awaiting
approval (four eyes, :mod:`whistle.approvals`), and recent changes to who reads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import approvals, numbers
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.context import call, not_found, redirect, render
from whistle.web.errors import message


async def readers_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    staff = await require_staff(request, "investigator")
    view = await call(request, approvals.readers_view, user_id=staff.user.id)
    return render(
        request,
        "investigator/readers.html",
        {
            "view": view,
            "user": staff.user,
            "error": error,
            "done": request.query_params.get("done", ""),
        },
        status=status,
    )


async def readers_view(request: Request) -> Response:
    return await readers_page(request)


async def _decide(request: Request, decision: str) -> Response:
    staff = await require_staff(request, "investigator")
    await security.read_form(request)
    designation_id = numbers.parse(request.path_params["designation_id"])
    if designation_id is None:
        return not_found(request)
    fn = approvals.approve if decision == "approved" else approvals.decline
    try:
        await call(request, fn, approver_id=staff.user.id, designation_id=designation_id)
    except approvals.ApprovalError as exc:
        return await readers_page(request, error=message(exc, page="readers"), status=400)
    return redirect(f"/readers?done={decision}")


async def approve(request: Request) -> Response:
    return await _decide(request, "approved")


async def decline(request: Request) -> Response:
    return await _decide(request, "declined")


routes = [
    Route("/readers", readers_view, methods=["GET"]),
    Route("/readers/{designation_id}/approve", approve, methods=["POST"]),
    Route("/readers/{designation_id}/decline", decline, methods=["POST"]),
]
