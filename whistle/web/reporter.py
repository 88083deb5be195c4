"""The anonymous side, part one: the landing page, the report form and the case code.

No page here has a script, and nothing is loaded from another origin. What a reporter does
with the code afterwards is in :mod:`whistle.web.reporter_case`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import escape
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from whistle import (
    attachments,
    case_codes,
    crypto,
    names,
    numbers,
    records,
    reports,
    routing,
)
from whistle.derivation import Overloaded
from whistle.i18n import N_
from whistle.models import User, new_id
from whistle.web import security, uploads
from whistle.web.context import (
    call,
    commit,
    ctx,
    locale_of,
    render,
    translate,
)

E_NO_READERS = N_(
    "The channel cannot take reports in this category right now. Choose another category, "
    "or use another way to report (see How to report)."
)
E_BUSY = N_(
    "The service is busy right now, and your report has not been sent yet. Everything you "
    "typed is still here: wait %(seconds)s seconds and send it again."
)
E_CHOOSE_FILES_AGAIN = N_("Your files were not kept: choose them again before you send.")
REPORT_FIELDS = (
    "unit",
    "category",
    "what",
    "when_where",
    "who",
    "how_known",
    "mode",
    "name",
    "contact",
    "waive_ack",
    "meeting",
    "confirm_triage",
)


def _landing_variant(request: Request) -> tuple[str, bool, bool]:
    """Everything the landing page depends on: locale, network warning, logged-out notice."""
    return (
        locale_of(request),
        bool(getattr(request.state, "employer_network", False)),
        bool(request.query_params.get("logged_out")),
    )


async def landing(request: Request) -> Response:
    # The first page every reporter (and every flood) hits is the same document for all visitors
    # of one variant, so it is rendered once per variant and app instead of on every request
    # (rendering was most of its cost: see docs/performance.md, landing_vs_bare).
    cache = ctx(request).landing_pages
    key = _landing_variant(request)
    token = security.csrf_token(request)  # the browser's CSRF cookie is set here as before
    body = cache.get(key)
    if body is None:
        response = render(request, "reporter/landing.html")
        # Never keep a page that carries this visitor's CSRF token (a form added later).
        if token.encode() not in response.body:
            cache[key] = bytes(response.body)
        return response
    response = HTMLResponse(body)
    security.finish_csrf(request, response)
    return response


# How long a rendered empty form is served before the units and categories are read again.
# An administrator's change shows on every replica within this time; a choice withdrawn
# meanwhile is still refused when the report is sent (reports.submit checks the database).
FORM_TTL_SECONDS = 5.0
# Stands where the visitor's CSRF token goes in a stored form; a NUL never occurs in a page.
_TOKEN_SLOT = b"\x00csrf\x00"


async def report_form(request: Request) -> Response:
    """The empty report form: the page every reporter opens, so it is rendered once per
    variant (locale, network warning) every few seconds and stored with a slot for the CSRF
    token, instead of a database transaction and a full render per visit. Nothing is stored
    per visitor: the token lives in the visitor's cookie, as on every page.
    (docs/performance.md, report_form_vs_bare)"""
    cache = ctx(request).report_forms
    key = _landing_variant(request)
    token = security.csrf_token(request)
    stored = cache.get(key)
    if stored is not None and time.monotonic() - stored[0] < FORM_TTL_SECONDS:
        body = stored[1].replace(_TOKEN_SLOT, str(escape(token)).encode())
        response = HTMLResponse(body)
        security.finish_csrf(request, response)
        return response
    choices = await call(request, routing.report_choices)
    response = render(
        request,
        "reporter/form.html",
        {**choices, "values": {"mode": ""}, "errors": {}, "preview": None, "excluded": []},
    )
    cache[key] = (
        time.monotonic(),
        bytes(response.body).replace(str(escape(token)).encode(), _TOKEN_SLOT),
    )
    return response


def _route_of(form: Mapping[str, str]) -> tuple[int | None, int | None, bool]:
    """(category, unit, valid) as chosen in the form; category None means "don't know"."""
    raw_category, raw_unit = form.get("category", ""), form.get("unit", "")
    category, unit = numbers.parse(raw_category), numbers.parse(raw_unit)
    return category, unit, category is not None or raw_category == reports.UNKNOWN


@dataclass(frozen=True)
class Preview:
    designated: list[User]
    recipients: routing.Recipients
    # How each person is named: never two that look the same (whistle/names.py).
    labels: dict[str, str]

    @property
    def reader_names(self) -> str:
        return ", ".join(self.labels[u.id] for u in self.recipients.readers)


def _preview(
    db: Session, *, category_id: int | None, unit_id: int | None, excluded: tuple[str, ...]
) -> Preview:
    designated = routing.designated(db, category_id=category_id, unit_id=unit_id)
    recipients = routing.recipients(db, category_id=category_id, unit_id=unit_id, excluded=excluded)
    shown = {u.id: u for u in [*designated, *recipients.readers]}
    return Preview(designated, recipients, names.labels(shown.values()))


async def _form_again(
    request: Request,
    form: security.FormFields,
    *,
    errors: dict[str, str] | None = None,
    general: str = "",
    preview: Preview | None = None,
    status: int = 400,
) -> Response:
    choices = await call(request, routing.report_choices)
    return render(
        request,
        "reporter/form.html",
        {
            **choices,
            "values": security.form_values(form, *REPORT_FIELDS),
            "errors": errors or {},
            "general_error": general,
            "preview": preview,
            "excluded": form.getlist("exclude"),
        },
        status=status,
    )


async def submit_report(request: Request) -> Response:
    # The case key and id exist before the body is read: files are sealed to them as they arrive.
    app = ctx(request)
    upload = uploads.Upload(
        app.blob_store.batch(),
        crypto.random_key(),
        new_id(),
        app.settings.max_case_bytes,
    )
    try:
        return await _submit_report(request, upload)
    finally:
        upload.batch.discard()  # a no-op once the case committed (BlobBatch.keep)


async def _readers_first(
    request: Request, form: security.FormFields, excluded: tuple[str, ...]
) -> Response | None:
    """The form with who would read the report (jäv), when asked or needed before storing."""
    category_id, unit_id, valid_route = _route_of(form)
    if form.get("action") != "readers" and not (excluded and form.get("confirm_triage") != "yes"):
        return None
    if not valid_route:
        return await _form_again(request, form, errors={"category": reports.E_CHOICE})
    preview = await call(
        request, _preview, category_id=category_id, unit_id=unit_id, excluded=excluded
    )
    asked = form.get("action") == "readers"
    if asked or (preview.recipients.to_triage and category_id is not None):
        return await _form_again(request, form, preview=preview, status=200)
    return None


async def _submit_report(request: Request, upload: uploads.Upload) -> Response:
    app = ctx(request)
    form, too_large = await uploads.receive_files(request, upload, used=0)
    if too_large:
        return await _form_again(request, form, general=too_large, status=413)
    excluded = tuple(x[:32] for x in form.getlist("exclude")[:50])
    shown = await _readers_first(request, form, excluded)
    if shown is not None:
        return shown
    code = case_codes.generate()
    try:
        # Derived before the transaction opens: on SQLite every transaction takes the write
        # lock at BEGIN (whistle.db), and a derivation inside one would queue every other
        # request behind it (docs/performance.md, scale_2workers).
        access = await app.deriver.case_access(code, app.keys.pepper)
        await commit(
            request,
            upload.batch,
            reports.file_report,
            form=form,
            excluded=excluded,
            access=access,
            keys=app.keys,
            case_key=upload.key,
            case_id=upload.case_id,
            files=upload.files,
            batch=upload.batch,
            max_case_bytes=upload.max_case_bytes,
            records_config=records.RecordsConfig.from_settings(app.settings),
            meeting_days=app.settings.meeting_days,
        )
    except Overloaded as exc:
        # Nothing is lost that can be kept: the form comes back with everything typed.
        message = translate(request, E_BUSY, seconds=exc.retry_after)
        if upload.files:
            message += " " + translate(request, E_CHOOSE_FILES_AGAIN)
        response = await _form_again(request, form, general=message, status=503)
        response.headers["retry-after"] = str(exc.retry_after)
        return response
    except reports.InvalidReport as exc:
        # A voice message that could not be used is said first: it may be why "what
        # happened" is missing.
        return await _form_again(request, form, errors=exc.errors, general=upload.bad_voice)
    except reports.NoReaders:
        return await _form_again(request, form, general=E_NO_READERS)
    except attachments.CaseFull:
        limit = uploads.megabytes(app.settings.max_case_bytes)
        message = translate(request, attachments.E_CASE_FULL, limit=limit)
        return await _form_again(request, form, general=message, status=413)
    # The code is rendered once, in this response, and never stored or redirected with.
    return render(
        request,
        "reporter/receipt.html",
        {
            "code": case_codes.grouped(code),
            "files": upload.files,
            "refused": upload.refused,
            "bad_voice": upload.bad_voice,
        },
    )


routes = [
    Route("/", landing, methods=["GET"]),
    Route("/report", report_form, methods=["GET"]),
    Route("/report", submit_report, methods=["POST"]),
]
