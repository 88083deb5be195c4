"""Investigator pages for the workbench: the case lead, labels, tasks, the triage assessment,
and the function's list of labels."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import leavers, search, workbench
from whistle.casework import CaseworkError, reference
from whistle.models import User
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.case_page import act_on_case
from whistle.web.context import call, redirect, render
from whistle.web.errors import message


def _list(name: str) -> Callable[[security.FormFields], list[str]]:
    return lambda form: form.getlist(name)[:60]


async def lead(request: Request) -> Response:
    return await act_on_case(
        request,
        workbench.set_lead,
        (),
        "lead",
        target_id=lambda form: form.get("user_id", "")[:32],
    )


async def case_labels(request: Request) -> Response:
    return await act_on_case(
        request, workbench.set_case_labels, (), "labels", label_ids=_list("label_id")
    )


async def add_task(request: Request) -> Response:
    return await act_on_case(request, workbench.add_task, ("text", "due_on"), "tasks")


async def task_done(request: Request) -> Response:
    task_id = request.path_params["task_id"]
    return await act_on_case(
        request,
        workbench.set_task_done,
        (),
        "tasks",
        task_id=lambda _form: task_id,
        finished=lambda form: form.get("done") == "yes",
    )


async def triage(request: Request) -> Response:
    return await act_on_case(
        request,
        workbench.assess,
        ("priority", "risk", "measures"),
        "triage",
        checklist=_list("checklist"),
    )


# --- the function's list of labels ------------------------------------------------------------


async def label_list(
    request: Request, *, error: str = "", name: str = "", status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    found = await call(request, lambda db: workbench.labels(db))
    return render(
        request,
        "investigator/labels.html",
        {
            "user": staff.user,
            "labels": found,
            "error": error,
            "name": name,
            "done": request.query_params.get("done", ""),
            "max_labels": workbench.MAX_LABELS,
        },
        status=status,
    )


async def label_add(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    name = form.get("name", "")[:200]
    try:
        await call(request, workbench.define_label, user_id=staff.user.id, name=name)
    except CaseworkError as exc:
        return await label_list(request, error=message(exc, page="labels"), name=name, status=400)
    return redirect("/labels?done=added")


async def label_retire(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    await security.read_form(request)
    try:
        await call(
            request,
            workbench.retire_label,
            user_id=staff.user.id,
            label_id=request.path_params["label_id"],
        )
    except CaseworkError as exc:
        return await label_list(request, error=message(exc, page="labels"), status=400)
    return redirect("/labels?done=retired")


routes = [
    Route("/cases/{case_id}/lead", lead, methods=["POST"]),
    Route("/cases/{case_id}/labels", case_labels, methods=["POST"]),
    Route("/cases/{case_id}/tasks", add_task, methods=["POST"]),
    Route("/cases/{case_id}/tasks/{task_id}", task_done, methods=["POST"]),
    Route("/cases/{case_id}/triage", triage, methods=["POST"]),
    Route("/labels", label_list, methods=["GET"]),
    Route("/labels", label_add, methods=["POST"]),
    Route("/labels/{label_id}/retire", label_retire, methods=["POST"]),
]


# --- search ------------------------------------------------------------------------------------


async def search_page(request: Request) -> Response:
    """The search form. The term is posted, never put in a URL: URLs end up in logs and in the
    browser's history."""
    staff = await require_staff(request, "investigator")
    return render(
        request,
        "investigator/search.html",
        {"user": staff.user, "term": "", "found": None, "error": ""},
    )


async def search_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    term = form.get("term", "")[: search.MAX_TERM + 1]
    try:
        found = await call(
            request,
            search.search,
            user_id=staff.user.id,
            private_key=staff.private_key,
            term=term,
        )
    except CaseworkError as exc:
        return render(
            request,
            "investigator/search.html",
            {"user": staff.user, "term": term, "found": None, "error": message(exc)},
            status=400,
        )
    return render(
        request,
        "investigator/search.html",
        {"user": staff.user, "term": term, "found": found, "error": ""},
    )


routes += [
    Route("/search", search_page, methods=["GET"]),
    Route("/search", search_post, methods=["POST"]),
]


# --- a leaver's cases --------------------------------------------------------------------------


def _people(db: Session) -> list[User]:
    return list(
        db.exec(
            select(User).where(User.role == "investigator").order_by(col(User.display_name))
        ).all()
    )


async def leavers_page(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    people = await call(request, _people)
    return render(
        request,
        "investigator/leavers.html",
        {
            "user": staff.user,
            "people": people,
            "plan": None,
            "done": False,
            "error": "",
            "chosen": {},
        },
    )


async def leavers_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    chosen = {"leaver": form.get("leaver", "")[:32], "successor": form.get("successor", "")[:32]}
    confirm = form.get("confirm") == "yes"
    try:
        plan = await call(
            request,
            leavers.grant_all,
            user_id=staff.user.id,
            private_key=staff.private_key,
            leaver_id=chosen["leaver"],
            successor_id=chosen["successor"],
            confirm=confirm,
        )
        error, status = "", 200
    except CaseworkError as exc:
        plan, error, status = None, message(exc), 400
    people = await call(request, _people)
    return render(
        request,
        "investigator/leavers.html",
        {
            "user": staff.user,
            "people": people,
            "plan": plan,
            "done": confirm and plan is not None,
            "error": error,
            "chosen": chosen,
            "reference": reference,
        },
        status=status,
    )


routes += [
    Route("/leavers", leavers_page, methods=["GET"]),
    Route("/leavers", leavers_post, methods=["POST"]),
]
