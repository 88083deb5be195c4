"""Public information pages (no login) and the language switch."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import i18n, texts
from whistle.i18n import N_
from whistle.web import security
from whistle.web.context import LANG_COOKIE, call, locale_of, redirect, render

DATA = Path(__file__).resolve().parent.parent / "data"
AUTHORITIES_FILE = DATA / "external-authorities.tsv"
# Each authority's website, kept apart from the annex's list so that file stays a plain copy.
CONTACTS_FILE = DATA / "external-contacts.tsv"
# EU bodies that also take reports in their own fields (Directive 2019/1937, art. 6.4).
EU_BODIES = (
    (
        N_("European Anti-Fraud Office (OLAF): fraud and corruption that harm the EU budget"),
        "https://anti-fraud.ec.europa.eu/",
    ),
    (
        N_("European Public Prosecutor's Office (EPPO): crimes against the EU's finances"),
        "https://www.eppo.europa.eu/",
    ),
    (
        N_("European Commission: breaches of EU competition rules"),
        "https://competition-policy.ec.europa.eu/",
    ),
    (
        N_("European Central Bank: breaches by banks under its supervision"),
        "https://www.bankingsupervision.europa.eu/",
    ),
)


@cache
def external_authorities() -> list[tuple[str, list[str]]]:
    """Areas and their competent authorities (förordning 2021:949, bilaga)."""
    with AUTHORITIES_FILE.open(encoding="utf-8") as fh:
        rows = csv.DictReader(fh, delimiter="\t")
        return [(row["area"], [a.strip() for a in row["authorities"].split(";")]) for row in rows]


@cache
def authority_websites() -> dict[str, str]:
    with CONTACTS_FILE.open(encoding="utf-8") as fh:
        return {row["authority"]: row["website"] for row in csv.DictReader(fh, delimiter="\t")}


def _published(db: Session, *, name: str, locale: str) -> dict[str, Any]:
    current = texts.current(db, name=name)
    body = current.body(i18n.text_locale(locale)) if current else ""
    return {"text": current, "paragraphs": texts.paragraphs(body)}


async def how_it_works(request: Request) -> Response:
    intro = await call(request, _published, name="introduction", locale=locale_of(request))
    return render(request, "pages/how.html", {"introduction": intro})


async def routine(request: Request) -> Response:
    """The current written routine for the channel (L3), with its version and date."""
    data = await call(request, _published, name="routine", locale=locale_of(request))
    return render(request, "pages/routine.html", data)


async def external(request: Request) -> Response:
    context = {
        "authorities": external_authorities(),
        "websites": authority_websites(),
        "eu_bodies": EU_BODIES,
    }
    return render(request, "pages/external.html", context)


async def privacy(request: Request) -> Response:
    """The privacy notice (GDPR art. 13-14, L26): fixed text plus the organisation's part."""
    data = await call(request, _published, name="privacy", locale=locale_of(request))
    return render(request, "pages/privacy.html", {"privacy": data})


async def accessibility(request: Request) -> Response:
    return render(request, "pages/accessibility.html")


async def switch_language(request: Request) -> Response:
    code = request.path_params["code"]
    target = request.query_params.get("next", "/")
    # Only a local path: never an open redirect to another origin.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    response = redirect(target)
    # Any language a reporter can choose; a staff page shows it only if it speaks it.
    if code in i18n.LOCALES:
        security.set_cookie(response, request, LANG_COOKIE, code, max_age=365 * 24 * 3600)
    return response


async def health(_request: Request) -> Response:
    return Response("ok", media_type="text/plain")


routes = [
    Route("/info/how", how_it_works, methods=["GET"]),
    Route("/info/routine", routine, methods=["GET"]),
    Route("/info/external", external, methods=["GET"]),
    Route("/info/privacy", privacy, methods=["GET"]),
    Route("/info/accessibility", accessibility, methods=["GET"]),
    Route("/lang/{code}", switch_language, methods=["GET"]),
    Route("/healthz", health, methods=["GET"]),
]
