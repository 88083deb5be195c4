"""The reporter's own code after an oral report: the code an investigator handed over (and saw)
opens nothing but the page that replaces it; the new code is shown once and the old one stops
working; approvals made with the handed-over code are labelled."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, select, text
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import CODE_RE, World, login_reporter, login_staff, post
from whistle import db
from whistle.models import Case, CaseItem


def _oral_case(world: World, new_client: Callable[[], TestClient]) -> tuple[TestClient, str]:
    anna = new_client()
    login_staff(anna, "anna")
    registered = post(
        anna,
        "/oral",
        {
            "category": str(world.bribery),
            "what": "Told at a meeting",
            "mode": "anonymous",
            "minutes": "Version one of the minutes.",
        },
    )
    assert registered.status_code == 200, registered.text
    code = CODE_RE.search(registered.text)
    assert code is not None
    return anna, code.group(1)


def _case(engine: Engine) -> Case:
    with Session(engine) as s:
        return s.execute(select(Case)).scalar_one()


def test_the_handed_over_code_only_leads_to_taking_ones_own(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _, handed = _oral_case(world, new_client)
    assert _case(engine).code_handed_over
    reporter = new_client()
    opened = post(reporter, "/followup", {"code": handed})
    assert opened.status_code == 303
    assert opened.headers["location"] == "/case/new-code"
    # Nothing can be read or done with it: every page leads to the new code.
    assert reporter.get("/case").headers["location"] == "/case/new-code"
    for url, data in [
        ("/case/minutes", {"version": "1", "decision": "approve"}),
        ("/case/reply", {"text": "Written with the handed-over code"}),
        ("/case/meeting", {"text": ""}),
    ]:
        refused = post(reporter, url, data)
        assert refused.status_code == 303
        assert refused.headers["location"] == "/case/new-code"
    with Session(engine) as s:
        kinds = [i.kind for i in s.execute(select(CaseItem).order_by(CaseItem.seq)).scalars()]
    assert kinds == ["report", "minutes"]
    page = reporter.get("/case/new-code")
    assert page.status_code == 200
    assert "Ge mig en egen kod" in page.text
    assert not CODE_RE.search(page.text)  # no code until the reporter asks for it

    taken = post(reporter, "/case/new-code", {})
    assert taken.status_code == 200
    own = CODE_RE.search(taken.text)
    assert own is not None
    assert own.group(1) != handed
    assert "Koden som du fick vid mötet fungerar inte längre" in taken.text
    assert not _case(engine).code_handed_over
    # Shown once: asking again gives no other code.
    again = post(reporter, "/case/new-code", {})
    assert again.status_code == 303
    assert not CODE_RE.search(again.text)
    # Now the reporter can act; the thread records the change.
    assert reporter.get("/case").status_code == 200
    approved = post(reporter, "/case/minutes", {"version": "1", "decision": "approve"})
    assert approved.headers["location"] == "/case?sent=1#thread-end"

    # The handed-over code opens nothing any more (the investigator who saw it cannot act in
    # the reporter's name); the own code does.
    thief = new_client()
    stale = post(thief, "/followup", {"code": handed})
    assert stale.status_code == 400
    login_reporter(new_client(), own.group(1))


def test_approvals_made_with_the_handed_over_code_are_labelled(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, handed = _oral_case(world, new_client)
    case_id = _case(engine).id
    # As before this rule: the reporter approved with the handed-over code...
    with engine.begin() as conn:
        conn.execute(text("UPDATE cases SET code_handed_over = :no"), {"no": False})
    reporter = new_client()
    login_reporter(reporter, handed)
    assert post(reporter, "/case/minutes", {"version": "1", "decision": "approve"}).status_code
    # ...and migration voice_1 marked every oral case as opened with a handed-over code.
    with engine.begin() as conn:
        conn.execute(text("UPDATE cases SET code_handed_over = :yes"), {"yes": True})
    later = new_client()
    assert post(later, "/followup", {"code": handed}).headers["location"] == "/case/new-code"
    assert CODE_RE.search(post(later, "/case/new-code", {}).text)
    label = "(godkänt med koden som lämnades över vid mötet)"
    assert post(anna, f"/cases/{case_id}/minutes", {"text": "Version two."}).status_code == 303
    assert post(later, "/case/minutes", {"version": "2", "decision": "approve"}).status_code
    page = anna.get(f"/cases/{case_id}").text
    assert page.count(label) == 1  # version 1 only
    assert re.search(
        r"Godkände version 1 av protokollet\.\s*<strong[^>]*>" + re.escape(label), page
    )
    assert "ersatte koden som lämnades över vid mötet" in page
    assert later.get("/case").text.count(label) == 1


def test_written_reports_never_ask_for_a_new_code(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    from tests.helpers import submit_report

    reporter = new_client()
    login_reporter(reporter, submit_report(reporter, world.bribery))
    refused = post(reporter, "/case/new-code", {})
    assert refused.status_code == 303
    assert refused.headers["location"] == "/case"


def test_migration_voice_1_marks_oral_cases_as_handed_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = db.alembic_config(url)
    command.upgrade(config, "webauthn_1")
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            for case_id, channel in (("c1", "oral"), ("c2", "web")):
                conn.execute(
                    text(
                        "INSERT INTO cases (id, lookup_id, triaged, status, channel,"
                        " identity_given, received_on, ack_due, ack_waived, ack_withheld,"
                        " feedback_due, awaiting_investigator, item_count, reporter_wrap)"
                        " VALUES (:id, :id, 0, 'received', :channel, 0, '2026-01-01',"
                        " '2026-01-08', 0, 0, '2026-04-08', 1, 0, x'00')"
                    ),
                    {"id": case_id, "channel": channel},
                )
        command.upgrade(config, "voice_1")
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, code_handed_over FROM cases")).all())
        assert rows == {"c1": 1, "c2": 0}
        command.downgrade(config, "webauthn_1")
    finally:
        engine.dispose()
