"""The administrator's pages. An administrator configures the channel but reads no case:
nothing here unwraps a key, and the only case data shown is aggregate counts."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import accounts, administration, audit, leavers, notify, numbers, poster, routing
from whistle.models import User
from whistle.web import security, uploads
from whistle.web.auth import require_staff
from whistle.web.context import call, ctx, not_found, redirect, render
from whistle.web.errors import message


def _int_or_none(raw: str) -> int | None:
    return numbers.parse(raw)


async def overview(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    data = await call(request, administration.overview)
    settings = ctx(request).settings
    free_mb = uploads.free_bytes(settings) // (1024 * 1024)
    # Shown only when low: attachments are being refused (reports' text is still filed).
    disk = {"free_mb": free_mb, "min_mb": settings.min_free_disk_mb}
    low = uploads.disk_low(settings)  # never with the database store (files are not here)
    return render(
        request,
        "admin/overview.html",
        {
            "data": data,
            "user": staff.user,
            "disk": disk if low else None,
            # The Arabic PNG needs libraqm (web/poster.available); a handler imports no other.
            "poster_png_ar": poster.can_draw_png("rtl"),
        },
    )


# --- routes ------------------------------------------------------------------------------------


def _routes_page(db: Session) -> dict[str, Any]:
    return {
        "lines": routing.route_table(db),
        "units": routing.ordered_units(db),
        "categories": routing.ordered_categories(db),
        "investigators": [u for u in accounts.active_investigators(db)],
        "thin": routing.thin_routes(db),
    }


async def routes_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    staff = await require_staff(request, "admin")
    data = await call(request, _routes_page)
    return render(
        request,
        "admin/routes.html",
        {**data, "user": staff.user, "error": error, "done": request.query_params.get("done")},
        status=status,
    )


async def routes_view(request: Request) -> Response:
    return await routes_page(request)


async def route_add(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    form = await security.read_form(request)
    category = form.get("category", "")
    try:
        line = await call(
            request,
            administration.add_route,
            actor_id=staff.user.id,
            user_id=form.get("user_id", ""),
            category_id=None if category == "triage" else _int_or_none(category) or -1,
            unit_id=_int_or_none(form.get("unit", "")),
        )
    except administration.AdminError as exc:
        return await routes_page(request, error=message(exc), status=400)
    return redirect(f"/admin/routes?done={'pending' if line.status == 'pending' else 1}")


async def route_remove(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    await security.read_form(request)
    designation_id = _int_or_none(request.path_params["designation_id"])
    if designation_id is None:
        return not_found(request)
    try:
        await call(
            request,
            administration.remove_route,
            actor_id=staff.user.id,
            designation_id=designation_id,
        )
    except administration.AdminError:
        return not_found(request)
    return redirect("/admin/routes?done=1")


# --- units and categories ----------------------------------------------------------------------


def _structure(db: Session) -> dict[str, Any]:
    return {
        "units": routing.ordered_units(db),
        "categories": routing.ordered_categories(db),
    }


async def structure_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    staff = await require_staff(request, "admin")
    data = await call(request, _structure)
    return render(
        request,
        "admin/structure.html",
        {
            **data,
            "user": staff.user,
            "error": error,
            "done": request.query_params.get("done"),
            "default_type": ctx(request).settings.retention_policy,
        },
        status=status,
    )


async def structure_view(request: Request) -> Response:
    return await structure_page(request)


async def unit_save(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    form = await security.read_form(request)
    raw_id = request.path_params.get("unit_id")
    if raw_id is not None and _int_or_none(raw_id) is None:
        return not_found(request)  # "/admin/units/²" names no unit: never make a new one
    try:
        await call(
            request,
            administration.save_unit,
            actor_id=staff.user.id,
            unit_id=_int_or_none(raw_id) if raw_id else None,
            name_sv=form.get("name_sv", ""),
            name_en=form.get("name_en", ""),
            active=form.get("active", "yes") == "yes",
            org_type=form.get("org_type", ""),
            disposal_reference=form.get("disposal_reference", ""),
        )
    except administration.AdminError as exc:
        return await structure_page(request, error=message(exc), status=400)
    return redirect("/admin/structure?done=1")


async def category_save(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    form = await security.read_form(request)
    raw_id = request.path_params.get("category_id")
    if raw_id is not None and _int_or_none(raw_id) is None:
        return not_found(request)  # names no category: never make a new one
    try:
        await call(
            request,
            administration.save_category,
            actor_id=staff.user.id,
            category_id=_int_or_none(raw_id) if raw_id else None,
            name_sv=form.get("name_sv", ""),
            name_en=form.get("name_en", ""),
            description_sv=form.get("description_sv", ""),
            description_en=form.get("description_en", ""),
            active=form.get("active", "yes") == "yes",
        )
    except administration.AdminError as exc:
        return await structure_page(request, error=message(exc), status=400)
    return redirect("/admin/structure?done=1")


# --- accounts ----------------------------------------------------------------------------------


def _users(db: Session) -> list[User]:
    return list(db.exec(select(User).order_by(col(User.role), col(User.display_name))).all())


async def accounts_page(
    request: Request,
    *,
    error: str = "",
    status: int = 200,
    invitation: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    staff = await require_staff(request, "admin")
    users = await call(request, _users)
    return render(
        request,
        "admin/accounts.html",
        {
            "users": users,
            "user": staff.user,
            "error": error,
            "invitation": invitation,
            "values": values or {"role": "investigator"},
            "done": request.query_params.get("done"),
        },
        status=status,
    )


async def accounts_view(request: Request) -> Response:
    return await accounts_page(request)


async def account_invite(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    form = await security.read_form(request)
    values = security.form_values(form, "username", "display_name", "role", "email")
    try:
        invitation = await call(
            request,
            administration.invite,
            actor_id=staff.user.id,
            username=values["username"],
            display_name=values["display_name"],
            role=values["role"],
            email=values["email"],
        )
    except administration.AdminError as exc:
        return await accounts_page(request, error=message(exc), status=400, values=values)
    # The link never reaches the administrator's screen: an administrator who could open it
    # could activate a look-alike account themself (issue 12, finding 2). It goes by e-mail to
    # the invitee, or the operator prints a fresh one with `whistle activation-link`.
    settings = ctx(request).settings
    sent = ""
    if settings.smtp_host and values["email"]:
        link = f"{settings.base_url.rstrip('/')}/activate/{invitation.token}"
        try:
            await anyio.to_thread.run_sync(
                lambda: notify.send_activation(settings, address=values["email"], link=link)
            )
            sent = "sent"
        except notify.NotifyError:
            sent = "failed"
    return await accounts_page(
        request, invitation={"username": values["username"].strip().lower(), "sent": sent}
    )


async def account_confirm(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    user_id = request.path_params["user_id"]

    def load(db: Session) -> tuple[User | None, int, list[str]]:
        target = db.get(User, user_id) if len(user_id) <= 32 else None
        stranded = administration.stranded_cases(db, user_id=user_id) if target else 0
        # A deactivated leaver's wraps go once others read each case; these still block.
        blocking = leavers.blocking_cases(db, leaver_id=user_id) if target else []
        return target, stranded, blocking

    target, stranded, blocking = await call(request, lambda db: load(db))
    if target is None:
        return not_found(request)
    return render(
        request,
        "admin/deactivate.html",
        {"user": staff.user, "target": target, "stranded": stranded, "blocking": blocking},
    )


async def account_status(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    form = await security.read_form(request)
    try:
        await call(
            request,
            administration.set_account_status,
            actor_id=staff.user.id,
            user_id=request.path_params["user_id"][:32],
            active=form.get("active") == "yes",
        )
    except administration.AdminError as exc:
        return await accounts_page(request, error=message(exc), status=400)
    return redirect("/admin/accounts?done=1")


# --- audit log ---------------------------------------------------------------------------------


def _audit_page(db: Session, *, page: int) -> dict[str, Any]:
    entries, total = audit.page(db, page=page)
    names = {u.id: u.display_name for u in db.exec(select(User)).all()}
    return {
        "entries": entries,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // 100)),
        "names": names,
        "verification": audit.verify(db),
    }


async def audit_view(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    raw = request.query_params.get("page", "1")
    page = numbers.parse(raw, max_digits=6) or 1
    data = await call(request, _audit_page, page=max(page, 1))
    return render(request, "admin/audit.html", {**data, "user": staff.user})


routes = [
    Route("/admin", overview, methods=["GET"]),
    Route("/admin/routes", routes_view, methods=["GET"]),
    Route("/admin/routes", route_add, methods=["POST"]),
    Route("/admin/routes/{designation_id}/delete", route_remove, methods=["POST"]),
    Route("/admin/structure", structure_view, methods=["GET"]),
    Route("/admin/units", unit_save, methods=["POST"]),
    Route("/admin/units/{unit_id}", unit_save, methods=["POST"]),
    Route("/admin/categories", category_save, methods=["POST"]),
    Route("/admin/categories/{category_id}", category_save, methods=["POST"]),
    Route("/admin/accounts", accounts_view, methods=["GET"]),
    Route("/admin/accounts", account_invite, methods=["POST"]),
    Route("/admin/accounts/{user_id}", account_confirm, methods=["GET"]),
    Route("/admin/accounts/{user_id}/status", account_status, methods=["POST"]),
    Route("/admin/audit", audit_view, methods=["GET"]),
]
