"""Hostile input on every POST endpoint: never a 5xx, and a refused request changes no table.

Endpoints are found by enumerating ``app.routes`` (a new form is fuzzed without being listed
here); field names come from the templates. Then the body cap, and an injection corpus that
must come back escaped on every page that shows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import Engine, func, inspect, select, table
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.helpers import World, csrf, login_reporter, login_staff, post, submit_report
from tests.test_web_loop import case_ids_in_inbox
from whistle import accounts, db
from whistle.settings import Settings
from whistle.web import reporter as reporter_web

ROOT = Path(__file__).resolve().parent.parent
PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
# Tables whose purpose is to record refused attempts (failure budgets, the audit trail), and
# the WebAuthn challenges every page with a ceremony hands out (a form answered with a 400
# offers the ceremony again, with a fresh challenge; at most a few per account are kept).
RECORDS_REFUSALS = {"rate_counters", "audit_entries", "audit_head", "security_key_challenges"}


def template_field_names() -> list[str]:
    # Fields drawn by macros (name="{{ name }}") are not literal: add the report form's.
    names: set[str] = set(reporter_web.REPORT_FIELDS)
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'<(?:input|textarea|select)[^>]*\bname="([a-z_]+)"', text))
    return sorted(names)


def row_counts(engine: Engine) -> dict[str, int]:
    counts = {}
    with engine.connect() as conn:
        for name in inspect(engine).get_table_names():
            if name not in RECORDS_REFUSALS:
                counts[name] = conn.execute(
                    select(func.count()).select_from(table(name))
                ).scalar_one()
    return counts


class FormHarvester(HTMLParser):
    """The forms of a rendered page: action -> field name -> the values the page offers."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, set[str]]] = {}
        self._action: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form" and attr.get("method", "").lower() == "post":
            self._action = attr.get("action", "").split("?")[0].split("#")[0]
            self.forms.setdefault(self._action, {})
        elif self._action is not None and tag in {"input", "textarea", "select"}:
            name = attr.get("name", "")
            if name and name != "csrf_token":
                values = self.forms[self._action].setdefault(name, set())
                if tag == "input" and attr.get("value"):
                    values.add(attr["value"])
                self._select = name if tag == "select" else None
        elif self._action is not None and tag == "option" and self._select:
            self.forms[self._action][self._select].add(attr.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._action = None
        elif tag == "select":
            self._select = None


def post_routes(app: Any) -> list[str]:
    paths = [r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    # Logouts last: they end the sessions the other endpoints are fuzzed with.
    return sorted(paths, key=lambda p: ("logout" in p, p))


@pytest.fixture
def seeded(app, world: World, new_client: Callable[[], TestClient]) -> dict[str, Any]:
    reporter = new_client()
    code = submit_report(reporter, world.bribery, what="Fuzz target")
    login_reporter(reporter, code)
    anna = new_client()
    login_staff(anna, "anna")
    [case_id] = case_ids_in_inbox(anna)
    admin = new_client()
    login_staff(admin, "admin")
    with db.session_scope(world.engine) as s:
        invitation = accounts.create_user(s, username="erik", display_name="Erik", role="admin")
    values = {
        "case_id": case_id,
        "token": invitation.token,
        "code": "en",
        "user_id": world.carl,
        "category_id": str(world.other),
        "unit_id": str(world.unit),
    }
    clients = {
        "anonymous": new_client(),
        "reporter": reporter,
        "investigator": anna,
        "admin": admin,
    }

    def fill(template: str) -> str:
        return PARAM.sub(lambda m: values.get(m.group(1), "1"), template)

    # The forms each role is actually shown, with their fields and offered values (statuses,
    # kinds, ids...): well-formed requests reach deep into the handlers, not just the parser.
    forms: dict[str, dict[str, set[str]]] = {}
    seen_by: dict[str, set[str]] = {}
    get_paths = [
        fill(r.path) for r in app.routes if isinstance(r, Route) and "GET" in (r.methods or ())
    ]
    for role, client in clients.items():
        for path in get_paths:
            if "logout" in path or path.startswith("/lang/"):
                continue
            harvester = FormHarvester()
            harvester.feed(client.get(path).text)
            for action, fields in harvester.forms.items():
                seen_by.setdefault(action, set()).add(role)
                for name, offered in fields.items():
                    forms.setdefault(action, {}).setdefault(name, set()).update(offered)
    return {
        "clients": clients,
        "fill": fill,
        "forms": forms,
        "seen_by": seen_by,
        "ids": [str(v) for v in (world.bribery, world.other, world.unit, case_id, world.carl)],
    }


HUGE = st.sampled_from([5_000, 20_001, 300_000, 1_100_000]).map(lambda n: "A" * n)
# Digits that str.isdigit() accepts and int() rejects ("²") or reads as another number ("١").
FOREIGN = ("²", "١", "１", "๑", "߁")
UNICODE_DIGITS = st.sampled_from([*FOREIGN, "١٢", "１２", "1²", "0x1"])


def foreign_digits(number: str) -> str:
    """The same number in Arabic-Indic or fullwidth digits: int() reads both as ``number``."""
    return number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


def well_formed(form: dict[str, set[str]], roles: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    """The page's own form, filled mostly with what it offers, sometimes with hostile text."""

    def field(name: str) -> st.SearchStrategy[tuple[str, str]]:
        offered_numbers = [v for v in form[name] if v.isascii() and v.isdigit()]
        hostile = st.text(max_size=80) | HUGE | UNICODE_DIGITS
        if offered_numbers:  # the page's own ids, spelled in another script
            hostile |= st.sampled_from(sorted(offered_numbers)).map(foreign_digits)
        offered = sorted(form[name])
        value = st.sampled_from(offered) if offered else st.text(max_size=40)
        return st.tuples(st.just(name), st.one_of(value, value, value, hostile))

    pairs = st.sampled_from(sorted(form)).flatmap(field)
    return st.fixed_dictionaries(
        {
            "role": st.sampled_from(sorted(roles)),
            "csrf": st.just("valid"),
            "kind": st.sampled_from(["form", "form", "multipart"]),
            "fields": st.lists(pairs, max_size=len(form) + 2).map(dict),
            "raw": st.just(b""),
        }
    )


def hostile_requests(field_names: list[str], ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(field_names) | st.text(max_size=12)
    values = (
        st.text(max_size=80)
        | st.sampled_from(ids)
        | HUGE
        | st.sampled_from(["", "0", "-1"])
        | UNICODE_DIGITS
        | st.sampled_from(ids).map(foreign_digits)
    )
    return st.fixed_dictionaries(
        {
            "role": st.sampled_from(["anonymous", "reporter", "investigator", "admin"]),
            "csrf": st.sampled_from(["valid", "missing", "wrong"]),
            "kind": st.sampled_from(
                ["form", "form", "raw", "multipart", "broken-multipart", "json", "none"]
            ),
            "fields": st.dictionaries(names, values, max_size=8),
            "raw": st.binary(max_size=400),
        }
    )


def send(client: TestClient, path: str, spec: dict[str, Any]) -> Any:
    token = {"valid": csrf(client), "missing": None, "wrong": "w" * 32}[spec["csrf"]]
    fields = dict(spec["fields"])
    if token is not None:
        fields["csrf_token"] = token
    kind = spec["kind"]
    if kind == "form":
        return client.post(path, data=fields)
    if kind == "multipart":
        return client.post(path, files={k or "f": (None, v) for k, v in fields.items()})
    if kind == "raw":  # arbitrary bytes, invalid UTF-8 included, as a url-encoded body
        body = spec["raw"] + (b"&csrf_token=" + token.encode() if token else b"")
        headers = {"content-type": "application/x-www-form-urlencoded"}
        return client.post(path, content=body, headers=headers)
    if kind == "broken-multipart":
        boundary = "----whistlefuzz"
        body = f"--{boundary}\r\nContent-Disposition: form-data; name=".encode() + spec["raw"]
        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        return client.post(path, content=body, headers=headers)
    if kind == "json":
        return client.post(path, json=fields)
    return client.post(path, content=spec["raw"])  # no content type at all


def test_fuzz_every_post_endpoint(app, seeded: dict[str, Any], engine: Engine) -> None:
    routes = post_routes(app)
    assert "/report" in routes
    assert "/followup" in routes
    assert "/cases/{case_id}/post" in routes
    fields = template_field_names()
    assert {"what", "code", "text", "password"} <= set(fields)
    statuses: set[int] = set()

    for template in routes:
        path = seeded["fill"](template)
        strategy = hostile_requests(fields, seeded["ids"])
        if path in seeded["forms"]:
            strategy = well_formed(seeded["forms"][path], seeded["seen_by"][path]) | strategy

        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(spec=strategy, path=st.just(path))
        def fuzz(spec: dict[str, Any], path: str) -> None:
            client = seeded["clients"][spec["role"]]
            before = row_counts(engine)
            response = send(client, path, spec)
            statuses.add(response.status_code)
            assert response.status_code < 500, (path, spec["kind"], response.text[:300])
            if response.status_code >= 400:
                assert row_counts(engine) == before, (path, response.status_code)

        fuzz()
    assert {400, 403, 413} <= statuses


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"a" * 65536
        sent += 65536


@pytest.mark.parametrize("with_length", [True, False])
def test_body_cap(
    client: TestClient, world: World, engine: Engine, settings: Settings, with_length: bool
) -> None:
    token = csrf(client)
    before = row_counts(engine)
    prefix = f"csrf_token={token}&category={world.bribery}&mode=anonymous&what=".encode()
    size = settings.max_form_bytes + 1
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if with_length:
        response = client.post("/report", content=prefix + b"a" * size, headers=headers)
    else:
        # A generator body goes out chunked, without Content-Length: the cap must hold while
        # streaming too.
        body = (part for part in [prefix, *_chunks(size)])
        response = client.post("/report", content=body, headers=headers)
        assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert row_counts(engine) == before


CORPUS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}{% raw %}",
    "</textarea><b>bold</b>",
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    "<svg/onload=alert(1)>",
    "&lt;already-escaped&gt; &amp;",
]
REPORT_TEXT_FIELDS = ("what", "when_where", "who", "how_known", "name", "contact")


def assert_escaped(html: str, payload: str, where: str) -> None:
    escaped = str(escape(payload))
    assert escaped in html, (where, payload)
    if escaped != payload:
        assert payload not in html, (where, payload)
    assert "alert(1)</script>" not in html, where


@pytest.mark.parametrize("payload", CORPUS)
def test_injection_corpus_is_escaped_everywhere(
    world: World, new_client: Callable[[], TestClient], payload: str
) -> None:
    tagged = {name: f"{payload}#{name}" for name in REPORT_TEXT_FIELDS}
    reporter = new_client()
    # The form re-rendered with errors (no category chosen) keeps and escapes every field.
    again = post(reporter, "/report", {**tagged, "mode": "confidential"})
    assert again.status_code == 400
    for name, value in tagged.items():
        assert_escaped(again.text, value, f"form re-render {name}")
    code = submit_report(reporter, world.bribery, mode="confidential", **tagged)
    login_reporter(reporter, code)
    assert post(reporter, "/case/reply", {"text": f"{payload}#reply"}).status_code == 303
    # An over-long reply is re-rendered with what was typed, escaped.
    long_reply = f"{payload}#draft" + "x" * 20_001
    rerender = post(reporter, "/case/reply", {"text": long_reply})
    assert rerender.status_code == 400
    assert_escaped(rerender.text, f"{payload}#draft", "reply re-render")
    anna = new_client()
    login_staff(anna, "anna")
    [case_id] = case_ids_in_inbox(anna)
    for kind in ("message", "note"):
        sent = post(anna, f"/cases/{case_id}/post", {"kind": kind, "text": f"{payload}#{kind}"})
        assert sent.status_code == 303
    bad = post(anna, f"/cases/{case_id}/post", {"kind": "message", "text": f"{payload}#x" * 3000})
    assert bad.status_code == 400
    assert "<script>alert" not in bad.text
    assert "<img src=x" not in bad.text
    investigator_page = anna.get(f"/cases/{case_id}").text
    for value in [*tagged.values(), f"{payload}#reply", f"{payload}#message", f"{payload}#note"]:
        assert_escaped(investigator_page, value, "investigator case page")
    reporter_page = reporter.get("/case").text
    for value in (f"{payload}#reply", f"{payload}#message"):
        assert_escaped(reporter_page, value, "reporter case page")
    assert f"{payload}#note" not in reporter_page
    assert str(escape(f"{payload}#note")) not in (reporter_page)
    for page in (investigator_page, reporter_page, again.text):
        assert "<script" not in page.lower()
        assert "onerror=" not in page.replace("onerror=alert(1)&gt;", "")


@pytest.mark.parametrize("spelled", ["²", "١", "１", "foreign"])
def test_report_form_refuses_unicode_digits(
    client: TestClient, world: World, engine: Engine, spelled: str
) -> None:
    # "²" crashed int() (a 500 with a traceback); "١" and "１" were read as 1, a real category.
    category = foreign_digits(str(world.bribery)) if spelled == "foreign" else spelled
    before = row_counts(engine)
    response = post(
        client, "/report", {"category": category, "what": "Kept text", "mode": "anonymous"}
    )
    assert response.status_code == 400
    assert "Välj ett av alternativen." in response.text  # translated (Swedish is the default)
    assert "Kept text" in response.text  # what was typed is not lost
    assert row_counts(engine) == before
    unit = post(
        client,
        "/report",
        {"category": str(world.bribery), "unit": foreign_digits(str(world.unit)), "what": "x"},
    )
    assert unit.status_code == 400
    assert row_counts(engine) == before


def test_staff_numbers_refuse_unicode_digits(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    admin = new_client()
    login_staff(admin, "admin")
    before = row_counts(engine)
    for category in ("²", foreign_digits(str(world.bribery))):
        added = post(admin, "/admin/routes", {"user_id": world.carl, "category": category})
        assert added.status_code == 400
    for path in ("/admin/units/²", f"/admin/categories/{foreign_digits(str(world.other))}"):
        saved = post(admin, path, {"name_sv": "Ny", "name_en": "New"})
        assert saved.status_code == 404, path  # never a 500, never a new row
    assert row_counts(engine) == before
    assert admin.get("/admin/audit?page=²").status_code == 200
    assert admin.get("/admin/texts/routine/²").status_code == 404
    anna = new_client()
    login_staff(anna, "anna")
    assert anna.get("/inbox?page=²").status_code == 200
