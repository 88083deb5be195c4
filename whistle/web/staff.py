"""Staff accounts on the web: activation, login, logout, and loading the staff session.

A staff session's payload is the investigator's unlocked private key (empty for administrators),
sealed under the secret in the cookie.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import accounts, crypto, sessions
from whistle.i18n import N_
from whistle.models import User
from whistle.web import security
from whistle.web.context import call, call_kdf, ctx, redirect, render

STAFF_COOKIE = "whistle_staff"
E_LOGIN = N_("Wrong username or password.")
ACCOUNT_ERRORS = {
    "invalid-invitation": N_("This activation link is not valid any more. Ask for a new one."),
    "password-mismatch": N_("The two passwords are not the same."),
    "password-too-short": N_("Use at least 12 characters."),
    "password-too-long": N_("That password is too long."),
}


class LoginRequired(Exception):
    """Raised by :func:`require_staff` when there is no live staff session."""


@dataclass(frozen=True)
class Staff:
    user: User
    private_key: bytes


def _load_staff(db: Session, *, cookie: str | None, idle: dt.timedelta) -> Staff | None:
    loaded = sessions.load(db, cookie, kind="staff", idle=idle)
    if loaded is None or loaded.user_id is None:
        return None
    user = db.get(User, loaded.user_id)
    if user is None or user.status != "active":
        return None
    return Staff(user=user, private_key=loaded.payload)


async def require_staff(request: Request, role: str) -> Staff:
    """The logged-in staff member with this role; 404 for the other role (nothing to see)."""
    idle = dt.timedelta(minutes=ctx(request).settings.staff_idle_minutes)
    staff = await call(request, _load_staff, cookie=request.cookies.get(STAFF_COOKIE), idle=idle)
    if staff is None:
        raise LoginRequired()
    if staff.user.role != role:
        raise HTTPException(status_code=404)
    return staff


async def login_form(request: Request) -> Response:
    return render(request, "staff/login.html", {"error": "", "username": ""})


def _login(
    db: Session,
    *,
    username: str,
    password: str,
    params: crypto.Argon2Params,
    lifetime: dt.timedelta,
) -> tuple[str, str] | None:
    try:
        who = accounts.authenticate(db, username=username, password=password, params=params)
    except accounts.LoginFailed:
        return None
    cookie = sessions.create(
        db, kind="staff", payload=who.private_key, user_id=who.user.id, lifetime=lifetime
    )
    return cookie, who.user.role


async def login(request: Request) -> Response:
    form = await security.read_form(request)
    settings = ctx(request).settings
    username = form.get("username", "")[:64]
    result = await call_kdf(
        request,
        _login,
        username=username,
        password=form.get("password", ""),
        params=settings.argon2,
        lifetime=dt.timedelta(hours=settings.staff_absolute_hours),
    )
    if result is None:
        return render(
            request, "staff/login.html", {"error": E_LOGIN, "username": username}, status=400
        )
    cookie, role = result
    response = redirect("/admin" if role == "admin" else "/inbox")
    security.set_cookie(response, request, STAFF_COOKIE, cookie)
    return response


async def logout(request: Request) -> Response:
    await security.read_form(request)
    await call(request, sessions.destroy, cookie=request.cookies.get(STAFF_COOKIE))
    response = redirect("/staff/login")
    security.clear_cookie(response, request, STAFF_COOKIE)
    return response


def _invitation(db: Session, *, token: str) -> User | None:
    return accounts.find_invitation(db, token)


async def activate_form(request: Request) -> Response:
    token = request.path_params["token"]
    user = await call(request, _invitation, token=token)
    if user is None:
        return render(
            request,
            "staff/activate.html",
            {"user": None, "error": ACCOUNT_ERRORS["invalid-invitation"]},
            status=404,
        )
    return render(request, "staff/activate.html", {"user": user, "error": ""})


async def activate(request: Request) -> Response:
    form = await security.read_form(request)
    token = request.path_params["token"]
    try:
        recovery = await call_kdf(
            request,
            accounts.activate,
            token=token,
            password=form.get("password", ""),
            confirm=form.get("confirm", ""),
            params=ctx(request).settings.argon2,
        )
    except accounts.AccountError as exc:
        user = await call(request, _invitation, token=token)
        return render(
            request,
            "staff/activate.html",
            {
                "user": user,
                "error": ACCOUNT_ERRORS.get(exc.code, ACCOUNT_ERRORS["invalid-invitation"]),
            },
            status=400,
        )
    # The recovery code is shown in this response only; it is stored nowhere in clear.
    return render(request, "staff/activated.html", {"recovery": recovery})


routes = [
    Route("/staff/login", login_form, methods=["GET"]),
    Route("/staff/login", login, methods=["POST"]),
    Route("/staff/logout", logout, methods=["POST"]),
    Route("/activate/{token}", activate_form, methods=["GET"]),
    Route("/activate/{token}", activate, methods=["POST"]),
]
