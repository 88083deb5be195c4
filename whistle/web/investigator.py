"""The investigator's pages: inbox, case, replies, notes, acknowledgement, status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import (
    approvals,
    attachments,
    casework,
    deadlines,
    exports,
    followup,
    records,
    reports,
    workbench,
)
from whistle import inbox as inbox_query
from whistle.cases import OUTCOMES, SETTABLE_STATUSES, STATUS_LABELS, STATUSES, CaseNotFound
from whistle.i18n import N_
from whistle.models import Category, Unit, User
from whistle.web import security, uploads
from whistle.web.context import call, ctx, not_found, redirect, render, translate
from whistle.web.staff import require_staff

PAGE_SIZE = 50
# The case page's sub-pages (plain links, no script): the thread stays beside them.
TABS = {
    "reply": N_("Reply"),
    "feedback": N_("Feedback"),
    "meetings": N_("Meetings & minutes"),
    "tasks": N_("Actions & tasks"),
    "handover": N_("Handover"),
    "access": N_("Access"),
    "history": N_("History"),
}
# What the thread calls each kind of item (the words of partials/labels.html: kind_label).
KIND_LABELS = {
    **exports.KIND_LABELS,
    "identity": N_("Reporter's identity"),
    "exclusions": N_("Conflict of interest"),
    "task": N_("Task"),
    "triage": N_("Triage assessment"),
}
# Which sub-page shows the form of an action (the last part of its path, or its done code),
# so an error or a "Saved." lands on the form that was used.
TAB_OF = {
    "feedback": "feedback",
    "status": "feedback",
    "meeting": "meetings",
    "minutes": "meetings",
    "recording": "meetings",
    "action": "tasks",
    "actions": "tasks",
    "tasks": "tasks",
    "labels": "tasks",
    "triage": "tasks",
    "handover": "handover",
    "grant": "access",
    "recuse": "access",
    "lead": "access",
}
POST_ERRORS = {
    "empty": N_("Write something before sending."),
    "too-long": N_("This text is too long."),
    "closed": N_("The case is closed. Reopen it to write to the reporter."),
    "bad-kind": N_("Choose what to send."),
    "bad-status": N_("Choose one of the options."),
    "outcome-required": N_("Choose how the case ended before you close it."),
    "already-acknowledged": N_("Receipt has already been confirmed or recorded as withheld."),
    "bad-action": N_("Choose one of the options."),
    "bad-date": N_("Give the date as YYYY-MM-DD."),
    "bad-ground": N_("Choose one of the options."),
    "bad-grant": N_("That person cannot be given access to this case."),
    "confirm-recusal": N_("Tick the box to confirm that you have a conflict of interest."),
    "not-registered": N_("This case is not in the register: its unit is not public."),
    "bad-item": N_("Choose one of the options."),
    "bad-lead": N_("Only a reader of the case can be its lead."),
    "bad-label": N_("Choose one of the options."),
    "bad-task": N_("Choose one of the options."),
    "too-many-tasks": N_("This case has too many open tasks. Mark some as done first."),
    "bad-triage": N_("Choose one of the options."),
    "last-reader": N_(
        "You are the only reader of this case. Give a colleague access before you step aside."
    ),
}


def case_tab(request: Request) -> str:
    chosen = request.query_params.get("tab", "")
    if chosen in TABS:
        return chosen
    parts = request.url.path.rstrip("/").split("/")
    action = parts[3] if len(parts) > 3 else request.query_params.get("done", "")
    return TAB_OF.get(action, "reply")


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


async def case_page(
    request: Request, *, error: str = "", drafts: dict[str, str] | None = None, status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    settings = ctx(request).settings
    tab = case_tab(request)
    try:
        view, kept, bench = await call(
            request,
            _case_view,
            case_id=request.path_params["case_id"],
            user_id=staff.user.id,
            private_key=staff.private_key,
            config=records.RecordsConfig.from_settings(settings),
            tab=tab,
        )
    except CaseNotFound:
        return not_found(request)
    return render(
        request,
        "investigator/case.html",
        {
            "view": view,
            "case": view.case,
            "handed_approvals": reports.handed_approvals(view.items, channel=view.case.channel),
            "user": staff.user,
            "reference": casework.reference(view.case.id),
            "statuses": SETTABLE_STATUSES,
            "outcomes": OUTCOMES,
            "action_types": followup.ACTION_TYPES,
            "legal_grounds": followup.LEGAL_GROUNDS,
            "today": deadlines.today(),
            "error": error,
            "drafts": drafts or {},
            "done": request.query_params.get("done", ""),
            "records": kept,
            "bench": bench,
            "tabs": TABS,
            "tab": tab,
            "kind_labels": KIND_LABELS,
            "priorities": workbench.PRIORITIES,
            "risks": workbench.RISKS,
            "checklist": workbench.CHECKLIST,
            "public_retention": records.unit_type(view.unit, default=settings.retention_policy)
            == "public",
        },
        status=status,
    )


def _case_view(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    config: records.RecordsConfig,
    tab: str,
) -> tuple[casework.CaseView, records.CaseRecords, workbench.CaseBench]:
    # Only the sub-page shown needs the history or the colleagues who could be given access.
    view = casework.view(
        db,
        case_id=case_id,
        user_id=user_id,
        private_key=private_key,
        history=tab == "history",
        candidates=tab == "access",
    )
    kept = records.case_records(db, case_id=case_id, config=config)
    bench = workbench.for_case(db, case=view.case, items=view.items)
    markers = {m.marked_by for m in kept.markings.values() if m.marked_by}
    markers |= {t.created_by for t in bench.tasks if t.created_by}
    markers -= set(view.names)
    for user in db.exec(select(User).where(col(User.id).in_(markers))) if markers else ():
        view.names[user.id] = user.display_name
    for reader in view.readers:
        view.names.setdefault(reader.id, reader.display_name)
    return view, kept, bench


async def case_view(request: Request) -> Response:
    return await case_page(request)


def unlock_with_usage(
    db: Session, *, case_id: str, user_id: str, private_key: bytes
) -> tuple[bytes, int]:
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    return key, attachments.case_bytes(db, case_id=case.id)


async def case_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    case_id = request.path_params["case_id"]
    try:
        # The case key is needed before the body is read: files are sealed as they arrive.
        key, used = await call(
            request,
            unlock_with_usage,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
        )
    except CaseNotFound:
        return not_found(request)
    settings = ctx(request).settings
    upload = uploads.Upload(ctx(request).blob_store.batch(), key, case_id, settings.max_case_bytes)
    kind, text = "", ""
    try:
        form, too_large = await uploads.receive_files(request, upload, used=used)
        kind, text = form.get("kind", ""), form.get("text", "")
        if too_large:
            return await case_page(request, error=too_large, drafts={kind: text}, status=413)
        await uploads.commit(
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
        error = POST_ERRORS.get(exc.code, POST_ERRORS["empty"])
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


def _form_fields(form: security.FormFields, names: tuple[str, ...]) -> dict[str, str]:
    return {name: form.get(name, "") for name in names}


async def act_on_case(
    request: Request,
    fn: Callable[..., Any],
    fields: tuple[str, ...],
    done: str,
    **extra: Any,
) -> Response:
    """Unlock-and-record handlers share this: parse, call, redirect, or show the error."""
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    case_id = request.path_params["case_id"]
    values = _form_fields(form, fields)
    try:
        await call(
            request,
            fn,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
            **values,
            **{k: v(form) for k, v in extra.items()},
        )
    except CaseNotFound:
        return not_found(request)
    except casework.CaseworkError as exc:
        return await case_page(
            request,
            error=POST_ERRORS.get(exc.code, POST_ERRORS["empty"]),
            drafts={f"{done}:{k}": v for k, v in values.items()},
            status=400,
        )
    return redirect(f"/cases/{case_id}?done={done}#{done}")


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
        return await case_page(request, error=POST_ERRORS["confirm-recusal"], status=400)
    try:
        await call(
            request,
            casework.recuse,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
        )
    except CaseNotFound:
        return not_found(request)
    except casework.CaseworkError as exc:
        return await case_page(request, error=POST_ERRORS[exc.code], status=400)
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
