"""The whole path of a report through the HTTP interface, and its security properties."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, csrf, dump_tables, login_reporter, login_staff, post, submit_report
from whistle.models import Case, CaseItem, CaseKeyWrap, metadata
from whistle.settings import Settings

CASE_LINK = re.compile(r'href="/cases/([0-9a-f]{32})"')


def case_ids_in_inbox(client: TestClient) -> list[str]:
    response = client.get("/inbox")
    assert response.status_code == 200
    return CASE_LINK.findall(response.text)


def test_full_loop(world: World, new_client: Callable[[], TestClient], engine: Engine) -> None:
    reporter = new_client()
    code = submit_report(
        reporter,
        world.bribery,
        what="The head of procurement took a holiday paid by a supplier.",
        when_where="Spring 2026, Norr",
        unit=str(world.unit),
    )
    # The investigator designated for the category sees and reads it.
    bertil = new_client()
    login_staff(bertil, "bertil")
    [case_id] = case_ids_in_inbox(bertil)
    page = bertil.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert "The head of procurement took a holiday paid by a supplier." in page.text
    assert "Förvaltning Norr" in page.text
    # Acknowledges and replies.
    ack = post(bertil, f"/cases/{case_id}/post", {"kind": "acknowledgement", "text": "Received."})
    assert ack.status_code == 303
    reply = post(
        bertil, f"/cases/{case_id}/post", {"kind": "message", "text": "Which supplier was it?"}
    )
    assert reply.status_code == 303
    assert reply.headers["location"].startswith(f"/cases/{case_id}")
    note = post(bertil, f"/cases/{case_id}/post", {"kind": "note", "text": "Check invoices."})
    assert note.status_code == 303
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.acknowledged_on is not None
        assert case.awaiting_investigator is False
    # The reporter comes back with the code typed with spaces and reads the answer.
    reporter2 = new_client()
    login_reporter(reporter2, code)
    page = reporter2.get("/case")
    assert page.status_code == 200
    assert "Which supplier was it?" in page.text
    assert "Received." in page.text
    assert "Check invoices." not in page.text  # internal notes never reach the reporter
    sent = post(reporter2, "/case/reply", {"text": "It was Acme Travel AB."})
    assert sent.status_code == 303
    assert reporter2.get("/case").text.count("It was Acme Travel AB.") == 1
    # The investigator reads the reply; the inbox marks the case as having news.
    inbox = bertil.get("/inbox").text
    assert "Nytt från rapporteraren" in inbox
    assert "It was Acme Travel AB." in bertil.get(f"/cases/{case_id}").text
    # Status changes and closing.
    unfinished = post(bertil, f"/cases/{case_id}/status", {"status": "closed"})
    assert unfinished.status_code == 400  # closing needs an outcome
    closed = post(
        bertil, f"/cases/{case_id}/status", {"status": "closed", "outcome": "substantiated"}
    )
    assert closed.status_code == 303
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.status == "closed"
        assert case.closed_on is not None
    assert "Avslutat" in reporter2.get("/case").text


def test_code_typed_with_spaces_dashes_or_compact(world: World, client: TestClient) -> None:
    code = submit_report(client, world.other)
    compact = code.replace(" ", "")
    for variant in (code, compact, "-".join(code.split(" ")), f"  {compact[:8]} {compact[8:]} "):
        browser = TestClient(client.app, base_url="https://testserver", follow_redirects=False)
        login_reporter(browser, variant)


@pytest.mark.parametrize("typed", ["", "1234", "abcd efgh ijkl mnop", "1" * 17, "١٢٣٤" * 4])
def test_malformed_code_gets_generic_error(world: World, client: TestClient, typed: str) -> None:
    response = post(client, "/followup", {"code": typed})
    assert response.status_code == 400
    assert "Vi kunde inte öppna något ärende med den koden" in response.text
    assert "whistle_reporter" not in response.cookies


def test_wrong_code_gets_the_same_generic_error(world: World, client: TestClient) -> None:
    code = submit_report(client, world.other)
    digits = code.replace(" ", "")
    wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    malformed = post(client, "/followup", {"code": "12"})
    response = post(client, "/followup", {"code": wrong})
    assert response.status_code == 400
    assert "Vi kunde inte öppna något ärende med den koden" in response.text
    # Same page, apart from nothing: the response does not reveal which part was wrong.
    assert response.text == malformed.text


def test_session_attempt_budget(world: World, client: TestClient, settings: Settings) -> None:
    for _ in range(settings.session_attempts):
        assert post(client, "/followup", {"code": "0000 0000 0000 0000"}).status_code == 400
    response = post(client, "/followup", {"code": "0000 0000 0000 0000"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "60"


def test_non_designated_investigator_and_admin_cannot_see_case(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    reporter = new_client()
    submit_report(reporter, world.bribery, what="Bribery marker text")
    anna = new_client()
    login_staff(anna, "anna")
    [case_id] = case_ids_in_inbox(anna)
    # Carl is designated for "other" only.
    carl = new_client()
    login_staff(carl, "carl")
    assert case_ids_in_inbox(carl) == []
    for url in (f"/cases/{case_id}",):
        response = carl.get(url)
        assert response.status_code == 404
        assert "Bribery marker text" not in response.text
    for url, data in (
        (f"/cases/{case_id}/post", {"kind": "message", "text": "hi"}),
        (f"/cases/{case_id}/status", {"status": "closed"}),
    ):
        assert post(carl, url, data).status_code == 404
    # The administrator has no inbox and no case page.
    admin = new_client()
    login_staff(admin, "admin")
    assert admin.get("/inbox").status_code == 404
    response = admin.get(f"/cases/{case_id}")
    assert response.status_code == 404
    assert "Bribery marker text" not in response.text
    overview = admin.get("/admin")
    assert overview.status_code == 200
    assert "Bribery marker text" not in overview.text
    # An anonymous visitor is sent to the login page.
    anonymous = new_client()
    assert anonymous.get(f"/cases/{case_id}").headers["location"] == "/staff/login"
    # And investigators have no administration page.
    assert anna.get("/admin").status_code == 404


def test_wraps_go_exactly_to_designated_investigators(
    world: World, client: TestClient, engine: Engine
) -> None:
    submit_report(client, world.bribery)
    with Session(engine) as s:
        holders = set(s.execute(select(CaseKeyWrap.user_id)).scalars())
    assert holders == {world.anna, world.bertil}


MARKER = "ZQXMARKER7731"


def _all_bytes_under(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_plaintext_never_stored(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reporter = new_client()
    code = submit_report(
        reporter,
        world.bribery,
        what=f"report {MARKER} text",
        who=f"who {MARKER}",
        mode="confidential",
        name=f"Name {MARKER}",
        contact=f"{MARKER}@example.org",
    )
    login_reporter(reporter, code)
    post(reporter, "/case/reply", {"text": f"reply {MARKER}"})
    # A file: its bytes are chunk rows (PostgreSQL) or a blob file (SQLite); both are searched.
    evidence = f"ledger {MARKER}\n".encode() * 5000
    sent = reporter.post(
        "/case/reply",
        data={"csrf_token": csrf(reporter), "text": ""},
        files=[("files", ("evidence.txt", evidence))],
    )
    assert sent.status_code == 303
    anna = new_client()
    login_staff(anna, "anna")
    [case_id] = case_ids_in_inbox(anna)
    post(anna, f"/cases/{case_id}/post", {"kind": "message", "text": f"answer {MARKER}"})
    post(anna, f"/cases/{case_id}/post", {"kind": "note", "text": f"note {MARKER}"})
    page = anna.get(f"/cases/{case_id}").text
    assert page.count(MARKER) == 7  # all of it is readable by the designated investigator
    marker = MARKER.encode()
    utf16 = MARKER.encode("utf-16-le")
    digits = code.replace(" ", "").encode()
    # The database: raw file bytes on SQLite (with WAL), every table's rows on both engines.
    dump = dump_tables(engine)
    assert marker not in dump
    assert utf16 not in dump
    assert digits not in dump
    for path, content in _all_bytes_under(settings.data_dir):
        assert marker not in content, path
        assert digits not in content, path
    assert MARKER not in caplog.text
    assert code.replace(" ", "") not in caplog.text
    with Session(engine) as s:
        kinds = sorted(i.kind for i in s.execute(select(CaseItem)).scalars())
    assert kinds == ["attachment", "identity", "message", "message", "note", "report"]
    with engine.connect() as conn:
        chunks = conn.execute(text("SELECT count(*) FROM blob_chunks")).scalar_one()
    assert (chunks > 0) == (settings.effective_blob_store == "database")


def test_reporter_pages_have_no_script_and_work_with_forms_alone(
    world: World, client: TestClient
) -> None:
    pages = ["/", "/report", "/followup", "/info/how", "/info/external", "/info/accessibility"]
    code = submit_report(client, world.other)
    login_reporter(client, code)
    pages.append("/case")
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.text.lower()
        assert "<script" not in html, url
        assert " on" + "click=" not in html, url
        assert "javascript:" not in html, url
        csp = response.headers["content-security-policy"]
        assert "script-src" not in csp
        assert "default-src 'none'" in csp
        # Nothing from another origin: every src/href is local (or an explicit external link).
        for attr in re.findall(r'(?:src|action)="([^"]+)"', response.text):
            assert attr.startswith("/"), (url, attr)
        for href in re.findall(r'<link[^>]+href="([^"]+)"', response.text):
            assert href.startswith("/"), (url, href)


def test_validation_keeps_what_was_typed(world: World, client: TestClient, engine: Engine) -> None:
    response = post(
        client,
        "/report",
        {
            "category": str(world.bribery),
            "what": "",
            "who": "The typed who <b>",
            "mode": "confidential",
            "name": "",
        },
    )
    assert response.status_code == 400
    assert "The typed who &lt;b&gt;" in response.text
    assert 'id="error-what"' in response.text
    assert 'id="error-name"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'href="#field-what"' in response.text
    with Session(engine) as s:
        assert s.execute(select(Case)).first() is None


def test_missing_or_wrong_csrf_is_refused(world: World, client: TestClient, engine: Engine) -> None:
    csrf(client)
    data = {"category": str(world.bribery), "what": "x", "mode": "anonymous"}
    assert client.post("/report", data=data).status_code == 403
    assert client.post("/report", data={**data, "csrf_token": "wrong" * 5}).status_code == 403
    with Session(engine) as s:
        assert s.execute(select(Case)).first() is None


def test_reporter_session_logout_and_expiry(world: World, client: TestClient) -> None:
    code = submit_report(client, world.other)
    login_reporter(client, code)
    assert client.get("/case").status_code == 200
    response = post(client, "/case/logout", {})
    assert response.status_code == 303
    again = client.get("/case")
    assert again.status_code == 401
    assert "Ange din ärendekod igen" in again.text


def test_security_headers_and_cookie_flags(world: World, client: TestClient) -> None:
    response = client.get("/")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" in cookie
    code = submit_report(client, world.other)
    login = post(client, "/followup", {"code": code})
    reporter_cookie = login.headers["set-cookie"].lower()
    assert reporter_cookie.startswith("whistle_reporter=")
    assert "httponly" in reporter_cookie
    assert "samesite=strict" in reporter_cookie
    assert client.get("/case").headers["cache-control"] == "no-store"
    assert client.get("/does-not-exist").headers["content-security-policy"]


def test_english_language_switch(world: World, client: TestClient) -> None:
    response = client.get("/lang/en?next=/report")
    assert response.status_code == 303
    assert response.headers["location"] == "/report"
    page = client.get("/report")
    assert '<html lang="en">' in page.text
    assert "Make a report" in page.text
    assert client.get("/lang/sv?next=https://evil.example/").headers["location"] == "/"


def test_inbox_sorted_by_nearest_deadline_and_paginated(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    for _ in range(3):
        submit_report(reporter, world.other)
    with Session(engine) as s:
        rows = list(s.execute(select(Case)).scalars())
        # Make one case's acknowledgement overdue and one fully answered.
        rows[1].ack_due = rows[1].received_on.replace(year=rows[1].received_on.year - 1)
        rows[1].next_due = rows[1].ack_due
        rows[2].next_due = None
        s.add_all(rows)
        s.commit()
        expected = [rows[1].id, rows[0].id, rows[2].id]
    carl = new_client()
    login_staff(carl, "carl")
    assert case_ids_in_inbox(carl) == expected
    carl.get("/lang/en?next=/inbox")
    inbox = carl.get("/inbox").text
    assert inbox.count('<strong class="late">overdue</strong>') == 1
    assert inbox.count('class="overdue"') == 1


def test_tables_listed(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
