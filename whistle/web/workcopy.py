"""The working copy of a case (a PDF for the function's own file): the page that warns, and
the download."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from whistle import workcopy
from whistle.casework import reference
from whistle.i18n import N_
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.case_page import case_call
from whistle.web.context import locale_of, render

CHUNK = 1 << 20  # the response is handed on 1 MiB at a time, like every download
CONFIRM = N_("Tick the box to confirm that the copy is kept in the function's own file.")


async def copy_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    staff = await require_staff(request, "investigator")
    shown = await case_call(request, workcopy.preview, staff=staff)
    return render(
        request,
        "investigator/copy.html",
        {"user": staff.user, "preview": shown, "error": error},
        status=status,
    )


async def copy_view(request: Request) -> Response:
    return await copy_page(request)


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start : start + CHUNK])


async def copy_download(request: Request) -> Response:
    """The PDF, made in memory and streamed; never written to disk, audited."""
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    case_id = request.path_params["case_id"]
    if form.get("confirm") != "yes":
        return await copy_page(request, error=CONFIRM, status=400)
    locale = locale_of(request)
    data = await case_call(
        request, workcopy.working_copy, case_id=case_id, staff=staff, locale=locale
    )
    stem = "arbetskopia" if locale == "sv" else "working-copy"
    return StreamingResponse(
        _chunks(data),
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{stem}-{reference(case_id)}.pdf"',
            "content-length": str(len(data)),
            "x-content-type-options": "nosniff",
        },
    )


routes = [
    Route("/cases/{case_id}/copy", copy_view, methods=["GET"]),
    Route("/cases/{case_id}/copy", copy_download, methods=["POST"]),
]
