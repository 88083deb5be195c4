"""Security keys on the web: the login step with a key, a first key at login (when keys are
required), and the account page that lists, adds and removes keys.

These are the only pages that load a script (``/static/webauthn.js``): the WebAuthn ceremony
is a browser API with no HTML form. Each is in :data:`whistle.web.security.SCRIPT_PATHS`, the
one place where the CSP allows ``script-src 'self'``. The script fills hidden fields and sends
an ordinary form, so CSRF, the answer and its check stay as on every other form. A PRF output
arrives in a hidden field, is used in memory and is never stored or logged.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import accounts, audit, crypto, login, security_keys
from whistle import second_factor as factor
from whistle.login import KeyEnrolment, Pending, may_enrol_key
from whistle.login import factor_failed as _factor_failed
from whistle.login import finish_login as _finish_login
from whistle.login import load_pending as _load_pending
from whistle.models import SecurityKey, User, utcnow
from whistle.security_keys import SecurityKeyError
from whistle.web import security
from whistle.web.auth import (
    E_FACTOR_LOCKED,
    HOME,
    PENDING_COOKIE,
    STAFF_COOKIE,
    Staff,
    relying_party,
    require_any_staff,
    second_factor_form,
)
from whistle.web.context import call, ctx, derive_staff, redirect, render
from whistle.web.errors import message

# A key is removed only within this long after a login with another factor.
FRESH_LOGIN = dt.timedelta(minutes=10)


def _prf(text: str) -> bytes | None:
    return security_keys.decode_prf(text[:100])


# --- the login step --------------------------------------------------------------------------


def _key_login_step(
    db: Session,
    *,
    pending_cookie: str,
    rp: security_keys.RelyingParty,
    response: str,
    prf: str,
    outcome: str,
    lifetime: dt.timedelta,
) -> tuple[str, str]:
    """(outcome, staff cookie): the role when the key was right, else an error code. A wrong,
    replayed, foreign or cancelled answer counts against the account like a wrong code."""
    pending = _load_pending(db, cookie=pending_cookie)
    if pending is None:
        return "expired-login", ""
    moment = utcnow()
    try:
        user = factor.count_try(db, user_id=pending.user.id, now=moment)
    except factor.SecondFactorLocked:
        return "locked", ""
    if user is None:
        return "expired-login", ""
    try:
        if outcome:
            raise SecurityKeyError("cancelled")
        key = security_keys.authenticate(
            db,
            user_id=user.id,
            rp=rp,
            response=response,
            session_secret=pending_cookie,
            now=moment,
        )
        private = security_keys.unlock(key, user=user, kek=pending.kek, prf_output=_prf(prf))
    except SecurityKeyError as exc:
        factor.settle_try(db, user=user, ok=False, now=moment)
        if _factor_failed(db, pending_cookie=pending_cookie, user_id=user.id):
            return "expired-login", ""
        return exc.code, ""
    factor.settle_try(db, user=user, ok=True, now=moment)
    cookie = _finish_login(
        db,
        pending_cookie=pending_cookie,
        user=user,
        private_key=private or pending.private_key,
        lifetime=lifetime,
        factor="key:" + key.id,
    )
    return "role:" + user.role, cookie


def _logged_in(request: Request, role: str, cookie: str) -> Response:
    response = redirect(HOME.get(role, "/inbox"))
    security.clear_cookie(response, request, PENDING_COOKIE)
    security.set_cookie(response, request, STAFF_COOKIE, cookie)
    return response


def _back_to_login(request: Request) -> Response:
    response = redirect("/staff/login")
    security.clear_cookie(response, request, PENDING_COOKIE)
    return response


async def key_login(request: Request) -> Response:
    form = await security.read_form(request)
    settings = ctx(request).settings
    outcome, cookie = await call(
        request,
        _key_login_step,
        pending_cookie=request.cookies.get(PENDING_COOKIE, ""),
        rp=relying_party(request),
        response=form.get("credential", ""),
        prf=form.get("prf", ""),
        outcome=form.get("outcome", "")[:20],
        lifetime=dt.timedelta(hours=settings.staff_absolute_hours),
    )
    if outcome.startswith("role:"):
        return _logged_in(request, outcome[5:], cookie)
    if outcome == "expired-login":
        return _back_to_login(request)
    if outcome == "locked":
        return await second_factor_form(request, key_error=E_FACTOR_LOCKED, status=429)
    return await second_factor_form(request, key_error=message(outcome), status=400)


# --- a first key at login (WHISTLE_REQUIRE_SECURITY_KEY) ----------------------------------


def _enrol_view(
    db: Session, *, pending_cookie: str, rp: security_keys.RelyingParty, required: bool
) -> tuple[str, bool] | str:
    """(registration options, whether the TOTP code is asked for too) for a pending login's
    first key; else where to send the browser."""
    pending = _load_pending(db, cookie=pending_cookie)
    if pending is None:
        return "/staff/login"
    allowed = may_enrol_key(db, pending=pending, required=required)
    if allowed is not KeyEnrolment.ALLOWED:
        return "/staff/second-factor" if allowed is KeyEnrolment.HAS_KEYS else "/staff/login"
    options = security_keys.registration_options(
        db, user=pending.user, rp=rp, session_secret=pending_cookie
    )
    return options, pending.totp is not None


async def enrol_form(
    request: Request, *, error: str = "", status: int = 200, name: str = ""
) -> Response:
    view = await call(
        request,
        _enrol_view,
        pending_cookie=request.cookies.get(PENDING_COOKIE, ""),
        rp=relying_party(request),
        required=ctx(request).settings.security_key_required,
    )
    if isinstance(view, str):
        return redirect(view)
    options, code = view
    context = {"options": options, "error": error, "name": name, "code": code}
    return render(request, "staff/security_key_enrol.html", context, status=status)


@dataclass(frozen=True)
class EnrolForm:
    name: str
    response: str
    prf: str
    outcome: str
    code: str


def _enrol_checks(
    db: Session,
    *,
    pending: Pending,
    pending_cookie: str,
    rp: security_keys.RelyingParty,
    form: EnrolForm,
) -> SecurityKey:
    """The first key, registered; raises :class:`SecurityKeyError`. An account that has a
    TOTP app proves it with a code as well: the code is its second factor until the key is
    there, and the password alone must not replace it with a key of the thief's."""
    if form.outcome:
        raise SecurityKeyError("cancelled")
    if pending.totp is not None:
        accepted = factor.accept_code(
            db, user_id=pending.user.id, secret=pending.totp, code=form.code, at=time.time()
        )
        if accepted is None:
            raise SecurityKeyError("wrong-code")
    return security_keys.register(
        db,
        user_id=pending.user.id,
        rp=rp,
        name=form.name,
        response=form.response,
        prf_output=_prf(form.prf),
        kek=pending.kek,
        private_key=pending.private_key,
        session_secret=pending_cookie,
    )


def _enrol_step(
    db: Session,
    *,
    pending_cookie: str,
    rp: security_keys.RelyingParty,
    form: EnrolForm,
    required: bool,
    lifetime: dt.timedelta,
) -> tuple[str, str]:
    """(outcome, staff cookie), like :func:`_key_login_step`: a wrong code or answer counts
    against the account like a wrong second factor, and saves nothing."""
    pending = _load_pending(db, cookie=pending_cookie)
    if pending is None:
        return "expired-login", ""
    allowed = may_enrol_key(db, pending=pending, required=required)
    if allowed is not KeyEnrolment.ALLOWED:
        return ("key-exists" if allowed is KeyEnrolment.HAS_KEYS else "expired-login"), ""
    moment = utcnow()
    try:
        user = factor.count_try(db, user_id=pending.user.id, now=moment)
    except factor.SecondFactorLocked:
        return "locked", ""
    if user is None:
        return "expired-login", ""
    try:
        with db.begin_nested():  # a refused answer leaves no half-registered key behind
            key = _enrol_checks(
                db, pending=pending, pending_cookie=pending_cookie, rp=rp, form=form
            )
    except SecurityKeyError as exc:
        factor.settle_try(db, user=user, ok=False, now=moment)
        if _factor_failed(db, pending_cookie=pending_cookie, user_id=user.id):
            return "expired-login", ""
        return exc.code, ""
    factor.settle_try(db, user=user, ok=True, now=moment)
    audit.record(db, action="security_key_added", actor_id=user.id)
    cookie = _finish_login(
        db,
        pending_cookie=pending_cookie,
        user=user,
        private_key=pending.private_key,
        lifetime=lifetime,
        factor="key:" + key.id,
    )
    return "role:" + user.role, cookie


async def enrol(request: Request) -> Response:
    form = await security.read_form(request)
    settings = ctx(request).settings
    name = form.get("name", "")[:200]
    outcome, cookie = await call(
        request,
        _enrol_step,
        pending_cookie=request.cookies.get(PENDING_COOKIE, ""),
        rp=relying_party(request),
        form=EnrolForm(
            name=name,
            response=form.get("credential", ""),
            prf=form.get("prf", ""),
            outcome=form.get("outcome", "")[:20],
            code=form.get("code", "")[:20],
        ),
        required=settings.security_key_required,
        lifetime=dt.timedelta(hours=settings.staff_absolute_hours),
    )
    if outcome.startswith("role:"):
        return _logged_in(request, outcome[5:], cookie)
    if outcome == "expired-login":
        return _back_to_login(request)
    if outcome == "key-exists":
        return redirect("/staff/second-factor")
    if outcome == "locked":
        return await enrol_form(request, error=E_FACTOR_LOCKED, status=429, name=name[:64])
    return await enrol_form(request, error=message(outcome), status=400, name=name[:64])


# --- the account page ------------------------------------------------------------------------


def _page(
    db: Session, *, user: User, rp: security_keys.RelyingParty, session_secret: str
) -> dict[str, object]:
    return {
        "keys": security_keys.keys_of(db, user.id),
        "options": security_keys.registration_options(
            db, user=user, rp=rp, session_secret=session_secret
        ),
        "locked": security_keys.prf_locked(user),
    }


async def keys_page(
    request: Request,
    *,
    staff: Staff | None = None,
    error: str = "",
    done: str = "",
    status: int = 200,
    name: str = "",
) -> Response:
    staff = staff or await require_any_staff(request)
    context = await call(
        request, _page, user=staff.user, rp=relying_party(request), session_secret=staff.cookie
    )
    context.update(user=staff.user, error=error, done=done, name=name)
    return render(request, "staff/security_keys.html", context, status=status)


async def _password_kek(request: Request, staff: Staff, password: str) -> bytes:
    """The password's key-encryption key, or ``wrong-password``: adding a key seals the private
    key under it, and removing one is confirmed with it."""
    app = ctx(request)
    proof = await derive_staff(
        request,
        crypto.derive_login_keys,
        password[: accounts.MAX_PASSWORD],
        staff.user.password_salt or b"",
        app.settings.argon2,
        password_key=app.keys.password_key,
    )
    # In a transaction of its own, so that a wrong password stays counted (the login's budget).
    checked = await call(request, login.reconfirm_password, user_id=staff.user.id, keys=proof)
    if checked.step is login.Reconfirm.LOCKED:
        raise SecurityKeyError("password-locked")
    if checked.step is not login.Reconfirm.OK:
        raise SecurityKeyError("wrong-password")
    return checked.kek


def _add(db: Session, *, user_id: str, **kwargs: object) -> None:
    security_keys.register(db, user_id=user_id, **kwargs)  # type: ignore[arg-type]
    audit.record(db, action="security_key_added", actor_id=user_id)


async def add_key(request: Request) -> Response:
    staff = await require_any_staff(request)
    form = await security.read_form(request)
    name = form.get("name", "")[:200]
    try:
        if form.get("outcome", ""):
            raise SecurityKeyError("cancelled")
        kek = await _password_kek(request, staff, form.get("password", ""))
        await call(
            request,
            _add,
            user_id=staff.user.id,
            rp=relying_party(request),
            name=name,
            response=form.get("credential", ""),
            prf_output=_prf(form.get("prf", "")),
            kek=kek,
            private_key=staff.private_key,
            session_secret=staff.cookie,
        )
    except SecurityKeyError as exc:
        return await keys_page(request, staff=staff, error=message(exc), status=400, name=name[:64])
    return await keys_page(request, staff=await require_any_staff(request), done="added")


def _remove(
    db: Session, *, staff: Staff, key_id: str, kek: bytes, required: bool, now: dt.datetime
) -> None:
    user = db.get(User, staff.user.id)
    assert user is not None
    fresh = staff.since is not None and staff.since + FRESH_LOGIN > now
    if not fresh or staff.factor == "key:" + key_id:
        raise SecurityKeyError("not-fresh")
    keys = security_keys.keys_of(db, user.id)
    if required and user.role == "investigator" and len(keys) <= 1:
        raise SecurityKeyError("last-key")
    security_keys.remove(db, user=user, key_id=key_id, kek=kek, private_key=staff.private_key)
    audit.record(db, action="security_key_removed", actor_id=user.id)


async def remove_key(request: Request) -> Response:
    staff = await require_any_staff(request)
    form = await security.read_form(request)
    try:
        kek = await _password_kek(request, staff, form.get("password", ""))
        await call(
            request,
            _remove,
            staff=staff,
            key_id=request.path_params["key_id"][:32],
            kek=kek,
            required=ctx(request).settings.security_key_required,
            now=utcnow(),
        )
    except SecurityKeyError as exc:
        return await keys_page(request, staff=staff, error=message(exc), status=400)
    return await keys_page(request, staff=await require_any_staff(request), done="removed")


routes = [
    Route("/staff/security-key/login", key_login, methods=["POST"]),
    Route("/staff/security-key/enrol", enrol_form, methods=["GET"]),
    Route("/staff/security-key/enrol", enrol, methods=["POST"]),
    Route("/staff/security-keys", keys_page, methods=["GET"]),
    Route("/staff/security-keys/add", add_key, methods=["POST"]),
    Route("/staff/security-keys/{key_id}/remove", remove_key, methods=["POST"]),
]
