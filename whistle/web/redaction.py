"""The investigator's redaction page (7 kap. 7 §): mask an item's texts or delete a file."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import db, disclosure, exports, masking, redaction
from whistle.cases import CaseNotFound
from whistle.casework import reference
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.case_page import case_call
from whistle.web.context import call, ctx, not_found, redirect, render
from whistle.web.errors import message


def _fields(kind: str) -> tuple[str, ...]:
    return disclosure.TEXT_FIELDS.get(kind, ("name", "contact"))


async def redact_page(
    request: Request, *, error: str = "", values: dict[str, str] | None = None, status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    case_id = request.path_params["case_id"]
    kind, content = await case_call(
        request,
        redaction.item_for_redaction,
        case_id=case_id,
        item_id=request.path_params["item_id"],
        staff=staff,
    )
    texts = {n: str(content.get(n) or "") for n in _fields(kind) if content.get(n)}
    return render(
        request,
        "investigator/redact.html",
        {
            "case_id": case_id,
            "item_id": request.path_params["item_id"],
            "reference": reference(case_id),
            "kind": kind,
            "content": content,
            "texts": texts,
            "values": values or {},
            "field_labels": exports.FIELD_LABELS,
            "grounds": masking.GROUNDS,
            "error": error,
        },
        status=status,
    )


async def redact_view(request: Request) -> Response:
    return await redact_page(request)


async def redact_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    values = {k: v for k, v in form.items() if k != security.CSRF_FIELD}
    common = {
        "case_id": request.path_params["case_id"],
        "item_id": request.path_params["item_id"],
        "user_id": staff.user.id,
        "private_key": staff.private_key,
        "reason": form.get("reason", ""),
    }
    try:
        if form.get("action") == "delete":
            await call(
                request,
                redaction.delete_attachment,
                blob_dir=ctx(request).settings.blob_dir,
                **common,
            )
        else:
            fields = {k[2:]: v for k, v in form.items() if k.startswith("f:")}
            await call(request, redaction.redact_item, fields=fields, **common)
    except CaseNotFound:
        return not_found(request)
    except redaction.RedactionError as exc:
        return await redact_page(
            request, error=message(exc, page="redaction"), values=values, status=400
        )
    # The overwritten page versions must not linger in SQLite's write-ahead log.
    await anyio.to_thread.run_sync(db.checkpoint, ctx(request).engine)
    return redirect(f"/cases/{request.path_params['case_id']}?done=redacted")


routes = [
    Route("/cases/{case_id}/items/{item_id}/redact", redact_view, methods=["GET"]),
    Route("/cases/{case_id}/items/{item_id}/redact", redact_post, methods=["POST"]),
]
