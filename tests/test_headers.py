"""Security headers and cookie flags on every route of the app, error pages included.

Routes are enumerated from ``app.routes``, so a route added later is checked without anyone
remembering to list it here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tests.helpers import World, csrf, login_reporter, login_staff, post, submit_report
from tests.server import RealServer
from whistle import accounts, db, logs
from whistle.app import create_app
from whistle.keys import Keys
from whistle.settings import Settings
from whistle.web import reporter as reporter_web
from whistle.web import security

PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def check_headers(response: httpx.Response, path: str) -> None:
    where = f"{response.request.method} {path} -> {response.status_code}"
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, where
    assert "default-src 'none'" in csp, where
    if security.allows_script(path):
        # The WebAuthn pages of staff only: same-origin files, never inline code.
        assert path.startswith("/staff/"), where
        assert csp.endswith("; script-src 'self'"), where
        assert csp.count("script-src") == 1, where
    else:
        assert "script-src" not in csp, where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("x-content-type-options") == "nosniff", where
    if path.startswith("/static/") and response.status_code == 200:
        assert "no-store" not in headers.get("cache-control", ""), where
    else:
        assert headers.get("cache-control") == "no-store", where
    for cookie in headers.get_list("set-cookie"):
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in flags, (where, cookie)
        assert "samesite=strict" in flags, (where, cookie)
        assert "secure" in flags, (where, cookie)


def check_error_page(response: httpx.Response, *secrets: str) -> None:
    body = response.text
    for leak in ("Traceback", 'File "', ".py", "/work/", "site-packages", *secrets):
        assert leak not in body, (response.status_code, leak)


def route_table(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route, and one static file per mount."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                found.append((method, route.path))
        elif isinstance(route, Mount):
            found.append(("GET", route.path + "/whistle.css"))
    return found


@pytest.fixture
def filled(world: World, client: TestClient) -> Callable[[str], str]:
    """Fills path parameters with real ids of a seeded world."""
    submit_report(client, world.bribery, what="Header check report")
    anna = TestClient(client.app, base_url="https://testserver", follow_redirects=False)
    login_staff(anna, "anna")
    [case_id] = re.findall(r'href="/cases/([0-9a-f]{32})"', anna.get("/inbox").text)
    with db.session_scope(world.engine) as s:
        invitation = accounts.create_user(
            s, username="dora", display_name="Dora", role="investigator"
        )
    values = {
        "case_id": case_id,
        "token": invitation.token,
        "code": "en",
        "user_id": world.anna,
        "category_id": str(world.bribery),
        "unit_id": str(world.unit),
    }

    def fill(template: str) -> str:
        return PARAM.sub(lambda m: values.get(m.group(1), "1"), template)

    return fill


ROLES = ("anonymous", "reporter", "anna", "admin")


@pytest.fixture
def browser(world: World, new_client: Callable[[], TestClient]) -> Callable[[str], TestClient]:
    code = submit_report(new_client(), world.other, what="For the reporter role")

    def make(role: str) -> TestClient:
        client = new_client()
        if role == "reporter":
            login_reporter(client, code)
        elif role != "anonymous":
            login_staff(client, role)
        return client

    return make


def test_every_route_every_role(app, filled, browser) -> None:
    table = route_table(app)
    assert ("POST", "/report") in table
    assert ("GET", "/static/whistle.css") in table
    # GETs first and logouts last: one logged-in browser per role serves every request.
    table.sort(key=lambda entry: (entry[0] == "POST", "logout" in entry[1], entry[1]))
    seen_statuses: set[int] = set()
    for role in ROLES:
        client = browser(role)
        for method, template in table:
            path = filled(template)
            if method == "GET":
                response = client.get(path)
            else:
                # No CSRF cookie and no login in a fresh browser: refused (403, or sent to a
                # login first), and still with every header.
                refused = browser("anonymous").post(path, data={"csrf_token": "x" * 32})
                assert refused.status_code in {303, 401, 403}, (path, refused.status_code)
                check_headers(refused, path)
                response = post(client, path, {})
            assert response.status_code < 500, (role, method, path, response.text[:300])
            check_headers(response, path)
            seen_statuses.add(response.status_code)
    assert {200, 303}.issubset(seen_statuses)


def test_error_pages_have_headers_and_no_internals(client: TestClient, world: World) -> None:
    token = csrf(client)
    cases = {
        404: client.get("/no/such/page"),
        405: client.get("/case/reply"),
        400: client.post("/followup", content=b"{}", headers={"content-type": "application/json"}),
        403: client.post("/followup", data={"code": "1234"}),
        413: client.post(
            "/report",
            content=b"csrf_token=" + token.encode() + b"&what=" + b"x" * (2 * 1024 * 1024),
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
    }
    for status, response in cases.items():
        assert response.status_code == status
        check_headers(response, "/error")
        check_error_page(response)


SECRET = "SECRET-MARKER-0451 in /srv/whistle/reports.py"


def test_forced_500_has_headers_and_no_exception_text(
    app, world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError(SECRET)

    monkeypatch.setattr(reporter_web.routing, "active_categories", explode)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        response = client.get("/report")
    assert response.status_code == 500
    check_headers(response, "/report")
    check_error_page(response, "SECRET-MARKER-0451", "RuntimeError")
    # Logged as a type only: the message could have held case content.
    assert "SECRET-MARKER-0451" not in caplog.text
    assert "RuntimeError" in caplog.text


# Run in the server process before whistle starts (Python imports sitecustomize at start-up).
EXPLODE = f"""
import whistle.routing

def explode(*args, **kwargs):
    raise RuntimeError({SECRET!r})

whistle.routing.active_categories = explode
"""


@pytest.mark.slow
def test_real_server_logs_a_500_as_one_line_with_the_type(tmp_path: Path) -> None:
    # uvicorn logs "Exception in ASGI application" with the whole traceback once Starlette
    # re-raises a 500: the message and the frames' source lines reach the log.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(EXPLODE, encoding="utf-8")
    server = RealServer(tmp_path, demo=False, env={"PYTHONPATH": str(hook)})
    with server:
        assert httpx.get(server.url + "/report", timeout=60).status_code == 500
    output = server.output()
    assert "Application startup complete" in output
    assert "SECRET-MARKER-0451" not in output
    assert "Traceback" not in output
    assert "reports.py" not in output
    lines = [line for line in output.splitlines() if "RuntimeError" in line]
    assert len(lines) >= 1, lines
    assert all(len(line) < 120 for line in lines), lines


def test_log_filter_drops_traceback_message_and_arguments() -> None:
    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    try:
        raise ValueError(SECRET)
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    record.args = (SECRET,)
    assert logs.ExceptionTypeOnly().filter(record)
    text = logging.Formatter(logs.FORMAT).format(record)
    assert text == "ERROR uvicorn.error: boom %s (ValueError)"


def _csrf_set_cookie(response: httpx.Response) -> str:
    [cookie] = [c for c in response.headers.get_list("set-cookie") if "csrf" in c]
    return cookie


def test_csrf_cookie_has_the_host_prefix_when_cookies_are_secure(client: TestClient) -> None:
    """Finding 11: a sibling subdomain or a plain-http response cannot plant a __Host- cookie,
    so it cannot choose the token a form is checked against."""
    cookie = _csrf_set_cookie(client.get("/report"))
    name, _, _rest = cookie.partition("=")
    assert name == "__Host-whistle_csrf"
    flags = [part.strip().lower() for part in cookie.split(";")[1:]]
    assert "secure" in flags
    assert "path=/" in flags
    assert not any(flag.startswith("domain") for flag in flags)


def test_an_unprefixed_csrf_cookie_is_not_trusted_when_cookies_are_secure(
    new_client: Callable[[], TestClient],
) -> None:
    planted = new_client()
    planted.cookies.set("whistle_csrf", "planted-token-of-the-attackers-choice")
    refused = planted.post(
        "/followup",
        data={"csrf_token": "planted-token-of-the-attackers-choice", "code": "1234 5678 1234 5678"},
    )
    assert refused.status_code == 403


def test_plain_http_demo_mode_keeps_a_working_unprefixed_csrf_cookie(
    settings: Settings, engine: Engine, keys: Keys
) -> None:
    # Browsers refuse a __Host- cookie without Secure, and demo mode runs on plain http.
    app = create_app(replace(settings, cookie_secure=False), engine=engine, keys=keys)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as browser:
        cookie = _csrf_set_cookie(browser.get("/followup"))
        assert cookie.startswith("whistle_csrf=")
        assert "secure" not in [part.strip().lower() for part in cookie.split(";")]
        token = browser.cookies["whistle_csrf"]
        answer = browser.post("/followup", data={"csrf_token": token, "code": "1234"})
        assert answer.status_code != 403
