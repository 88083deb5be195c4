"""No client address and no user agent reaches a log, the database or a file — through the real
server (uvicorn as `whistle serve` runs it), and by reading the code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import dump_tables
from tests.server import (
    CASE_LINK_RE,
    ROOT,
    RealServer,
    browser,
    categories,
    http_login_reporter,
    http_login_staff,
    http_submit,
    token,
)
from whistle import db
from whistle.demo import DEMO_LOGINS

ADDRESSES = ("203.0.113.77", "203.0.113.78", "203.0.113.79", "2001:db8:77::77")
AGENT = "ZZBrowser/9.7 (distinctive-agent-4411)"
HOSTILE_HEADERS = {
    "X-Forwarded-For": "203.0.113.77, 2001:db8:77::77",
    "Forwarded": 'for=203.0.113.78;proto=https, for="[2001:db8:77::77]"',
    "X-Real-IP": "203.0.113.79",
    "True-Client-IP": "203.0.113.79",
    "User-Agent": AGENT,
}
MARKERS = (*ADDRESSES, "distinctive-agent-4411", "ZZBrowser")


@pytest.mark.slow
def test_real_server_keeps_no_address_or_agent(tmp_path: Path) -> None:
    server = RealServer(tmp_path)
    with server:
        anna = next(login for login in DEMO_LOGINS if login.username == "anna")
        with browser(server, headers=HOSTILE_HEADERS) as reporter:
            assert reporter.get("/").status_code == 200
            category = categories(reporter)[0]
            code = http_submit(reporter, category=category, what="Anonymity check")
            assert code is not None
            assert http_login_reporter(reporter, code).status_code == 303
            assert reporter.get("/case").status_code == 200
            reply = reporter.post(
                "/case/reply", data={"csrf_token": token(reporter), "text": "More details"}
            )
            assert reply.status_code == 303
            assert reporter.get("/no/such/page").status_code == 404
            assert reporter.get("/cases/" + "0" * 32).status_code in {303, 404}
            wrong = http_login_reporter(reporter, "0000 0000 0000 0000")
            assert wrong.status_code == 400
        with browser(server, headers=HOSTILE_HEADERS) as staff:
            assert http_login_staff(staff, "anna", "wrong password!").status_code == 400
            done = http_login_staff(staff, "anna", anna.password)
            assert done.headers.get("location") == "/inbox", done.text[:500]
            assert CASE_LINK_RE.findall(staff.get("/inbox").text)
            assert staff.get("/static/whistle.css").status_code == 200
    output = server.output()
    assert "Uvicorn running" in output or "Application startup complete" in output
    for marker in MARKERS:
        assert marker not in output, marker
    engine = db.make_engine(f"sqlite:///{server.data_dir / 'whistle.db'}")
    try:
        dump = dump_tables(engine)
    finally:
        engine.dispose()
    assert b"Anonymity" not in dump  # the dump is real: the report is sealed, but rows exist
    assert len(dump) > 1000
    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert files
    for marker in MARKERS:
        assert marker.encode() not in dump, marker
        for path in files:
            content = path.read_bytes()
            assert marker.encode() not in content, (marker, path)
            assert marker.encode("utf-16-le") not in content, (marker, path)


# Only this module may read a client address (the in-memory employer-network check).
ALLOWED = {ROOT / "whistle" / "web" / "network.py"}
# Header and scope names, compared whole: prose that mentions them (a setting's help) is fine.
FORBIDDEN_NAMES = {
    "client",
    "user-agent",
    "user_agent",
    "forwarded",
    "x-forwarded-for",
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "remote_addr",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def address_reads(source: str) -> list[str]:
    """Code (not comments or docstrings) that reads a client address or a user agent."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"client", "user_agent"}:
            hits.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.Constant) and id(node) not in docs:
            value = node.value
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if isinstance(text, str) and text.strip().lower() in FORBIDDEN_NAMES:
                hits.append(f"line {node.lineno}: {text!r}")
    return hits


def test_no_module_reads_client_address_or_agent() -> None:
    checked = 0
    for path in sorted((ROOT / "whistle").rglob("*.py")):
        if path in ALLOWED:
            continue
        checked += 1
        assert address_reads(path.read_text(encoding="utf-8")) == [], path
    assert checked > 20
    # The allowed module really is where the address is read (the scan would notice).
    assert address_reads((ROOT / "whistle/web/network.py").read_text(encoding="utf-8"))


def test_templates_read_no_client_or_headers() -> None:
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8").lower()
        for word in ("request.client", "request.headers", "user_agent", "user-agent"):
            assert word not in text, (path, word)


@pytest.mark.parametrize(
    "source",
    [
        "def f(request):\n    return request.client.host\n",
        "def f(request):\n    return request.headers.get('User-Agent')\n",
        "def f(scope):\n    return scope['client']\n",
        "def f(r):\n    return r.headers['x-forwarded-for']\n",
    ],
)
def test_the_scan_catches_reads(source: str) -> None:
    assert address_reads(source)


def test_server_runs_without_access_log_or_proxy_headers() -> None:
    source = (ROOT / "whistle" / "cli.py").read_text(encoding="utf-8")
    call = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "uvicorn.run"
    )
    keywords = {kw.arg: ast.unparse(kw.value) for kw in call.keywords}
    assert keywords["access_log"] == "False"
    assert keywords["proxy_headers"] == "False"
