"""The anonymous side: landing page, report form, case code, follow-up with the code.

No page here has a script, and nothing is loaded from another origin. A reporter session holds
only the case key, sealed under a secret that exists only in the reporter's cookie.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from whistle import (
    attachments,
    attempts,
    blobs,
    casecode,
    cases,
    crypto,
    reports,
    routing,
    sessions,
)
from whistle.i18n import N_
from whistle.keys import Keys
from whistle.models import Case, User, new_id
from whistle.web import security, uploads
from whistle.web.context import (
    call,
    call_kdf,
    ctx,
    locale_of,
    not_found,
    redirect,
    render,
    translate,
)

REPORTER_COOKIE = "whistle_reporter"
REPORTER_ABSOLUTE = dt.timedelta(hours=2)
GLOBAL_BUDGET = "case-code"
E_BAD_CODE = N_(
    "We could not open a case with that code. Check the code and try again. "
    "Codes are 16 digits; spaces and dashes do not matter."
)
E_BUSY = N_("Too many attempts right now. Wait a minute and try again.")
E_NO_READERS = N_(
    "The channel cannot take reports in this category right now. Choose another category, "
    "or use another way to report (see How to report)."
)
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
    cache: dict[tuple[str, bool, bool], bytes] | None = getattr(
        request.app.state, "landing_pages", None
    )
    if cache is None:
        cache = request.app.state.landing_pages = {}
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


def _choices(db: Session) -> dict[str, object]:
    return {"categories": routing.active_categories(db), "units": routing.active_units(db)}


async def report_form(request: Request) -> Response:
    choices = await call(request, _choices)
    return render(
        request,
        "reporter/form.html",
        {**choices, "values": {"mode": ""}, "errors": {}, "preview": None, "excluded": []},
    )


def _route_of(form: Mapping[str, str]) -> tuple[int | None, int | None, bool]:
    """(category, unit, valid) as chosen in the form; category None means "don't know"."""
    raw_category, raw_unit = form.get("category", ""), form.get("unit", "")
    category = int(raw_category) if raw_category.isdigit() and len(raw_category) < 10 else None
    unit = int(raw_unit) if raw_unit.isdigit() and len(raw_unit) < 10 else None
    return category, unit, category is not None or raw_category == reports.UNKNOWN


@dataclass(frozen=True)
class Preview:
    designated: list[User]
    recipients: routing.Recipients


def _preview(
    db: Session, *, category_id: int | None, unit_id: int | None, excluded: tuple[str, ...]
) -> Preview:
    return Preview(
        designated=routing.designated(db, category_id=category_id, unit_id=unit_id),
        recipients=routing.recipients(
            db, category_id=category_id, unit_id=unit_id, excluded=excluded
        ),
    )


def _derive_and_submit(
    db: Session,
    *,
    form: Mapping[str, str],
    excluded: tuple[str, ...],
    code: str,
    keys: Keys,
    params: crypto.Argon2Params,
    upload: uploads.Upload,
) -> str:
    # Derive before the first query: on SQLite every transaction takes the write lock at BEGIN
    # (whistle.db), so deriving after it held the lock through the derivation and serialised
    # every submission and every other request behind it (docs/performance.md, scale_2workers).
    access = crypto.derive_case_access(code, keys.pepper, params)
    report = reports.parse_report(
        form,
        categories=routing.active_categories(db),
        units=routing.active_units(db),
        excluded=excluded,
    )
    case_id = reports.submit(
        db, report=report, access=access, keys=keys, case_key=upload.key, case_id=upload.case_id
    )
    case = db.get(Case, case_id)
    assert case is not None
    attachments.attach(
        db,
        case=case,
        case_key=upload.key,
        files=upload.files,
        batch=upload.batch,
        author="reporter",
        max_case_bytes=upload.max_case_bytes,
    )
    return case_id


async def _form_again(
    request: Request,
    form: security.FormFields,
    *,
    errors: dict[str, str] | None = None,
    general: str = "",
    preview: Preview | None = None,
    status: int = 400,
) -> Response:
    choices = await call(request, _choices)
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
        blobs.BlobBatch(app.settings.blob_dir),
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
    code = casecode.generate()
    try:
        await uploads.commit(
            request,
            upload.batch,
            _derive_and_submit,
            kdf=True,
            form=form,
            excluded=excluded,
            code=code,
            keys=app.keys,
            params=app.settings.argon2,
            upload=upload,
        )
    except reports.InvalidReport as exc:
        return await _form_again(request, form, errors=exc.errors)
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
        {"code": casecode.grouped(code), "files": upload.files},
    )


async def followup_form(request: Request) -> Response:
    return render(request, "reporter/login.html", {"error": ""})


def _session_budget_key(request: Request) -> str:
    # Bound to the browser's anonymous CSRF cookie, never to an address.
    cookie = request.cookies.get(security.CSRF_COOKIE, "")
    return "case-code-session:" + crypto.digest(cookie)[:12].hex()


def _login(
    db: Session,
    *,
    code: str,
    keys: Keys,
    params: crypto.Argon2Params,
    lifetime: dt.timedelta,
) -> str | None:
    # Derivation first, lookup second: a wrong code costs exactly what a right one does.
    access = crypto.derive_case_access(code, keys.pepper, params)
    try:
        case_id, case_key = reports.open_as_reporter(db, access=access)
    except cases.CaseNotFound:
        return None
    return sessions.create(
        db, kind="reporter", payload=case_key, case_id=case_id, lifetime=lifetime
    )


def _over_budget(db: Session, *, session_key: str, global_limit: int, session_limit: int) -> bool:
    return (
        attempts.count(db, GLOBAL_BUDGET, seconds=60) >= global_limit
        or attempts.count(db, session_key, seconds=600) >= session_limit
    )


def _record_failure(db: Session, *, session_key: str) -> None:
    attempts.record(db, GLOBAL_BUDGET, seconds=60)
    attempts.record(db, session_key, seconds=600)


async def followup_login(request: Request) -> Response:
    form = await security.read_form(request)
    app = ctx(request)
    session_key = _session_budget_key(request)
    if await call(
        request,
        _over_budget,
        session_key=session_key,
        global_limit=app.settings.code_attempts_per_minute,
        session_limit=app.settings.session_attempts,
    ):
        response = render(request, "reporter/login.html", {"error": E_BUSY}, status=429)
        response.headers["retry-after"] = "60"
        return response
    try:
        code = casecode.normalise(form.get("code", ""))
    except casecode.MalformedCode:
        await call(request, _record_failure, session_key=session_key)
        return render(request, "reporter/login.html", {"error": E_BAD_CODE}, status=400)
    cookie = await call_kdf(
        request,
        _login,
        code=code,
        keys=app.keys,
        params=app.settings.argon2,
        lifetime=REPORTER_ABSOLUTE,
    )
    if cookie is None:
        await call(request, _record_failure, session_key=session_key)
        return render(request, "reporter/login.html", {"error": E_BAD_CODE}, status=400)
    done = redirect("/case")
    security.set_cookie(done, request, REPORTER_COOKIE, cookie)
    return done


def _load(db: Session, *, cookie: str | None, idle: dt.timedelta) -> sessions.LoadedSession | None:
    return sessions.load(db, cookie, kind="reporter", idle=idle)


async def reporter_session(request: Request) -> sessions.LoadedSession | None:
    idle = dt.timedelta(minutes=ctx(request).settings.reporter_idle_minutes)
    return await call(request, _load, cookie=request.cookies.get(REPORTER_COOKIE), idle=idle)


def _case_page(db: Session, *, case_id: str, case_key: bytes) -> dict[str, object]:
    case = db.get(Case, case_id)
    if case is None:
        raise cases.CaseNotFound()
    items = cases.open_items(db, case_id=case_id, case_key=case_key, reporter_view=True)
    versions = [i.content["version"] for i in items if i.kind == "minutes"]
    answered = {i.content["version"] for i in items if i.kind == "minutes_response"}
    pending = max(versions) if versions and max(versions) not in answered else None
    return {"case": case, "items": items, "pending_minutes": pending}


def _expired(request: Request) -> Response:
    response = render(request, "reporter/login.html", {"error": "", "expired": True}, status=401)
    security.clear_cookie(response, request, REPORTER_COOKIE)
    return response


async def case_page(
    request: Request, *, errors: dict[str, str] | None = None, text: str = "", status: int = 200
) -> Response:
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        return _expired(request)
    try:
        page = await call(request, _case_page, case_id=session.case_id, case_key=session.payload)
    except cases.CaseNotFound:
        return _expired(request)
    return render(
        request,
        "reporter/case.html",
        {**page, "errors": errors or {}, "text": text, "sent": request.query_params.get("sent")},
        status=status,
    )


async def case_view(request: Request) -> Response:
    return await case_page(request)


async def case_reply(request: Request) -> Response:
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        return _expired(request)  # the body is not read: no key to seal its files under
    app = ctx(request)
    used = await call(request, attachments.case_bytes, case_id=session.case_id)
    upload = uploads.Upload(
        blobs.BlobBatch(app.settings.blob_dir),
        session.payload,
        session.case_id,
        app.settings.max_case_bytes,
    )
    try:
        form, too_large = await uploads.receive_files(request, upload, used=used)
        text = form.get("text", "")
        if too_large:
            return await case_page(request, errors={"files": too_large}, text=text, status=413)
        await uploads.commit(
            request,
            upload.batch,
            attachments.reporter_reply,
            case_id=session.case_id,
            case_key=session.payload,
            text=text,
            files=upload.files,
            batch=upload.batch,
            max_case_bytes=app.settings.max_case_bytes,
        )
    except reports.InvalidReport as exc:
        return await case_page(request, errors=exc.errors, text=text, status=400)
    except attachments.CaseFull:
        limit = uploads.megabytes(app.settings.max_case_bytes)
        error = translate(request, attachments.E_CASE_FULL, limit=limit)
        return await case_page(request, errors={"files": error}, text=text, status=413)
    finally:
        upload.batch.discard()
    return redirect("/case?sent=1#thread-end")


async def case_file(request: Request) -> Response:
    """The reporter's own files and the investigators' files sent to them. Not audited: the
    times of a reporter's downloads could identify them."""
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        return _expired(request)
    try:
        found = await call(
            request,
            attachments.find,
            blob_dir=ctx(request).settings.blob_dir,
            case_id=session.case_id,
            case_key=session.payload,
            blob_id=request.path_params["blob_id"],
            reporter_view=True,
        )
    except attachments.AttachmentNotFound:
        return not_found(request)
    return uploads.download(found, key=session.payload)


async def case_minutes(request: Request) -> Response:
    form = await security.read_form(request)
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        return _expired(request)
    raw_version = form.get("version", "")
    try:
        await call(
            request,
            reports.respond_to_minutes,
            case_id=session.case_id,
            case_key=session.payload,
            version=int(raw_version) if raw_version.isdigit() and len(raw_version) < 6 else 0,
            approved=form.get("decision") == "approve",
            text=form.get("corrections", ""),
        )
    except reports.InvalidReport as exc:
        return await case_page(request, errors=exc.errors, status=400)
    return redirect("/case?sent=1#thread-end")


async def case_meeting(request: Request) -> Response:
    form = await security.read_form(request)
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        return _expired(request)
    try:
        await call(
            request,
            reports.request_meeting,
            case_id=session.case_id,
            case_key=session.payload,
            text=form.get("text", ""),
        )
    except reports.InvalidReport as exc:
        return await case_page(request, errors=exc.errors, status=400)
    return redirect("/case?sent=1#thread-end")


async def case_logout(request: Request) -> Response:
    await security.read_form(request)
    await call(request, sessions.destroy, cookie=request.cookies.get(REPORTER_COOKIE))
    response = redirect("/?logged_out=1")
    security.clear_cookie(response, request, REPORTER_COOKIE)
    return response


routes = [
    Route("/", landing, methods=["GET"]),
    Route("/report", report_form, methods=["GET"]),
    Route("/report", submit_report, methods=["POST"]),
    Route("/followup", followup_form, methods=["GET"]),
    Route("/followup", followup_login, methods=["POST"]),
    Route("/case", case_view, methods=["GET"]),
    Route("/case/reply", case_reply, methods=["POST"]),
    Route("/case/files/{blob_id}", case_file, methods=["GET"]),
    Route("/case/minutes", case_minutes, methods=["POST"]),
    Route("/case/meeting", case_meeting, methods=["POST"]),
    Route("/case/logout", case_logout, methods=["POST"]),
]
