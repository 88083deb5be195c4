"""The anonymous side, part two: opening a case with the code, and everything the reporter
does there (read, reply, files, minutes, meeting request, leave).

A reporter session holds only the case key, sealed under a secret that exists only in the
reporter's cookie. Nothing here stores a time more precise than a day, or any address.
"""

from __future__ import annotations

import datetime as dt
import functools

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import (
    attachments,
    attempts,
    case_codes,
    cases,
    numbers,
    records,
    reports,
    sessions,
)
from whistle.derivation import Overloaded
from whistle.i18n import N_
from whistle.models import Case
from whistle.web import security, uploads
from whistle.web.context import call, commit, ctx, not_found, redirect, render, translate

REPORTER_COOKIE = "whistle_reporter"
REPORTER_ABSOLUTE = dt.timedelta(hours=2)
E_BAD_CODE = N_(
    "We could not open a case with that code. Check the code and try again. "
    "Codes are 16 digits; spaces and dashes do not matter."
)
E_BUSY = N_("Too many attempts right now. Wait a minute and try again.")
E_OVERLOADED = N_(
    "The service is busy right now. Wait %(seconds)s seconds and enter the code again."
)


async def followup_form(request: Request) -> Response:
    return _login_page(request)


def _login_page(
    request: Request,
    *,
    error: str = "",
    pending: str = "",
    meeting: str | None = None,
    status: int = 200,
    **extra: object,
) -> Response:
    # ``pending``: a reply typed before the session expired; ``meeting``: a meeting request
    # (its text is optional, so ``None`` means none was asked for). Both live only in this page
    # (the browser sends them back with the code); the server never stores them.
    context = {
        "error": error,
        "pending_text": pending[: reports.MAX_TEXT],
        "pending_meeting": None if meeting is None else meeting[: reports.MAX_SHORT],
        **extra,
    }
    return render(request, "reporter/login.html", context, status=status)


def _pending_meeting(form: security.FormFields) -> str | None:
    """The meeting request carried through the code form, or None if there is none."""
    return form.get("pending_meeting", "") if form.get("pending_meeting_asked") == "1" else None


async def followup_login(request: Request) -> Response:
    form = await security.read_form(request)
    pending = form.get("pending_text", "")
    page = functools.partial(_login_page, request, pending=pending, meeting=_pending_meeting(form))
    app = ctx(request)
    try:
        # Malformed input is refused before any derivation and counts for nothing: it costs
        # the server nothing, so counting it would only hand an attacker a cheap lockout.
        code = case_codes.normalise(form.get("code", ""))
    except case_codes.MalformedCode:
        return page(error=E_BAD_CODE, status=400)
    # Bound to the browser's anonymous CSRF cookie, never to an address.
    browser_token = request.cookies.get(security.csrf_cookie(request), "")
    if await call(
        request,
        attempts.case_code_refused,
        browser_token=browser_token,
        limit=app.settings.session_attempts,
    ):
        response = page(error=E_BUSY, status=429)
        response.headers["retry-after"] = "60"
        return response
    try:
        # Derivation first, outside any transaction; lookup second: a wrong code costs exactly
        # what a right one does.
        access = await app.deriver.case_access(code, app.keys.pepper)
    except Overloaded as exc:
        error = translate(request, E_OVERLOADED, seconds=exc.retry_after)
        response = page(error=error, status=503)
        response.headers["retry-after"] = str(exc.retry_after)
        return response
    opened = await call(
        request,
        attempts.open_case,
        access=access,
        browser_token=browser_token,
        lifetime=REPORTER_ABSOLUTE,
    )
    if opened is None:
        return page(error=E_BAD_CODE, status=400)
    cookie = opened.cookie
    if opened.handed_over:
        # Nothing is done with a code an investigator saw: the reporter takes their own first.
        response = redirect("/case/new-code")
        security.set_cookie(response, request, REPORTER_COOKIE, cookie)
        return response
    meeting = _pending_meeting(form)
    done: Response | None = None
    if pending.strip() or meeting is not None:
        done = await _send_pending(request, cookie=cookie, text=pending, meeting=meeting)
    done = done or redirect("/case")
    security.set_cookie(done, request, REPORTER_COOKIE, cookie)
    return done


async def _send_pending(
    request: Request, *, cookie: str, text: str, meeting: str | None
) -> Response | None:
    """Send the reply or meeting request that was typed when the session expired, now that
    the code is known (WCAG 2.2.1: nothing typed is lost at the timeout). On an error the case
    page shows it with the text back in its box; ``None`` when the session vanished meanwhile."""
    idle = dt.timedelta(minutes=ctx(request).settings.reporter_idle_minutes)
    session = await call(request, _load, cookie=cookie, idle=idle)
    if session is None or session.case_id is None:
        return None
    keys = {"case_id": session.case_id, "case_key": session.payload}
    try:
        if text.strip():
            await call(request, reports.reply, **keys, text=text)
            text = ""  # sent: not handed back if the meeting request below is refused
        if meeting is not None:
            days = ctx(request).settings.meeting_days
            await call(request, reports.request_meeting, **keys, text=meeting, meeting_days=days)
    except reports.InvalidReport as exc:
        return await case_page(
            request, errors=exc.errors, text=text, meeting=meeting, status=400, session=session
        )
    return redirect("/case?sent=1#thread-end")


def _load(db: Session, *, cookie: str | None, idle: dt.timedelta) -> sessions.LoadedSession | None:
    return sessions.load(db, cookie, kind="reporter", idle=idle)


async def reporter_session(request: Request) -> sessions.LoadedSession | None:
    idle = dt.timedelta(minutes=ctx(request).settings.reporter_idle_minutes)
    return await call(request, _load, cookie=request.cookies.get(REPORTER_COOKIE), idle=idle)


def _case_page(
    db: Session, *, case_id: str, case_key: bytes, show_register: bool
) -> dict[str, object]:
    case = db.get(Case, case_id)
    if case is None:
        raise cases.CaseNotFound()
    items = cases.open_items(db, case_id=case_id, case_key=case_key, reporter_view=True)
    versions = [i.content["version"] for i in items if i.kind == "minutes"]
    answered = {i.content["version"] for i in items if i.kind == "minutes_response"}
    pending = max(versions) if versions and max(versions) not in answered else None
    # The register number is shown only when the function chooses to (a reporter who keeps it
    # could be linked to a request for the document; see docs/public-sector.md).
    entry = records.register_entry(db, case_id=case_id) if show_register else None
    news, earlier = _split_new(items)
    return {
        "handed_approvals": reports.handed_approvals(items, channel=case.channel),
        "case": case,
        "items": items,
        "news": news,
        "earlier": earlier,
        "pending_minutes": pending,
        "register_entry": entry,
    }


def _split_new(
    items: list[cases.OpenedItem],
) -> tuple[list[cases.OpenedItem], list[cases.OpenedItem]]:
    """What the investigators wrote since the reporter's last word, and everything before it.

    On a phone the reply box comes right after what is new; the rest of the thread is folded
    below it, so a long case does not push the reply out of reach.
    """
    last_own = max((n for n, i in enumerate(items) if i.author == "reporter"), default=-1)
    return items[last_own + 1 :], items[: last_own + 1]


def _expired(
    request: Request,
    *,
    pending: str = "",
    meeting: str | None = None,
    files_dropped: bool = False,
) -> Response:
    response = _login_page(
        request,
        pending=pending,
        meeting=meeting,
        status=401,
        expired=True,
        files_dropped=files_dropped,
    )
    security.clear_cookie(response, request, REPORTER_COOKIE)
    return response


async def case_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    text: str = "",
    meeting: str | None = None,
    status: int = 200,
    session: sessions.LoadedSession | None = None,
) -> Response:
    session = session or await reporter_session(request)
    if session is None or session.case_id is None:
        return _expired(request)
    try:
        page = await call(
            request,
            _case_page,
            case_id=session.case_id,
            case_key=session.payload,
            show_register=ctx(request).settings.register_show_reporter,
        )
    except cases.CaseNotFound:
        return _expired(request)
    case = page["case"]
    if isinstance(case, Case) and case.code_handed_over:
        return redirect("/case/new-code")
    return render(
        request,
        "reporter/case.html",
        {
            **page,
            "errors": errors or {},
            "text": text,
            "meeting_text": meeting or "",
            "sent": request.query_params.get("sent"),
            "refused": uploads.E_DISK_FULL if request.query_params.get("nospace") else "",
            "bad_voice": attachments.E_BAD_VOICE if request.query_params.get("badvoice") else "",
            "voice_minutes": ctx(request).settings.voice_max_minutes,
        },
        status=status,
    )


async def case_view(request: Request) -> Response:
    return await case_page(request)


async def case_reply(request: Request) -> Response:
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        # No key to seal files under: only the text is read, and handed back in the page.
        fields, files_dropped = await uploads.text_only(request)
        return _expired(request, pending=fields.get("text", ""), files_dropped=files_dropped)
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
        if upload.bad_voice and not text.strip() and not upload.files:
            # Only the voice message was sent, and it could not be used: nothing to file.
            errors = {"files": upload.bad_voice}
            return await case_page(request, errors=errors, text=text, status=400)
        await commit(
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
    except reports.CodeHandedOver:
        return redirect("/case/new-code")
    except attachments.CaseFull:
        limit = uploads.megabytes(app.settings.max_case_bytes)
        error = translate(request, attachments.E_CASE_FULL, limit=limit)
        return await case_page(request, errors={"files": error}, text=text, status=413)
    finally:
        upload.batch.discard()
    # The notes about refused files are fixed messages: nothing typed goes into the URL.
    notes = ("&nospace=1" if upload.refused else "") + ("&badvoice=1" if upload.bad_voice else "")
    return redirect(f"/case?sent=1{notes}#thread-end")


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
            version=numbers.parse(raw_version, max_digits=5) or 0,
            approved=form.get("decision") == "approve",
            text=form.get("corrections", ""),
        )
    except reports.InvalidReport as exc:
        return await case_page(request, errors=exc.errors, status=400)
    except reports.CodeHandedOver:
        return redirect("/case/new-code")
    return redirect("/case?sent=1#thread-end")


async def new_code_form(request: Request) -> Response:
    """After an oral report: why the reporter takes a code of their own, and the button."""
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        return _expired(request)
    if not await call(request, _handed_over, case_id=session.case_id):
        return redirect("/case")  # the code is the reporter's own already
    return render(request, "reporter/new_code.html", {"code": None})


def _handed_over(db: Session, *, case_id: str) -> bool:
    case = db.get(Case, case_id)
    return case is not None and case.code_handed_over


async def new_code(request: Request) -> Response:
    """Replace the handed-over code: the new one is shown once, in this response only."""
    await security.read_form(request)
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        return _expired(request)
    app = ctx(request)
    code = case_codes.generate()
    try:
        access = await app.deriver.case_access(code, app.keys.pepper)
        await call(
            request,
            reports.replace_code,
            case_id=session.case_id,
            case_key=session.payload,
            access=access,
        )
    except Overloaded as exc:
        error = translate(request, E_OVERLOADED, seconds=exc.retry_after)
        return render(request, "reporter/new_code.html", {"code": None, "error": error}, 503)
    except cases.CaseNotFound:
        return redirect("/case")  # already their own code
    return render(request, "reporter/new_code.html", {"code": case_codes.grouped(code)})


async def case_meeting(request: Request) -> Response:
    form = await security.read_form(request)
    text = form.get("text", "")
    session = await reporter_session(request)
    if session is None or session.case_id is None:
        # Kept in the code form only, and sent once the code is entered.
        return _expired(request, meeting=text)
    try:
        await call(
            request,
            reports.request_meeting,
            case_id=session.case_id,
            case_key=session.payload,
            text=text,
            meeting_days=ctx(request).settings.meeting_days,
        )
    except reports.InvalidReport as exc:
        return await case_page(request, errors=exc.errors, meeting=text, status=400)
    except reports.CodeHandedOver:
        return redirect("/case/new-code")
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
    Route("/case/new-code", new_code_form, methods=["GET"]),
    Route("/case/new-code", new_code, methods=["POST"]),
    Route("/case/reply", case_reply, methods=["POST"]),
    Route("/case/files/{blob_id}", case_file, methods=["GET"]),
    Route("/case/minutes", case_minutes, methods=["POST"]),
    Route("/case/meeting", case_meeting, methods=["POST"]),
    Route("/case/logout", case_logout, methods=["POST"]),
]
