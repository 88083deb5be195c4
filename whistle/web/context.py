"""What every handler shares: the application context, page rendering and running domain code.

Domain functions are synchronous (SQLAlchemy sessions); handlers run them in worker threads with
:func:`call` (:func:`commit` when the transaction also keeps uploaded blobs); staff-side Argon2
derivations run with :func:`derive_staff`, outside any transaction, in one of the bounded
derivation slots (reporters' use ``deriver.case_access``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import anyio.to_thread
import jinja2
import markupsafe
from babel import Locale
from babel.dates import format_datetime
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from whistle import audit, blobstore, i18n, scrub_labels
from whistle.db import session_scope
from whistle.derivation import Deriver
from whistle.keys import Keys
from whistle.sandbox import Sandbox
from whistle.settings import Settings
from whistle.web import security, thread

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"
LANG_COOKIE = "whistle_lang"
# The modules of the reporter side and the information pages: their pages speak every
# language a reporter can choose; every other page is the staff side (Swedish and English).
REPORTER_MODULES = frozenset(
    {"whistle.web.reporter", "whistle.web.reporter_case", "whistle.web.pages"}
)
INFORMATION_PATHS = "/info/"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: Engine
    keys: Keys
    deriver: Deriver
    templates: jinja2.Environment
    sandbox: Sandbox  # the worker processes that remove hidden data from attached files
    blob_store: blobstore.Store
    site: Site  # what templates may read of the settings
    # Pages rendered once and served to every visitor of one variant (locale, employer-network
    # warning, logged-out notice): web/reporter.py, docs/performance.md. Per app, never per
    # visitor: the CSRF token is put in at serving time.
    landing_pages: dict[tuple[str, bool, bool], bytes] = field(default_factory=dict)
    report_forms: dict[tuple[str, bool, bool], tuple[float, bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class Site:
    """The settings a template reads, and nothing else: pages get this instead of the whole
    :class:`Settings` (which holds the SMTP password and the database URL)."""

    max_files: int
    max_upload_bytes: int
    voice_max_minutes: int
    oral_phone: str
    oral_hours: str
    meeting_days: int
    reporter_idle_minutes: int
    security_key_required: bool
    sends_email: bool  # an SMTP server is set: activation links go out by e-mail
    accessibility_assessed: dt.date | None
    accessibility_contact: str
    dpo_contact: str
    retention_policy: str
    retention_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Site:
        return cls(
            max_files=settings.max_files,
            max_upload_bytes=settings.max_upload_bytes,
            voice_max_minutes=settings.voice_max_minutes,
            oral_phone=settings.oral_phone,
            oral_hours=settings.oral_hours,
            meeting_days=settings.meeting_days,
            reporter_idle_minutes=settings.reporter_idle_minutes,
            security_key_required=settings.security_key_required,
            sends_email=bool(settings.smtp_host),
            accessibility_assessed=settings.accessibility_assessed,
            accessibility_contact=settings.accessibility_contact,
            dpo_contact=settings.dpo_contact,
            retention_policy=settings.retention_policy,
            retention_days=settings.retention_days,
        )


def _local_datetime(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    # The short format shows minutes: every moment of one minute prints the same.
    return _short_datetime(aware.replace(second=0, microsecond=0), i18n.get_locale())


@functools.lru_cache(maxsize=4096)
def _short_datetime(moment: dt.datetime, locale: str) -> str:
    """Babel's formatting parses the locale and the pattern on every call (a long case page
    printed 200 dates at ≈ 0.1 ms each); a thread's items share their minutes and a page is
    viewed again and again. Only times are kept here, the metadata every item row has in clear."""
    return format_datetime(moment.astimezone(STOCKHOLM), format="short", locale=_locale(locale))


@functools.lru_cache(maxsize=8)
def _locale(code: str) -> Locale:
    return Locale.parse(code)


def translated(labels: Mapping[str, str]) -> dict[str, str]:
    """A table of labels translated once for the page, instead of once for each row."""
    return {code: i18n.gettext(label) for code, label in labels.items()}


@jinja2.pass_context
def _left_to_right(context: jinja2.runtime.Context, value: object) -> object:
    """A code or reference kept left to right inside right-to-left text (a case code, a
    decision reference "KS 2026/12 § 4"); elsewhere the value as it is."""
    if context.get("direction") != "rtl":
        return value
    return markupsafe.Markup('<bdi dir="ltr">%s</bdi>') % value


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.globals["audit_labels"] = audit.LABELS
    env.globals["direction_of"] = i18n.direction
    env.globals["translated"] = translated
    env.globals["thread_rows"] = thread.rows
    env.globals["moment"] = _local_datetime
    env.filters["date"] = i18n.date
    env.filters["datetime"] = _local_datetime
    env.filters["filesize"] = i18n.filesize
    env.filters["ltr"] = _left_to_right
    env.filters["hidden_groups"] = scrub_labels.groups
    return env


def ctx(request: Request) -> AppContext:
    context: AppContext = request.app.state.ctx
    return context


def for_reporters(request: Request) -> bool:
    """Whether the request is for the reporter side or an information page: by the module of
    the route it matched, or by its path (/info/signing-key is served by the package module);
    a request that matched no route (a 404) gets the public page too."""
    endpoint = request.scope.get("endpoint")
    if endpoint is None or request.url.path.startswith(INFORMATION_PATHS):
        return True
    return getattr(endpoint, "__module__", "") in REPORTER_MODULES


def offered_locales(request: Request) -> tuple[str, ...]:
    return i18n.REPORTER_LOCALES if for_reporters(request) else i18n.STAFF_LOCALES


def locale_of(request: Request) -> str:
    """The language chosen with the switch, if this side of the service speaks it: a staff page
    asked for in Finnish or Arabic comes in the default language (Swedish)."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in offered_locales(request) else ctx(request).settings.default_locale


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    locale = locale_of(request)
    token = i18n.set_locale(locale)
    try:
        page = ctx(request).templates.get_template(template)
        html = page.render(
            request=request,
            locale=locale,
            direction=i18n.direction(locale),
            # The language switch: the other languages, each named in itself.
            other_locales=[code for code in offered_locales(request) if code != locale],
            native_names=i18n.NATIVE_NAMES,
            # The language the organisation's own texts are shown in (sv/en only).
            text_locale=i18n.text_locale(locale),
            csrf_token=security.csrf_token(request),
            organisation=ctx(request).settings.organisation,
            site=ctx(request).site,
            lang_url=lambda code: f"/lang/{code}?next={quote(request.url.path)}",
            **(context or {}),
        )
    finally:
        i18n.reset_locale(token)
    response = HTMLResponse(html, status_code=status)
    security.finish_csrf(request, response)
    return response


def translate(request: Request, message: str, **variables: object) -> str:
    with i18n.using(locale_of(request)):
        return i18n.gettext(message, **variables)


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a POST the browser fetches the target with GET."""
    return RedirectResponse(url, status_code=303)


async def call(request: Request, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run ``fn(db=..., **kwargs)`` in a worker thread inside one transaction."""
    return await _in_transaction(request, None, fn, kwargs)


async def commit(
    request: Request, batch: blobstore.Batch, fn: Callable[..., T], /, **kwargs: Any
) -> T:
    """Like :func:`call`, in the transaction that writes the rows naming the batch's blobs
    (:func:`whistle.blobstore.transaction`); the blobs are kept once it has committed. Until
    then the caller's ``finally: batch.discard()`` removes them. Derive before calling: no
    derivation runs inside the transaction."""
    return await _in_transaction(request, batch, fn, kwargs)


async def _in_transaction(
    request: Request, batch: blobstore.Batch | None, fn: Callable[..., T], kwargs: dict[str, Any]
) -> T:
    """``fn(db=..., **kwargs)`` in a worker thread inside one transaction: the one place that
    runs domain code for a handler."""
    engine = ctx(request).engine

    def run() -> T:
        if batch is None:
            with session_scope(engine) as db:
                return fn(db=db, **kwargs)
        with blobstore.transaction(batch, engine) as db:
            result = fn(db=db, **kwargs)
        batch.keep()
        return result

    return await anyio.to_thread.run_sync(run)


async def derive_staff(
    request: Request, fn: Callable[..., T], *args: Any, weight: int = 1, **kwargs: Any
) -> T:
    """Run ``fn(*args, **kwargs)``, a staff derivation (``weight`` of them), in a staff
    derivation slot.

    No database session: derivations run outside every transaction, since on SQLite a
    transaction holds the write lock from BEGIN (:mod:`whistle.db`)."""
    return await ctx(request).deriver.run(lambda: fn(*args, **kwargs), staff=True, weight=weight)


def not_found(request: Request) -> Response:
    return render(request, "pages/error.html", {"status": 404}, status=404)
