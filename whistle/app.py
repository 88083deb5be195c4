"""The application factory: routes, middleware, error pages. Wiring only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
import httpx
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from whistle import audit, blobstore, crypto, db, i18n, jobs
from whistle.derivation import Deriver, Overloaded
from whistle.keys import Keys, load_keys
from whistle.sandbox import Sandbox
from whistle.settings import Settings
from whistle.web import (
    access_requests,
    admin,
    auth,
    disclosure,
    duties,
    health,
    investigator,
    package,
    pages,
    poster,
    readers,
    redaction,
    registrar,
    reporter,
    reporter_case,
    security_keys,
    staff,
    staff_account,
    statistics,
    texts,
    uploads,
    workbench,
    workcopy,
)
from whistle.web.context import STATIC_DIR, AppContext, Site, ctx, make_templates, redirect, render
from whistle.web.network import EmployerNetworkMiddleware
from whistle.web.security import BodyLimitMiddleware, SecurityHeadersMiddleware, error_headers

log = logging.getLogger("whistle")


def bootstrap(settings: Settings) -> tuple[Engine, Keys]:
    """Migrate the database and load the keys; create them only on a first start.

    Refuses to run without the hybrid post-quantum HPKE suite.
    """
    crypto.check_hybrid_suite()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db.migrate(settings.effective_database_url)
    engine = db.make_engine(settings.effective_database_url)
    keys = load_keys(settings.keys_dir, create=db.is_empty(engine))
    return audit.keyed(engine, keys), keys


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code if exc.status_code in {400, 403, 404, 405, 413} else 400
    return render(request, "pages/error.html", {"status": status}, status=status)


async def _login_required(_request: Request, _exc: Exception) -> Response:
    return redirect("/staff/login")


async def _overloaded(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Overloaded)
    response = render(request, "pages/error.html", {"status": 503}, status=503)
    response.headers["retry-after"] = str(exc.retry_after)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    # The exception type only: a message could hold case content.
    log.error("internal error: %s", type(exc).__name__)
    response = render(request, "pages/error.html", {"status": 500}, status=500)
    # Starlette answers a 500 from its outermost layer, outside SecurityHeadersMiddleware.
    response.headers.update(error_headers(hsts=ctx(request).settings.cookie_secure))
    return response


def reporter_paths() -> frozenset[str]:
    """Paths a reporter visits: they get Onion-Location and the employer-network warning."""
    return frozenset(
        route.path
        for route in [*reporter.routes, *reporter_case.routes, *pages.routes]
        if isinstance(route, Route) and "{" not in route.path and route.path != "/healthz"
    )


async def _job_loop(engine: Engine, settings: Settings, client: httpx.Client) -> None:
    """Run `whistle jobs` every few minutes; the database lease keeps replicas from doubling up."""
    while True:
        await anyio.sleep(settings.jobs_interval_minutes * 60)
        try:
            await anyio.to_thread.run_sync(
                lambda: jobs.run(engine, settings=settings, client=client)
            )
        except Exception as exc:  # a failed round is retried next time; the server stays up
            log.error("background jobs failed: %s", type(exc).__name__)


def create_app(settings: Settings, *, engine: Engine, keys: Keys) -> Starlette:
    i18n.load()
    engine = audit.keyed(engine, keys)  # every session of the app can append to the audit log
    context = AppContext(
        settings=settings,
        site=Site.from_settings(settings),
        engine=engine,
        keys=keys,
        deriver=Deriver(
            settings.argon2,
            concurrency=settings.argon2_concurrency,
            queue_seconds=settings.argon2_queue_seconds,
            staff_slots=settings.argon2_staff_slots,
            staff_per_minute=settings.staff_derivations_per_minute,
        ),
        templates=make_templates(),
        sandbox=Sandbox(
            concurrency=settings.scrub_concurrency,
            memory_bytes=settings.scrub_memory_mib * 1024 * 1024,
            seconds=settings.scrub_seconds,
        ),
        blob_store=blobstore.open_store(
            kind=settings.effective_blob_store, blob_dir=settings.blob_dir, engine=engine
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The shared HTTP client (webhooks) and, when configured, the in-process job loop.
        with httpx.Client() as client:
            async with anyio.create_task_group() as tasks:
                if settings.jobs_interval_minutes > 0:
                    tasks.start_soon(_job_loop, engine, settings, client)
                yield
                tasks.cancel_scope.cancel()
        context.sandbox.close()
        context.blob_store.close()
        engine.dispose()

    app = Starlette(
        routes=[
            *reporter.routes,
            *reporter_case.routes,
            *staff.routes,
            *staff_account.routes,
            *security_keys.routes,
            *investigator.routes,
            *readers.routes,
            *duties.routes,
            *disclosure.routes,
            *redaction.routes,
            *package.routes,
            *access_requests.routes,
            *workbench.routes,
            *workcopy.routes,
            *admin.routes,
            *statistics.routes,
            *texts.routes,
            *poster.routes,
            *registrar.routes,
            *pages.routes,
            *health.routes,
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[
            Middleware(
                SecurityHeadersMiddleware,
                hsts=settings.cookie_secure,
                onion_location=settings.onion_address,
                onion_paths=reporter_paths(),
            ),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=settings.max_form_bytes,
                # The files, and the form's text fields in front of them.
                upload_max_bytes=settings.max_upload_bytes + settings.max_form_bytes,
                upload_paths=uploads.UPLOAD_PATHS,
            ),
            Middleware(
                EmployerNetworkMiddleware,
                employer_networks=settings.employer_networks,
                trusted_proxies=settings.trusted_proxies,
                paths=reporter_paths(),
            ),
        ],
        exception_handlers={
            HTTPException: _http_error,
            auth.LoginRequired: _login_required,
            Overloaded: _overloaded,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.ctx = context
    return app
