"""What every staff page shares: the staff session (:func:`require_staff`), the cookies, where
each role lands, and the second-step page that both the TOTP login (:mod:`whistle.web.staff`)
and the security-key login (:mod:`whistle.web.security_keys`) show. Not a handler module: it has
no routes of its own, so handler modules import it instead of one another.

A full staff session's payload is the investigator's unlocked private key (empty for
administrators), sealed under the secret in the cookie.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from dataclasses import dataclass

import segno
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from whistle import crypto, login, security_keys, sessions
from whistle.i18n import N_
from whistle.models import User
from whistle.web.context import call, ctx, redirect, render

STAFF_COOKIE = "whistle_staff"
PENDING_COOKIE = "whistle_pending"
E_LOGIN = N_("Wrong username or password.")
E_LOCKED = N_("Too many failed attempts for this account. Wait 15 minutes and try again.")
E_CODE = N_("That code is not right, or it was already used. Enter the current code from your app.")
E_FACTOR_LOCKED = N_(
    "Too many wrong codes for this account. The second step is locked for a while, for every "
    "code; try again later. The wait grows with each further wrong code."
)
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
    staff = await require_any_staff(request)
    if staff.user.role != role:
        raise HTTPException(status_code=404)
    return staff


async def require_any_staff(request: Request) -> Staff:
    idle = dt.timedelta(minutes=ctx(request).settings.staff_idle_minutes)
    staff = await call(request, _load_staff, cookie=request.cookies.get(STAFF_COOKIE), idle=idle)
    if staff is None:
        raise LoginRequired()
    return staff


def relying_party(request: Request) -> security_keys.RelyingParty:
    settings = ctx(request).settings
    return security_keys.relying_party(settings.base_url, name=settings.organisation)


def _qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG, drawn on the server: no script, no other origin."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title=None
    )
    return out.getvalue().decode()


async def second_factor_form(
    request: Request, *, error: str = "", status: int = 200, key_error: str = ""
) -> Response:
    """The second step of a pending login (a code, a key, or the TOTP enrolment)."""
    pending_cookie = request.cookies.get(PENDING_COOKIE, "")
    pending = await call(request, login.load_pending, cookie=pending_cookie)
    if pending is None:
        return redirect("/staff/login")
    enrol = request.url.path == "/staff/enrol"
    required = ctx(request).settings.security_key_required
    step = await call(
        request,
        login.second_step,
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
