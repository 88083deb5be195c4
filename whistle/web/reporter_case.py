"""The anonymous side, part two: opening a case with the code, and everything the reporter
does there (read, reply, files, minutes, meeting request, leave).

A reporter session holds only the case key, sealed under a secret that exists only in the
reporter's cookie. Nothing here stores a time more precise than a day, or any address.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import attachments, attempts, casecode, cases, crypto, reports, sessions
from whistle.i18n import N_
from whistle.keys import Keys
from whistle.models import Case
from whistle.web import security, uploads
from whistle.web.context import call, call_kdf, ctx, not_found, redirect, render, translate

REPORTER_COOKIE = "whistle_reporter"
REPORTER_ABSOLUTE = dt.timedelta(hours=2)
GLOBAL_BUDGET = "case-code"
E_BAD_CODE = N_(
    "We could not open a case with that code. Check the code and try again. "
    "Codes are 16 digits; spaces and dashes do not matter."
)
E_BUSY = N_("Too many attempts right now. Wait a minute and try again.")


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
        app.blob_store.batch(),
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
    return uploads.download(found, key=session.payload, store=ctx(request).blob_store)


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
    Route("/followup", followup_form, methods=["GET"]),
    Route("/followup", followup_login, methods=["POST"]),
    Route("/case", case_view, methods=["GET"]),
    Route("/case/reply", case_reply, methods=["POST"]),
    Route("/case/files/{blob_id}", case_file, methods=["GET"]),
    Route("/case/minutes", case_minutes, methods=["POST"]),
    Route("/case/meeting", case_meeting, methods=["POST"]),
    Route("/case/logout", case_logout, methods=["POST"]),
]
