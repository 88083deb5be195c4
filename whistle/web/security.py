"""Headers, request limits, CSRF and cookies: what every response and every form goes through.

No user agent is read anywhere in whistle, and no client address outside
``whistle/web/network.py`` (the in-memory employer-network check, never stored). Uvicorn runs
with ``proxy_headers=False`` and no access log, so ``X-Forwarded-For`` and its relatives reach
no log and no other code.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whistle import crypto

CSRF_COOKIE = "whistle_csrf"
# With Secure cookies the CSRF cookie has the __Host- prefix: the browser then accepts it only
# from this origin over HTTPS, with Path=/ and no Domain, so a sibling subdomain (or a network
# attacker on plain http) cannot plant a token of its choosing. Plain-http demo mode keeps the
# bare name, because browsers refuse a prefixed cookie that is not Secure.
CSRF_HOST_COOKIE = "__Host-" + CSRF_COOKIE
CSRF_FIELD = "csrf_token"

# No script-src at all: no page of whistle runs JavaScript, except the staff pages of the
# WebAuthn ceremonies (a browser API with no HTML form), which may run same-origin files only:
# never inline code, never another origin, never a reporter page. Images may be inline data
# (QR codes). Recordings play from this origin only (the case page's <audio> player).
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
CSP_WITH_SCRIPT = CSP + "; script-src 'self'"
# The pages (and the form posts that answer with them) that load /static/webauthn.js.
SCRIPT_PATHS = re.compile(r"/staff/second-factor|/staff/security-keys?(/[a-z0-9/-]*)?")


def allows_script(path: str) -> bool:
    return SCRIPT_PATHS.fullmatch(path) is not None


# Two years, subdomains included: once a browser has seen this service over HTTPS it never
# talks to it over plain http again (sent with Secure cookies, i.e. not in plain-http demo mode).
HSTS = "max-age=63072000; includeSubDomains"
BASE_HEADERS = {
    "content-security-policy": CSP,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413)


class SecurityHeadersMiddleware:
    """Adds the security headers to every response, error pages included.

    Everything but static assets is ``Cache-Control: no-store``: a shared or back-button cache
    must never hold a case page or a case code.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts: bool,
        onion_location: str = "",
        onion_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.hsts = hsts
        self.onion_location = onion_location.rstrip("/")
        # Only reporter pages advertise the onion service; staff work from the office network.
        self.onion_paths = frozenset(onion_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in BASE_HEADERS.items():
                    headers[name] = value
                if allows_script(path):
                    headers["content-security-policy"] = CSP_WITH_SCRIPT
                if path.startswith("/static/") and message.get("status") == 200:
                    headers["cache-control"] = "public, max-age=3600"
                else:
                    headers["cache-control"] = "no-store"
                    headers["pragma"] = "no-cache"
                if self.hsts:
                    headers["strict-transport-security"] = HSTS
                if self.onion_location and path in self.onion_paths:
                    headers["onion-location"] = self.onion_location + path
            await send(message)

        await self.app(scope, receive, send_with_headers)


def error_headers(*, hsts: bool) -> dict[str, str]:
    """The headers of a response produced outside this middleware (Starlette's 500 page)."""
    headers = {**BASE_HEADERS, "cache-control": "no-store", "pragma": "no-cache"}
    if hsts:
        headers["strict-transport-security"] = HSTS
    return headers


class BodyLimitMiddleware:
    """Refuses request bodies over the limit, by Content-Length and while streaming.

    Multipart bodies to ``upload_paths`` (the forms that take files) get ``upload_max_bytes``
    instead, enforced while streaming only: their handlers stop reading at the exact per-file
    and per-request limits themselves and answer with the form and a translated message, which
    a plain 413 here at the first header could not.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_max_bytes: int = 0,
        upload_paths: Collection[re.Pattern[str]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_paths = tuple(upload_paths)

    def _is_upload(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        if scope.get("method") != "POST" or not any(p.fullmatch(path) for p in self.upload_paths):
            return False
        content_type: bytes = dict(scope.get("headers", [])).get(b"content-type", b"")
        return content_type.split(b";")[0].strip().lower() == b"multipart/form-data"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = self._is_upload(scope)
        limit = self.upload_max_bytes if upload else self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (
                not value.isdigit() or (not upload and int(value) > limit)
            ):
                await _plain(send, 413, b"Request body too large")
                return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def csrf_cookie(request: Request) -> str:
    """The CSRF cookie's name: ``__Host-whistle_csrf`` when cookies are Secure."""
    secure: bool = request.app.state.ctx.settings.cookie_secure
    return CSRF_HOST_COOKIE if secure else CSRF_COOKIE


def csrf_token(request: Request) -> str:
    """The browser's CSRF token: from its cookie, or a new one the response will set."""
    token = request.cookies.get(csrf_cookie(request), "")
    if not (20 <= len(token) <= 100):
        token = getattr(request.state, "new_csrf", None) or crypto.random_token(24)
        request.state.new_csrf = token
    return token


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int | None = None
) -> None:
    secure: bool = request.app.state.ctx.settings.cookie_secure
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=secure, samesite="strict", path="/"
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    secure: bool = request.app.state.ctx.settings.cookie_secure
    response.delete_cookie(name, httponly=True, secure=secure, samesite="strict", path="/")


def finish_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie if this request created the token."""
    new = getattr(request.state, "new_csrf", None)
    if new:
        set_cookie(response, request, csrf_cookie(request), new)


class FormFields(dict[str, str]):
    """Text fields of a form: the first value of each name, and every value via getlist."""

    def __init__(self) -> None:
        super().__init__()
        self.lists: dict[str, list[str]] = {}

    def getlist(self, name: str) -> list[str]:
        return self.lists.get(name, [])


async def read_form(request: Request, *, max_fields: int = 100) -> FormFields:
    """Parse a url-encoded or multipart form and check its CSRF token (403 when wrong).

    Returns single-valued text fields; files are refused here (uploads have their own
    streaming path).
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        raise HTTPException(status_code=400)
    try:
        form: FormData = await request.form(
            max_files=0, max_fields=max_fields, max_part_size=256 * 1024
        )
    except BodyTooLarge:
        raise
    except Exception:  # malformed multipart, bad encoding: the client's fault, never a 500
        raise HTTPException(status_code=400) from None
    fields = FormFields()
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise HTTPException(status_code=400)
        fields.setdefault(key, value)
        fields.lists.setdefault(key, []).append(value)
    await form.close()
    check_csrf(request.cookies.get(csrf_cookie(request), ""), fields.get(CSRF_FIELD, ""))
    return fields


def check_csrf(cookie: str, sent: str) -> None:
    """403 unless the form's token is the cookie's (both present, compared in constant time)."""
    if not cookie or not sent or not crypto.constant_time_equal(cookie, sent):
        raise HTTPException(status_code=403, detail="csrf")


def form_values(form: Mapping[str, Any], *names: str) -> dict[str, str]:
    """The named fields, for re-filling a form after an error (never secrets)."""
    return {name: str(form.get(name, "")) for name in names}
