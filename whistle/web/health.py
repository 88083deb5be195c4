"""``/readyz`` for load balancers and container health checks (``/healthz`` is in pages.py:
the process is alive). Not a reporter page: it gets no reporter-side headers."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import readiness
from whistle.web.context import ctx


async def readyz(request: Request) -> Response:
    app = ctx(request)
    result = await anyio.to_thread.run_sync(
        lambda: readiness.check(engine=app.engine, keys=app.keys, store=app.blob_store)
    )
    if result.ready:
        return Response("ready", media_type="text/plain")
    # Which check failed, so an operator sees it; nothing about cases or configuration values.
    body = "not ready: " + ", ".join(result.failed)
    return Response(body, status_code=503, media_type="text/plain")


routes = [Route("/readyz", readyz, methods=["GET"])]
