"""The investigator's pages: inbox, case, replies, notes, acknowledgement, status."""

from __future__ import annotations

from sqlmodel import Session, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import casework, deadlines
from whistle.cases import STATUSES, CaseNotFound
from whistle.i18n import N_
from whistle.models import Category, Unit
from whistle.web import security
from whistle.web.context import call, not_found, redirect, render
from whistle.web.staff import require_staff

PAGE_SIZE = 50
POST_ERRORS = {
    "empty": N_("Write something before sending."),
    "too-long": N_("This text is too long."),
    "closed": N_("The case is closed. Reopen it to write to the reporter."),
    "bad-kind": N_("Choose what to send."),
    "bad-status": N_("Choose one of the options."),
    "bad-grant": N_("That person cannot be given access to this case."),
    "confirm-recusal": N_("Tick the box to confirm that you have a conflict of interest."),
    "last-reader": N_(
        "You are the only reader of this case. Give a colleague access before you step aside."
    ),
}


def _labels(db: Session) -> dict[str, dict[int, Category | Unit]]:
    return {
        "categories": {c.id: c for c in db.exec(select(Category)).all() if c.id is not None},
        "units": {u.id: u for u in db.exec(select(Unit)).all() if u.id is not None},
    }


def _inbox(db: Session, *, user_id: str, page: int) -> dict[str, object]:
    return {
        "inbox": casework.inbox(db, user_id=user_id, page=page, page_size=PAGE_SIZE),
        **_labels(db),
    }


async def inbox(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    raw_page = request.query_params.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and len(raw_page) < 7 else 1
    data = await call(request, _inbox, user_id=staff.user.id, page=page)
    return render(
        request,
        "investigator/inbox.html",
        {**data, "user": staff.user, "today": deadlines.today(), "soon_days": 3},
    )


async def case_page(
    request: Request, *, error: str = "", drafts: dict[str, str] | None = None, status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    try:
        view = await call(
            request,
            casework.view,
            case_id=request.path_params["case_id"],
            user_id=staff.user.id,
            private_key=staff.private_key,
        )
    except CaseNotFound:
        return not_found(request)
    return render(
        request,
        "investigator/case.html",
        {
            "view": view,
            "case": view.case,
            "user": staff.user,
            "reference": casework.reference(view.case.id),
            "statuses": STATUSES,
            "today": deadlines.today(),
            "error": error,
            "drafts": drafts or {},
            "done": request.query_params.get("done", ""),
        },
        status=status,
    )


async def case_view(request: Request) -> Response:
    return await case_page(request)


async def case_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    case_id = request.path_params["case_id"]
    kind = form.get("kind", "")
    try:
        await call(
            request,
            casework.post,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
            kind=kind,
            text=form.get("text", ""),
        )
    except CaseNotFound:
        return not_found(request)
    except casework.CaseworkError as exc:
        return await case_page(
            request,
            error=POST_ERRORS.get(exc.code, POST_ERRORS["empty"]),
            drafts={kind: form.get("text", "")},
            status=400,
        )
    return redirect(f"/cases/{case_id}?done={kind}#thread-end")


async def case_status(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    case_id = request.path_params["case_id"]
    try:
        await call(
            request,
            casework.set_status,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
            status=form.get("status", ""),
        )
    except CaseNotFound:
        return not_found(request)
    except casework.CaseworkError as exc:
        return await case_page(request, error=POST_ERRORS[exc.code], status=400)
    return redirect(f"/cases/{case_id}?done=status")


async def case_grant(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    case_id = request.path_params["case_id"]
    try:
        await call(
            request,
            casework.grant,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
            target_id=form.get("user_id", "")[:32],
        )
    except CaseNotFound:
        return not_found(request)
    except casework.CaseworkError as exc:
        return await case_page(request, error=POST_ERRORS[exc.code], status=400)
    return redirect(f"/cases/{case_id}?done=grant")


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
    Route("/cases/{case_id}/status", case_status, methods=["POST"]),
    Route("/cases/{case_id}/grant", case_grant, methods=["POST"]),
    Route("/cases/{case_id}/recuse", case_recuse, methods=["POST"]),
]
