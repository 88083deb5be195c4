"""Staff accounts on the web, part two: activation with a one-time link, password change, and
recovery with the one-time recovery code. The login itself is in :mod:`whistle.web.staff`
(policy: :mod:`whistle.login`)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import accounts, audit, crypto, sessions
from whistle import login as staff_login
from whistle.login import Reconfirm
from whistle.models import User
from whistle.web import security
from whistle.web.auth import require_any_staff
from whistle.web.context import call, ctx, derive_staff, render
from whistle.web.errors import message


def _invitation(db: Session, *, token: str) -> User | None:
    return accounts.find_invitation(db, token)


async def activate_form(request: Request) -> Response:
    token = request.path_params["token"]
    user = await call(request, _invitation, token=token)
    if user is None:
        return render(
            request,
            "staff/activate.html",
            {"user": None, "error": message("invalid-invitation")},
            status=404,
        )
    return render(request, "staff/activate.html", {"user": user, "error": ""})


def _activate(
    db: Session,
    *,
    token: str,
    password: str,
    confirm: str,
    params: crypto.Argon2Params,
    password_key: bytes,
    prepared: accounts.Prepared,
) -> str | None:
    user = accounts.find_invitation(db, token)
    recovery = accounts.activate(
        db,
        token=token,
        password=password,
        confirm=confirm,
        params=params,
        password_key=password_key,
        prepared=prepared,
    )
    if user is not None:
        audit.record(db, action="account_activated", actor_id=user.id, subject_id=user.id)
    return recovery


async def activate(request: Request) -> Response:
    form = await security.read_form(request)
    token = request.path_params["token"]
    password, confirm = form.get("password", ""), form.get("confirm", "")
    params, password_key = ctx(request).settings.argon2, ctx(request).keys.password_key
    try:
        if await call(request, _invitation, token=token) is None:
            raise accounts.AccountError("invalid-invitation")  # no derivation for a bad link
        accounts.check_password_rules(password, confirm)
        prepared = await derive_staff(
            request, accounts.prepare, password, params, password_key=password_key, weight=2
        )
        recovery = await call(
            request,
            _activate,
            token=token,
            password=password,
            confirm=confirm,
            params=params,
            password_key=password_key,
            prepared=prepared,
        )
    except accounts.AccountError as exc:
        user = await call(request, _invitation, token=token)
        error = message(exc)
        return render(request, "staff/activate.html", {"user": user, "error": error}, status=400)
    # The recovery code is shown in this response only; it is stored nowhere in clear.
    return render(request, "staff/activated.html", {"recovery": recovery})


async def password_form(request: Request) -> Response:
    staff = await require_any_staff(request)
    return render(request, "staff/password.html", {"user": staff.user, "error": "", "done": ""})


def _change_password(db: Session, *, user_id: str, keep: str, **kwargs: Any) -> None:
    accounts.change_password(db, user_id=user_id, **kwargs)
    # Whoever was logged in with the old password (a stolen cookie, a forgotten browser) is
    # logged out; this browser stays in.
    sessions.destroy_others(db, user_id=user_id, keep=keep)
    audit.record(db, action="password_changed", actor_id=user_id)


def _derive_change(
    current: str, salt: bytes, password: str, params: crypto.Argon2Params, password_key: bytes
) -> tuple[crypto.LoginKeys, accounts.Prepared]:
    """The current password's keys (both schemes from one derivation: the account may not be
    upgraded yet) and the new password's (scheme 2): two derivations."""
    proof = crypto.derive_login_keys(
        current[: accounts.MAX_PASSWORD], salt, params, password_key=password_key
    )
    return proof, accounts.prepare(password, params, password_key=password_key, recovery=False)


async def change_password(request: Request) -> Response:
    staff = await require_any_staff(request)
    form = await security.read_form(request)
    current, password = form.get("current", ""), form.get("password", "")
    params, password_key = ctx(request).settings.argon2, ctx(request).keys.password_key
    salt = staff.user.password_salt or b""
    try:
        # Both derivations before the transaction: it then only compares and writes.
        proof, prepared = await derive_staff(
            request, _derive_change, current, salt, password, params, password_key, weight=2
        )
        # In a transaction of its own, so that a wrong password stays counted.
        checked = await call(
            request, staff_login.reconfirm_password, user_id=staff.user.id, keys=proof
        )
        if checked.step is Reconfirm.LOCKED:
            raise accounts.AccountError("password-locked")
        if checked.step is not Reconfirm.OK:
            raise accounts.AccountError("wrong-password")
        await call(
            request,
            _change_password,
            user_id=staff.user.id,
            current=current,
            password=password,
            confirm=form.get("confirm", ""),
            params=params,
            password_key=password_key,
            proof=proof,
            prepared=prepared,
            keep=staff.cookie,
        )
    except accounts.AccountError as exc:
        return render(
            request,
            "staff/password.html",
            {"user": staff.user, "error": message(exc), "done": ""},
            status=400,
        )
    return render(request, "staff/password.html", {"user": staff.user, "error": "", "done": "1"})


async def recover_form(request: Request) -> Response:
    return render(request, "staff/recover.html", {"error": "", "username": ""})


def _recover(db: Session, **kwargs: Any) -> str:
    code = accounts.recover(db, **kwargs)
    user_id = db.exec(
        select(User.id).where(User.username == kwargs["username"].strip().lower())
    ).one()
    sessions.destroy_for_user(db, user_id)
    audit.record(db, action="recovery_used", actor_id=user_id)
    return code


async def recover(request: Request) -> Response:
    form = await security.read_form(request)
    username = form.get("username", "")[:64]
    typed, password = form.get("recovery_code", ""), form.get("password", "")
    confirm = form.get("confirm", "")
    params, password_key = ctx(request).settings.argon2, ctx(request).keys.password_key
    try:
        accounts.check_password_rules(password, confirm)
        ctx(request).deriver.check_staff()  # a flood is refused before any database work
        # Every derivation runs outside a transaction (SQLite's write lock is held from BEGIN):
        # the code's keys first, checked in a short read, then the new password's and code's.
        salt = await call(request, accounts.recovery_salt, username=username)
        secret = accounts.recovery_secret(typed)
        proof = await derive_staff(
            request, crypto.derive_login_keys, secret, salt, params, password_key=password_key
        )
        await call(request, accounts.check_recovery, username=username, proof=proof)
        prepared = await derive_staff(
            request, accounts.prepare, password, params, password_key=password_key, weight=2
        )
        code = await call(
            request,
            _recover,
            username=username,
            recovery_code=typed,
            password=password,
            confirm=confirm,
            params=params,
            password_key=password_key,
            proof=proof,
            prepared=prepared,
        )
    except accounts.AccountError as exc:
        error = message(exc)
        return render(
            request, "staff/recover.html", {"error": error, "username": username}, status=400
        )
    return render(request, "staff/activated.html", {"recovery": code, "recovered": True})


routes = [
    Route("/staff/password", password_form, methods=["GET"]),
    Route("/staff/password", change_password, methods=["POST"]),
    Route("/staff/recover", recover_form, methods=["GET"]),
    Route("/staff/recover", recover, methods=["POST"]),
    Route("/activate/{token}", activate_form, methods=["GET"]),
    Route("/activate/{token}", activate, methods=["POST"]),
]
