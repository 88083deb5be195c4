"""The working copy: the whole case as a PDF for the function's own file, audited, never kept."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import pypdf
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, csrf, dump_tables, login_reporter, login_staff, post, submit_report
from whistle.models import AuditEntry, Case
from whistle.settings import Settings

NAME = "Rapportina Qwxname"
EVIDENCE = b"%PDF-1.4 evidence bytes \x00\x01\x02"


def _text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def _case(world: World, new_client: Callable[[], TestClient], engine: Engine, **extra: str):
    reporter = new_client()
    code = submit_report(reporter, world.bribery, what="Qwreport: the supplier pays", **extra)
    login_reporter(reporter, code)
    reply = reporter.post(
        "/case/reply",
        data={"csrf_token": csrf(reporter), "text": "Qwreply from the reporter"},
        files=[("files", ("qwreceipt.bin", EVIDENCE))],
    )
    assert reply.status_code == 303
    with Session(engine) as s:
        return s.execute(select(Case.id)).scalar_one()


def _download(client: TestClient, case_id: str, confirm: bool = True):
    data = {"confirm": "yes"} if confirm else {}
    return post(client, f"/cases/{case_id}/copy", data)


def test_working_copy_holds_the_whole_case_and_nothing_is_kept(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    case_id = _case(world, new_client, engine, mode="confidential", name=NAME, contact="qw-070")
    anna = new_client()
    login_staff(anna, "anna")
    post(anna, f"/cases/{case_id}/post", {"kind": "message", "text": "Qwmessage to the reporter"})
    post(anna, f"/cases/{case_id}/post", {"kind": "note", "text": "Qwnote internal only"})
    post(anna, f"/cases/{case_id}/minutes", {"text": "Qwminutes of the meeting"})
    post(anna, f"/cases/{case_id}/tasks", {"text": "Qwtask fetch invoices", "due_on": "2030-01-02"})
    triage = {"priority": "high", "risk": "high", "measures": "Qwmeasures keep apart"}
    post(anna, f"/cases/{case_id}/triage", triage)

    page = anna.get(f"/cases/{case_id}/copy")
    assert page.status_code == 200
    assert 'id="identity-warning"' in page.text  # the reporter gave a name: warned first
    assert f'href="/cases/{case_id}/copy"' in anna.get(f"/cases/{case_id}").text

    response = _download(anna, case_id)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    text = _text(response.content)
    for marker in (
        "Qwreport",
        "Qwreply",
        "qwreceipt.bin",
        "Qwmessage",
        "Qwnote",
        "Qwminutes",
        "Qwtask",
        "Qwmeasures",
        NAME,
        "qw-070",
    ):
        assert marker in text, marker
    # Swedish by default, with the identity warning.
    assert "Arbetskopia" in text
    assert "innehåller rapporterarens identitet" in text

    with Session(engine) as s:
        actions = list(
            s.execute(select(AuditEntry.action).where(AuditEntry.case_id == case_id)).scalars()
        )
    assert "working_copy_exported" in actions

    # Nothing of the copy is kept: not in the database, not on disk, not in the logs.
    dump = dump_tables(engine).lower()
    for marker in (b"qwreport", b"qwnote", b"qwtask", b"qwmeasures", b"qwname"):
        assert marker not in dump
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            stored = path.read_bytes()
            assert not stored.startswith(b"%PDF")
            assert b"Qwnote" not in stored
    assert "qwnote" not in caplog.text.casefold()
    assert "qwname" not in caplog.text.casefold()


def test_working_copy_in_english_and_without_identity(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    case_id = _case(world, new_client, engine)
    anna = new_client()
    login_staff(anna, "anna")
    anna.get("/lang/en")
    page = anna.get(f"/cases/{case_id}/copy")
    assert page.status_code == 200
    assert 'id="identity-warning"' not in page.text
    text = _text(_download(anna, case_id).content)
    assert "Working copy of case" in text
    assert "Qwreport" in text
    assert "contains the reporter's identity" not in text


def test_working_copy_needs_the_confirmation_and_a_reader(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    case_id = _case(world, new_client, engine)
    anna = new_client()
    login_staff(anna, "anna")
    refused = _download(anna, case_id, confirm=False)
    assert refused.status_code == 400
    assert "application/pdf" not in refused.headers["content-type"]
    assert 'role="alert"' in refused.text
    carl = new_client()
    login_staff(carl, "carl")  # designated for another category: not a reader
    assert carl.get(f"/cases/{case_id}/copy").status_code == 404
    assert _download(carl, case_id).status_code == 404
    with Session(engine) as s:
        actions = list(s.execute(select(AuditEntry.action)).scalars())
    assert "working_copy_exported" not in actions
