"""The investigator's case page and what its forms share (not a handler module: no routes).

The page is shown by the case's own handlers (:mod:`whistle.web.investigator`) and again, with
an error and what was typed, by the handlers of its other forms (:mod:`whistle.web.duties`,
:mod:`whistle.web.workbench`), so it lives here rather than in one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session, col, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from whistle import (
    attachments,
    casework,
    deadlines,
    duties,
    exports,
    records,
    reports,
    workbench,
)
from whistle.cases import OUTCOMES, SETTABLE_STATUSES, CaseNotFound
from whistle.i18n import N_
from whistle.models import User
from whistle.web import security
from whistle.web.auth import Staff, require_staff
from whistle.web.context import call, ctx, redirect, render
from whistle.web.errors import message

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


def case_tab(request: Request) -> str:
    chosen = request.query_params.get("tab", "")
    if chosen in TABS:
        return chosen
    parts = request.url.path.rstrip("/").split("/")
    action = parts[3] if len(parts) > 3 else request.query_params.get("done", "")
    return TAB_OF.get(action, "reply")


T = TypeVar("T")


async def case_call(
    request: Request, fn: Callable[..., T], *, staff: Staff | None = None, **kwargs: Any
) -> T:
    """The shape of a handler on one case: an investigator (``staff``, or required here) runs
    ``fn(case_id=…, user_id=…, private_key=…, **kwargs)`` in a transaction; a case that does not
    exist or is not theirs (:class:`~whistle.cases.CaseNotFound`) is the 404 page. ``case_id``
    comes from the path (when it has one) unless given."""
    staff = staff or await require_staff(request, "investigator")
    if "case_id" in request.path_params:
        kwargs.setdefault("case_id", request.path_params["case_id"])
    try:
        return await call(
            request, fn, user_id=staff.user.id, private_key=staff.private_key, **kwargs
        )
    except CaseNotFound:
        raise HTTPException(404) from None


async def case_page(
    request: Request, *, error: str = "", drafts: dict[str, str] | None = None, status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    settings = ctx(request).settings
    tab = case_tab(request)
    view, kept, bench = await case_call(
        request,
        _case_view,
        staff=staff,
        config=records.RecordsConfig.from_settings(settings),
        tab=tab,
    )
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
            "action_types": duties.ACTION_TYPES,
            "legal_grounds": duties.LEGAL_GROUNDS,
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


def unlock_with_usage(
    db: Session, *, case_id: str, user_id: str, private_key: bytes
) -> tuple[bytes, int]:
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    return key, attachments.case_bytes(db, case_id=case.id)


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
        await case_call(
            request,
            fn,
            case_id=case_id,
            staff=staff,
            **values,
            **{k: v(form) for k, v in extra.items()},
        )
    except casework.CaseworkError as exc:
        return await case_page(
            request,
            error=message(exc),
            drafts={f"{done}:{k}": v for k, v in values.items()},
            status=400,
        )
    return redirect(f"/cases/{case_id}?done={done}#{done}")
