"""The investigator's pages: inbox, case, replies, notes, acknowledgement, status."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import (
    approvals,
    attachments,
    casework,
    deadlines,
    records,
    workbench,
)
from whistle import inbox as inbox_query
from whistle.cases import STATUS_LABELS, STATUSES, CaseNotFound
from whistle.models import Category, Unit, User
from whistle.web import security, uploads
from whistle.web.auth import require_staff
from whistle.web.case_page import act_on_case, case_call, case_page, unlock_with_usage
from whistle.web.context import call, commit, ctx, not_found, redirect, render, translate
from whistle.web.errors import message

PAGE_SIZE = 50


def _labels(db: Session) -> dict[str, dict[int, Category | Unit]]:
    return {
        "categories": {c.id: c for c in db.exec(select(Category)).all() if c.id is not None},
        "units": {u.id: u for u in db.exec(select(Unit)).all() if u.id is not None},
    }


def _inbox(
    db: Session, *, user_id: str, query: inbox_query.InboxQuery, today: dt.date
) -> dict[str, object]:
    found = inbox_query.inbox(db, user_id=user_id, query=query, page_size=PAGE_SIZE, today=today)
    leads = {row.lead_id for row in found.rows if row.lead_id}
    return {
        "inbox": found,
        "counts": inbox_query.counts(db, user_id=user_id, today=today),
        "tags": {t.id: t for t in workbench.labels(db) if t.id is not None},
        "leads": {
            u.id: u.display_name for u in db.exec(select(User).where(col(User.id).in_(leads)))
        }
        if leads
        else {},
        # Four eyes: every investigator notices new readers and changes to who reads.
        "readers": approvals.notice(db),
        **_labels(db),
    }


async def inbox(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    query = inbox_query.InboxQuery.parse(request.query_params)
    today = deadlines.today()
    data = await call(request, _inbox, user_id=staff.user.id, query=query, today=today)
    return render(
        request,
        "investigator/inbox.html",
        {
            **data,
            "query": query,
            "statuses": STATUSES,
            "status_labels": STATUS_LABELS,
            "user": staff.user,
            "today": today,
            "soon_days": 3,
        },
    )


async def case_view(request: Request) -> Response:
    return await case_page(request)


async def case_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    case_id = request.path_params["case_id"]
    # The case key is needed before the body is read: files are sealed as they arrive.
    key, used = await case_call(request, unlock_with_usage, case_id=case_id, staff=staff)
    settings = ctx(request).settings
    upload = uploads.Upload(ctx(request).blob_store.batch(), key, case_id, settings.max_case_bytes)
    kind, text = "", ""
    try:
        form, too_large = await uploads.receive_files(request, upload, used=used)
        kind, text = form.get("kind", ""), form.get("text", "")
        if too_large:
            return await case_page(request, error=too_large, drafts={kind: text}, status=413)
        await commit(
            request,
            upload.batch,
            attachments.investigator_post,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
            kind=kind,
            text=text,
            files=upload.files,
            batch=upload.batch,
            max_case_bytes=settings.max_case_bytes,
        )
    except CaseNotFound:
        return not_found(request)
    except casework.CaseworkError as exc:
        error = message(exc)
        return await case_page(request, error=error, drafts={kind: text}, status=400)
    except attachments.CaseFull:
        limit = uploads.megabytes(settings.max_case_bytes)
        error = translate(request, attachments.E_CASE_FULL, limit=limit)
        return await case_page(request, error=error, drafts={kind: text}, status=413)
    finally:
        upload.batch.discard()
    return redirect(f"/cases/{case_id}?done={kind}#thread-end")


async def case_file(request: Request) -> Response:
    """Download a file of a case this investigator holds; every download is audited."""
    return await _case_file(request, play=False)


async def case_recording(request: Request) -> Response:
    """Stream a recording to the case page's player; every play is audited."""
    return await _case_file(request, play=True)


async def _case_file(request: Request, *, play: bool) -> Response:
    staff = await require_staff(request, "investigator")
    try:
        found, key = await call(
            request,
            attachments.find_for_investigator,
            blob_dir=ctx(request).settings.blob_dir,
            case_id=request.path_params["case_id"],
            user_id=staff.user.id,
            private_key=staff.private_key,
            blob_id=request.path_params["blob_id"],
            play=play,
        )
    except (CaseNotFound, attachments.AttachmentNotFound):
        return not_found(request)
    respond = uploads.play if play else uploads.download
    return respond(found, key=key, store=ctx(request).blob_store)


async def case_status(request: Request) -> Response:
    return await act_on_case(request, casework.set_status, ("status", "outcome"), "status")


async def case_grant(request: Request) -> Response:
    return await act_on_case(
        request, casework.grant, (), "grant", target_id=lambda form: form.get("user_id", "")[:32]
    )


async def case_marking(request: Request) -> Response:
    """Mark one item of a registered case (OSL 5 kap. 5 §)."""
    config = records.RecordsConfig.from_settings(ctx(request).settings)
    return await act_on_case(
        request, records.set_marking, ("item_id", "ground"), "marking", config=lambda _: config
    )


async def case_recuse(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    case_id = request.path_params["case_id"]
    if form.get("confirm") != "yes":
        return await case_page(request, error=message("confirm-recusal"), status=400)
    try:
        await case_call(request, casework.recuse, case_id=case_id, staff=staff)
    except casework.CaseworkError as exc:
        return await case_page(request, error=message(exc), status=400)
    return redirect("/inbox?recused=1")


routes = [
    Route("/inbox", inbox, methods=["GET"]),
    Route("/cases/{case_id}", case_view, methods=["GET"]),
    Route("/cases/{case_id}/post", case_post, methods=["POST"]),
    Route("/cases/{case_id}/files/{blob_id}", case_file, methods=["GET"]),
    Route("/cases/{case_id}/files/{blob_id}/play", case_recording, methods=["GET"]),
    Route("/cases/{case_id}/status", case_status, methods=["POST"]),
    Route("/cases/{case_id}/grant", case_grant, methods=["POST"]),
    Route("/cases/{case_id}/recuse", case_recuse, methods=["POST"]),
    Route("/cases/{case_id}/marking", case_marking, methods=["POST"]),
]
