"""Staff accounts on the web: two-step login (password, then a TOTP code or a security key),
enrolment of the TOTP second factor, logout (here or everywhere). The login's policy (lockout,
steps, budgets) is in :mod:`whistle.login`; what staff pages share, in :mod:`whistle.web.auth`;
security keys' own pages are in :mod:`whistle.web.security_keys`.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import accounts, crypto, sessions
from whistle import login as staff_login
from whistle.login import FactorStep, PasswordStep
from whistle.web import security
from whistle.web.auth import (
    E_CODE,
    E_FACTOR_LOCKED,
    E_KEY_REQUIRED,
    E_LOCKED,
    E_LOGIN,
    HOME,
    PENDING_COOKIE,
    STAFF_COOKIE,
    require_any_staff,
    second_factor_form,
)
from whistle.web.context import call, ctx, derive_staff, redirect, render

# Where the password step sends the browser next.
NEXT = {
    PasswordStep.SECOND_FACTOR: "/staff/second-factor",
    PasswordStep.ENROL_TOTP: "/staff/enrol",
    PasswordStep.ENROL_KEY: "/staff/security-key/enrol",
}


async def login_form(request: Request) -> Response:
    return render(request, "staff/login.html", {"error": "", "username": ""})


async def login(request: Request) -> Response:
    form = await security.read_form(request)
    username = form.get("username", "")[:64]
    password = form.get("password", "")[: accounts.MAX_PASSWORD]
    ctx(request).deriver.check_staff()  # a login flood is refused before any database work
    account = await call(request, staff_login.login_account, username=username)
    outcome = staff_login.PasswordOutcome(PasswordStep.LOCKED)
    if not account.locked:
        # The derivation runs between two short transactions, holding no database lock.
        app = ctx(request)
        keys = await derive_staff(
            request,
            crypto.derive_login_keys,
            password,
            account.salt,
            app.deriver.params,
            password_key=app.keys.password_key,
        )
        outcome = await call(
            request,
            staff_login.password_step,
            username=username,
            user=account.user,
            keys=keys,
            required=app.settings.security_key_required,
        )
    if outcome.step in {PasswordStep.FAILED, PasswordStep.LOCKED}:
        error = E_LOGIN if outcome.step is PasswordStep.FAILED else E_LOCKED
        return render(
            request, "staff/login.html", {"error": error, "username": username}, status=400
        )
    response = redirect(NEXT[outcome.step])
    security.set_cookie(response, request, PENDING_COOKIE, outcome.pending_cookie)
    return response


async def second_factor(request: Request) -> Response:
    form = await security.read_form(request)
    settings = ctx(request).settings
    outcome = await call(
        request,
        staff_login.second_factor_step,
        pending_cookie=request.cookies.get(PENDING_COOKIE, ""),
        code=form.get("code", ""),
        lifetime=dt.timedelta(hours=settings.staff_absolute_hours),
        enrol=request.url.path == "/staff/enrol",
        required=settings.security_key_required,
    )
    if outcome.step is FactorStep.KEY_REQUIRED:
        return await second_factor_form(request, error=E_KEY_REQUIRED, status=400)
    if outcome.step is FactorStep.EXPIRED:
        response = redirect("/staff/login")
        security.clear_cookie(response, request, PENDING_COOKIE)
        return response
    if outcome.step is FactorStep.WRONG:
        return await second_factor_form(request, error=E_CODE, status=400)
    if outcome.step is FactorStep.LOCKED:
        return await second_factor_form(request, error=E_FACTOR_LOCKED, status=429)
    response = redirect(HOME.get(outcome.role, "/inbox"))
    security.clear_cookie(response, request, PENDING_COOKIE)
    security.set_cookie(response, request, STAFF_COOKIE, outcome.staff_cookie)
    return response


# --- logout ----------------------------------------------------------------------------------


async def logout(request: Request) -> Response:
    await security.read_form(request)
    await call(request, sessions.destroy, cookie=request.cookies.get(STAFF_COOKIE))
    response = redirect("/staff/login")
    security.clear_cookie(response, request, STAFF_COOKIE)
    return response


async def logout_everywhere(request: Request) -> Response:
    staff = await require_any_staff(request)
    await security.read_form(request)
    await call(request, staff_login.logout_everywhere, user_id=staff.user.id)
    response = redirect("/staff/login")
    security.clear_cookie(response, request, STAFF_COOKIE)
    return response


routes = [
    Route("/staff/login", login_form, methods=["GET"]),
    Route("/staff/login", login, methods=["POST"]),
    Route("/staff/second-factor", second_factor_form, methods=["GET"]),
    Route("/staff/second-factor", second_factor, methods=["POST"]),
    Route("/staff/enrol", second_factor_form, methods=["GET"]),
    Route("/staff/enrol", second_factor, methods=["POST"]),
    Route("/staff/logout", logout, methods=["POST"]),
    Route("/staff/logout-everywhere", logout_everywhere, methods=["POST"]),
]
