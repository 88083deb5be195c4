"""Staff accounts on the web: two-step login (password, then a TOTP code or a security key),
enrolment of the TOTP second factor, logout (here or everywhere). Security keys' own pages are
in :mod:`whistle.web.security_keys`.

A full staff session's payload is the investigator's unlocked private key (empty for
administrators), sealed under the secret in the cookie. Between the password and the second
factor, a short "pending" session holds what the second step needs, sealed the same way.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import time
from dataclasses import dataclass

import segno
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import accounts, attempts, audit, crypto, security_keys, sessions
from whistle import second_factor as factor
from whistle.i18n import N_
from whistle.models import User
from whistle.web import security
from whistle.web.context import call, ctx, derive_staff, redirect, render

STAFF_COOKIE = "whistle_staff"
PENDING_COOKIE = "whistle_pending"
PENDING_LIFETIME = dt.timedelta(minutes=10)
LOGIN_FAILURES = 10  # per username per 15 minutes; then the account waits (no addresses kept)
FACTOR_FAILURES = 5  # per pending login; the account's own budget is factor.FACTOR_BUDGET
E_LOGIN = N_("Wrong username or password.")
E_LOCKED = N_("Too many failed attempts for this account. Wait 15 minutes and try again.")
E_FACTOR_LOCKED = N_(
    "Too many wrong codes for this account. The second step is locked for a while, for every "
    "code; try again later. The wait grows with each further wrong code."
)
E_CODE = N_("That code is not right, or it was already used. Enter the current code from your app.")
E_KEY_REQUIRED = N_(
    "This account logs in with a security key, not with a code. Use your key, or the recovery "
    "code if you have lost it."
)


# Where each role lands after logging in.
HOME = {"admin": "/admin", "registrar": "/registrar", "investigator": "/inbox"}


class LoginRequired(Exception):
    """Raised by :func:`require_staff` when there is no live staff session."""


@dataclass(frozen=True)
class Staff:
    user: User
    private_key: bytes
    cookie: str
    # How this login passed its second step ("totp", "key:<id>") and when it began.
    factor: str | None = None
    since: dt.datetime | None = None


def _load_staff(db: Session, *, cookie: str | None, idle: dt.timedelta) -> Staff | None:
    loaded = sessions.load(db, cookie, kind="staff", idle=idle)
    if loaded is None or loaded.user_id is None or cookie is None:
        return None
    user = db.get(User, loaded.user_id)
    if user is None or user.status != "active":
        return None
    return Staff(
        user=user,
        private_key=loaded.payload,
        cookie=cookie,
        factor=loaded.factor,
        since=loaded.created_at,
    )


async def require_staff(request: Request, role: str) -> Staff:
    """The logged-in staff member with this role; 404 for the other role (nothing to see)."""
    idle = dt.timedelta(minutes=ctx(request).settings.staff_idle_minutes)
    staff = await call(request, _load_staff, cookie=request.cookies.get(STAFF_COOKIE), idle=idle)
    if staff is None:
        raise LoginRequired()
    if staff.user.role != role:
        raise HTTPException(status_code=404)
    return staff


async def require_any_staff(request: Request) -> Staff:
    idle = dt.timedelta(minutes=ctx(request).settings.staff_idle_minutes)
    staff = await call(request, _load_staff, cookie=request.cookies.get(STAFF_COOKIE), idle=idle)
    if staff is None:
        raise LoginRequired()
    return staff


# --- pending login (between password and second factor) ------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _pending_payload(
    who: accounts.Authenticated, enrol_secret: bytes | None, *, key_enrol: bool = False
) -> bytes:
    data = {
        "private": _b64(who.private_key),
        "kek": _b64(who.kek),
        "totp": _b64(who.totp_secret) if who.totp_secret else None,
        "enrol": _b64(enrol_secret) if enrol_secret else None,
        # Set only when the password step sent this login to register a first security key
        # (WHISTLE_REQUIRE_SECURITY_KEY, no key yet): no other login may register one.
        "key_enrol": key_enrol,
    }
    return json.dumps(data).encode()


@dataclass(frozen=True)
class Pending:
    user: User
    private_key: bytes
    kek: bytes
    totp: bytes | None
    enrol: bytes | None
    key_enrol: bool = False


def _load_pending(db: Session, *, cookie: str | None) -> Pending | None:
    loaded = sessions.load(db, cookie, kind="pending", idle=PENDING_LIFETIME)
    if loaded is None or loaded.user_id is None:
        return None
    user = db.get(User, loaded.user_id)
    if user is None or user.status != "active":
        return None
    data = json.loads(loaded.payload)

    def raw(name: str) -> bytes | None:
        value = data.get(name)
        return base64.b64decode(value) if value else None

    return Pending(
        user,
        raw("private") or b"",
        raw("kek") or b"",
        raw("totp"),
        raw("enrol"),
        key_enrol=data.get("key_enrol") is True,
    )


def _username_key(username: str) -> str:
    # A digest, so the counter table does not list usernames people tried.
    return "staff-login:" + crypto.digest(username.strip().lower())[:12].hex()


def _login_account(db: Session, *, username: str) -> tuple[bool, User | None, bytes]:
    """(locked, account, salt): the short read before the derivation."""
    locked = attempts.count(db, _username_key(username), seconds=900) >= LOGIN_FAILURES
    user, salt = accounts.find_login(db, username=username)
    return locked, user, salt


def totp_allowed(user: User, *, required: bool) -> bool:
    """Whether a TOTP code may finish this account's login: not for an investigator when
    WHISTLE_REQUIRE_SECURITY_KEY is on, nor for one whose private key opens only with a PRF
    security key (a code could not unlock it)."""
    if security_keys.prf_locked(user):
        return False
    return not (required and user.role == "investigator")


def _password_step(
    db: Session, *, username: str, user: User | None, keys: crypto.LoginKeys, required: bool
) -> tuple[str, str]:
    """Finish the password step; return (outcome, pending cookie). Outcomes: failed, totp (the
    second step: code or key), enrol (TOTP), key-enrol (a first security key, when required).
    An account still on the unpeppered scheme is upgraded here."""
    try:
        who = accounts.upgrade_password_scheme(db, who=accounts.check_login(user, keys), keys=keys)
    except accounts.LoginFailed:
        attempts.record(db, _username_key(username), seconds=900)
        # Logged against the account when it exists; what was typed is never stored (a
        # password typed into the username field must not end up in the log).
        if user is not None:
            audit.record(db, action="login_failed", subject_id=user.id)
        return "failed", ""
    has_keys = bool(security_keys.keys_of(db, who.user.id))
    allowed = totp_allowed(who.user, required=required)
    outcome = "totp" if has_keys or (allowed and who.totp_secret) else "enrol"
    if outcome == "enrol" and not allowed:
        outcome = "key-enrol"
    enrol = crypto.totp_new_secret() if outcome == "enrol" else None
    cookie = sessions.create(
        db,
        kind="pending",
        payload=_pending_payload(who, enrol, key_enrol=outcome == "key-enrol"),
        user_id=who.user.id,
        lifetime=PENDING_LIFETIME,
    )
    return outcome, cookie


async def login_form(request: Request) -> Response:
    return render(request, "staff/login.html", {"error": "", "username": ""})


async def login(request: Request) -> Response:
    form = await security.read_form(request)
    username = form.get("username", "")[:64]
    password = form.get("password", "")[: accounts.MAX_PASSWORD]
    ctx(request).deriver.check_staff()  # a login flood is refused before any database work
    locked, user, salt = await call(request, _login_account, username=username)
    outcome, cookie = "locked", ""
    if not locked:
        # The derivation runs between two short transactions, holding no database lock.
        app = ctx(request)
        keys = await derive_staff(
            request,
            crypto.derive_login_keys,
            password,
            salt,
            app.deriver.params,
            password_key=app.keys.password_key,
        )
        outcome, cookie = await call(
            request,
            _password_step,
            username=username,
            user=user,
            keys=keys,
            required=app.settings.security_key_required,
        )
    if outcome in {"failed", "locked"}:
        error = E_LOGIN if outcome == "failed" else E_LOCKED
        return render(
            request, "staff/login.html", {"error": error, "username": username}, status=400
        )
    target = {"enrol": "/staff/enrol", "key-enrol": "/staff/security-key/enrol"}
    response = redirect(target.get(outcome, "/staff/second-factor"))
    security.set_cookie(response, request, PENDING_COOKIE, cookie)
    return response


def _finish_login(
    db: Session,
    *,
    pending_cookie: str,
    user: User,
    private_key: bytes,
    lifetime: dt.timedelta,
    factor: str = "totp",
) -> str:
    sessions.destroy(db, pending_cookie)
    audit.record(db, action="login", actor_id=user.id)
    return sessions.create(
        db, kind="staff", payload=private_key, user_id=user.id, lifetime=lifetime, factor=factor
    )


def _factor_failed(db: Session, *, pending_cookie: str, user_id: str) -> bool:
    """Count a wrong code; True when this pending login has used up its tries."""
    key = "second-factor:" + crypto.digest(pending_cookie)[:12].hex()
    used = attempts.record(db, key, seconds=900)
    audit.record(db, action="second_factor_failed", actor_id=user_id)
    if used >= FACTOR_FAILURES:
        sessions.destroy(db, pending_cookie)
        return True
    return False


def _second_factor_step(
    db: Session,
    *,
    pending_cookie: str,
    code: str,
    lifetime: dt.timedelta,
    enrol: bool,
    required: bool,
) -> tuple[str, str]:
    pending = _load_pending(db, cookie=pending_cookie)
    if pending is None:
        return "expired", ""
    if not totp_allowed(pending.user, required=required):
        # Refused before the code is even looked at: a right code would not do either.
        return "key-required", ""
    if enrol:
        ok = pending.enrol is not None and factor.enrol_second_factor(
            db,
            user_id=pending.user.id,
            kek=pending.kek,
            secret=pending.enrol,
            code=code,
            at=time.time(),
        )
        if ok:
            audit.record(db, action="second_factor_enrolled", actor_id=pending.user.id)
    else:
        try:
            ok = pending.totp is not None and factor.check_second_factor(
                db, user_id=pending.user.id, secret=pending.totp, code=code, at=time.time()
            )
        except factor.SecondFactorLocked:
            return "locked", ""
    if not ok:
        expired = _factor_failed(db, pending_cookie=pending_cookie, user_id=pending.user.id)
        return ("expired" if expired else "wrong"), ""
    cookie = _finish_login(
        db,
        pending_cookie=pending_cookie,
        user=pending.user,
        private_key=pending.private_key,
        lifetime=lifetime,
    )
    return pending.user.role, cookie


def _qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG, drawn on the server: no script, no other origin."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title=None
    )
    return out.getvalue().decode()


@dataclass(frozen=True)
class SecondStep:
    """What the second step offers: a TOTP code, the account's security keys (with the
    options of a fresh challenge), or neither yet."""

    totp: bool
    key_options: str


def _second_step(
    db: Session,
    *,
    pending: Pending,
    pending_cookie: str,
    required: bool,
    rp: security_keys.RelyingParty,
) -> SecondStep:
    options = ""
    if security_keys.keys_of(db, pending.user.id):
        options = security_keys.login_options(
            db, user_id=pending.user.id, rp=rp, session_secret=pending_cookie
        )
    return SecondStep(totp=totp_allowed(pending.user, required=required), key_options=options)


def relying_party(request: Request) -> security_keys.RelyingParty:
    settings = ctx(request).settings
    return security_keys.relying_party(settings.base_url, name=settings.organisation)


async def second_factor_form(
    request: Request, *, error: str = "", status: int = 200, key_error: str = ""
) -> Response:
    pending_cookie = request.cookies.get(PENDING_COOKIE, "")
    pending = await call(request, _load_pending, cookie=pending_cookie)
    if pending is None:
        return redirect("/staff/login")
    enrol = request.url.path == "/staff/enrol"
    required = ctx(request).settings.security_key_required
    step = await call(
        request,
        _second_step,
        pending=pending,
        pending_cookie=pending_cookie,
        required=required,
        rp=relying_party(request),
    )
    if not step.totp and not step.key_options:
        return redirect("/staff/security-key/enrol")
    if enrol and not step.totp:
        return redirect("/staff/second-factor")
    if not enrol and not step.key_options and pending.totp is None:
        return redirect("/staff/enrol")
    if enrol and pending.totp is not None:
        return redirect("/staff/second-factor")
    context: dict[str, object] = {
        "error": error,
        "key_error": key_error,
        "enrol": enrol,
        "totp": step.totp and (enrol or pending.totp is not None),
        "key_options": "" if enrol else step.key_options,
    }
    if enrol and pending.enrol:
        uri = crypto.totp_uri(pending.enrol, account=pending.user.username, issuer="whistle")
        secret_text = base64.b32encode(pending.enrol).decode().rstrip("=")
        context.update(
            qr_svg=_qr_svg(uri),
            secret=" ".join(secret_text[i : i + 4] for i in range(0, len(secret_text), 4)),
        )
    return render(request, "staff/second_factor.html", context, status=status)


async def second_factor(request: Request) -> Response:
    form = await security.read_form(request)
    settings = ctx(request).settings
    outcome, cookie = await call(
        request,
        _second_factor_step,
        pending_cookie=request.cookies.get(PENDING_COOKIE, ""),
        code=form.get("code", ""),
        lifetime=dt.timedelta(hours=settings.staff_absolute_hours),
        enrol=request.url.path == "/staff/enrol",
        required=settings.security_key_required,
    )
    if outcome == "key-required":
        return await second_factor_form(request, error=E_KEY_REQUIRED, status=400)
    if outcome == "expired":
        response = redirect("/staff/login")
        security.clear_cookie(response, request, PENDING_COOKIE)
        return response
    if outcome == "wrong":
        return await second_factor_form(request, error=E_CODE, status=400)
    if outcome == "locked":
        return await second_factor_form(request, error=E_FACTOR_LOCKED, status=429)
    response = redirect(HOME.get(outcome, "/inbox"))
    security.clear_cookie(response, request, PENDING_COOKIE)
    security.set_cookie(response, request, STAFF_COOKIE, cookie)
    return response


# --- logout ----------------------------------------------------------------------------------


def _logout_everywhere(db: Session, *, user_id: str) -> None:
    sessions.destroy_for_user(db, user_id)
    audit.record(db, action="logout_everywhere", actor_id=user_id)


async def logout(request: Request) -> Response:
    await security.read_form(request)
    await call(request, sessions.destroy, cookie=request.cookies.get(STAFF_COOKIE))
    response = redirect("/staff/login")
    security.clear_cookie(response, request, STAFF_COOKIE)
    return response


async def logout_everywhere(request: Request) -> Response:
    staff = await require_any_staff(request)
    await security.read_form(request)
    await call(request, _logout_everywhere, user_id=staff.user.id)
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
