"""The investigator's pages for requests for official documents: record, decide, export PDF.

No JavaScript: each item of the case is a fieldset with a decision, a ground and, for masking,
a textarea pre-filled with the original where the investigator replaces what must be hidden
by a marker like ``[[17:3b]]``. A refused form comes back with everything typed in it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import deadlines, disclosure, exports, masking
from whistle.casework import CaseworkError, reference
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.case_page import case_call
from whistle.web.context import ctx, locale_of, redirect, render
from whistle.web.errors import message


def _base(request: Request) -> str:
    return f"/cases/{request.path_params['case_id']}/requests"


async def requests_page(
    request: Request, *, error: str = "", values: dict[str, str] | None = None, status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    case_id = request.path_params["case_id"]
    found = await case_call(request, disclosure.requests, case_id=case_id, staff=staff)
    return render(
        request,
        "investigator/requests.html",
        {
            "case_id": case_id,
            "reference": reference(case_id),
            "requests": found,
            "today": deadlines.today(),
            "error": error,
            "values": values or {},
        },
        status=status,
    )


async def requests_view(request: Request) -> Response:
    return await requests_page(request)


async def requests_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    values = security.form_values(form, "received_on", "requester", "asked")
    try:
        rid = await case_call(request, disclosure.record_request, staff=staff, **values)
    except (disclosure.DisclosureError, CaseworkError) as exc:
        return await requests_page(
            request, error=message(exc, page="documents"), values=values, status=400
        )
    return redirect(f"{_base(request)}/{rid}")


async def review_page(
    request: Request,
    *,
    error: str = "",
    error_item: str = "",
    submitted: dict[str, disclosure.Choice] | None = None,
    status: int = 200,
) -> Response:
    staff = await require_staff(request, "investigator")
    found = await case_call(
        request, disclosure.review, request_id=request.path_params["request_id"], staff=staff
    )
    return render(
        request,
        "investigator/request.html",
        {
            "case_id": found.request.case_id,
            "reference": reference(found.request.case_id),
            "review": found,
            "req": found.request,
            "grounds": masking.GROUNDS,
            "text_fields": disclosure.TEXT_FIELDS,
            "never": disclosure.NEVER_RELEASED,
            "field_labels": exports.FIELD_LABELS,
            "decision_labels": exports.DECISION_LABELS,
            "prefill": _prefill(found),
            "submitted": submitted or {},
            "error": error,
            "error_item": error_item,
            "done": request.query_params.get("done", ""),
        },
        status=status,
    )


def _prefill(found: disclosure.Review) -> dict[str, str]:
    """Each textarea starts as the original, or as the masked version already decided."""
    decided = found.request.decision["items"] if found.request.decision else {}
    out = {}
    for item in found.items:
        spans = decided.get(item.id, {}).get("spans", {})
        for name in disclosure.TEXT_FIELDS.get(item.kind, ()):
            original = str(item.content.get(name) or "")
            marked = [masking.Span(int(a), int(b), str(g)) for a, b, g in spans.get(name, [])]
            out[f"{item.id}:{name}"] = masking.render(original, marked)
    return out


async def review_view(request: Request) -> Response:
    return await review_page(request)


def _choices(form: security.FormFields) -> dict[str, disclosure.Choice]:
    """Fields are named ``<item id>:decision``, ``:ground``, ``:reason``, ``:f:<field>``."""
    choices: dict[str, disclosure.Choice] = {}
    for item_id in form.getlist("item"):
        item_id = item_id[:32]
        prefix = f"{item_id}:"
        fields = {k[len(prefix) + 2 :]: v for k, v in form.items() if k.startswith(prefix + "f:")}
        choices[item_id] = disclosure.Choice(
            decision=form.get(prefix + "decision", ""),
            ground=form.get(prefix + "ground", ""),
            fields=fields,
            reason=form.get(prefix + "reason", ""),
        )
    return choices


async def decide_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request, max_fields=2000)
    choices = _choices(form)
    try:
        await case_call(
            request,
            disclosure.decide,
            request_id=request.path_params["request_id"],
            staff=staff,
            choices=choices,
        )
    except disclosure.DisclosureError as exc:
        return await review_page(
            request,
            error=message(exc, page="documents"),
            error_item=exc.item_id,
            submitted=choices,
            status=400,
        )
    return redirect(f"{_base(request)}/{request.path_params['request_id']}?done=decided")


async def export_pdf(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    try:
        data = await case_call(
            request,
            exports.export_decision,
            request_id=request.path_params["request_id"],
            staff=staff,
            organisation=ctx(request).settings.organisation,
            locale=locale_of(request),
        )
    except disclosure.DisclosureError as exc:
        return await review_page(request, error=message(exc, page="documents"), status=400)
    name = f"beslut-{reference(request.path_params['case_id'])}.pdf"
    return Response(
        data,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


routes = [
    Route("/cases/{case_id}/requests", requests_view, methods=["GET"]),
    Route("/cases/{case_id}/requests", requests_post, methods=["POST"]),
    Route("/cases/{case_id}/requests/{request_id}", review_view, methods=["GET"]),
    Route("/cases/{case_id}/requests/{request_id}/decide", decide_post, methods=["POST"]),
    Route("/cases/{case_id}/requests/{request_id}/export.pdf", export_pdf, methods=["GET"]),
]
