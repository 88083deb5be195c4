"""The yardstick for landing_vs_bare: a minimal Starlette + Jinja2 page.

It is served exactly as ``whistle serve`` serves whistle (uvicorn, one process, no access log,
no proxy headers, no Server header), so the ratio measures what whistle adds per request: its
middleware, CSRF cookie, translations and templates.
"""

from __future__ import annotations

import argparse

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE = jinja2.Environment(autoescape=True).from_string(
    "<!doctype html><html lang=sv><head><meta charset=utf-8><title>{{ title }}</title></head>"
    "<body><main><h1>{{ title }}</h1>{% for p in paragraphs %}<p>{{ p }}</p>{% endfor %}"
    "</main></body></html>"
)


async def page(_request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE.render(title="Rapportera", paragraphs=["Hej"] * 5))


app = Starlette(routes=[Route("/", page), Route("/healthz", page)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="info",
    )


if __name__ == "__main__":
    main()
