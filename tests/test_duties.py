"""The law's follow-up on a case: withheld acknowledgement, feedback, outcome, meetings,
oral reports and their minutes, handovers and the action log."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import (
    CODE_RE,
    World,
    dump_tables,
    login_reporter,
    login_staff,
    post,
    submit_report,
)
from whistle import deadlines
from whistle.models import Case, CaseItem

MARKER = "FOLLOWUPMARKER0917"


def _case(engine: Engine) -> Case:
    with Session(engine) as s:
        return s.execute(select(Case).order_by(Case.received_on)).scalars().first()


def _investigator(new_client: Callable[[], TestClient], name: str = "anna") -> TestClient:
    client = new_client()
    login_staff(client, name)
    return client


def test_withheld_acknowledgement_needs_a_reason_and_moves_the_deadline(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    case = _case(engine)
    anna = _investigator(new_client)
    assert post(anna, f"/cases/{case.id}/withhold-ack", {"reason": ""}).status_code == 400
    done = post(anna, f"/cases/{case.id}/withhold-ack", {"reason": f"Only two people {MARKER}"})
    assert done.status_code == 303
    case = _case(engine)
    assert case.ack_withheld
    assert case.acknowledged_on is None
    expected = deadlines.add_months(case.received_on + dt.timedelta(days=7), 3)
    assert case.feedback_due == expected
    assert case.next_due == expected
    # A confirmation can no longer be sent, and the reason is never shown to the reporter.
    again = post(anna, f"/cases/{case.id}/post", {"kind": "acknowledgement", "text": "Hi"})
    assert again.status_code == 400
    login_reporter(reporter, code)
    assert MARKER not in reporter.get("/case").text
    assert MARKER.encode() not in dump_tables(engine)


def test_feedback_and_closing_with_an_outcome(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    case = _case(engine)
    anna = _investigator(new_client)
    assert (
        post(anna, f"/cases/{case.id}/feedback", {"measures": "x", "reasons": ""}).status_code
        == 400
    )
    sent = post(
        anna,
        f"/cases/{case.id}/feedback",
        {"measures": "The contract was cancelled.", "reasons": "It broke procurement rules."},
    )
    assert sent.status_code == 303
    case = _case(engine)
    assert case.status == "feedback_given"
    assert case.feedback_given_on is not None
    assert case.next_due is None
    login_reporter(reporter, code)
    page = reporter.get("/case").text
    assert "The contract was cancelled." in page
    assert "It broke procurement rules." in page
    # "Feedback given" cannot be chosen in the status menu; closing needs an outcome.
    assert post(anna, f"/cases/{case.id}/status", {"status": "feedback_given"}).status_code == 400
    assert post(anna, f"/cases/{case.id}/status", {"status": "closed"}).status_code == 400
    closed = post(
        anna, f"/cases/{case.id}/status", {"status": "closed", "outcome": "substantiated"}
    )
    assert closed.status_code == 303
    case = _case(engine)
    assert case.status == "closed"
    assert case.outcome == "substantiated"
    reopened = post(anna, f"/cases/{case.id}/status", {"status": "investigation"})
    assert reopened.status_code == 303
    case = _case(engine)
    assert case.outcome is None
    assert case.closed_on is None


def test_oral_report_loop_with_minutes_versions(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    carl = _investigator(new_client, "carl")
    registered = post(
        carl,
        "/oral",
        {
            "category": str(world.bribery),  # Carl is not designated for bribery, but took it
            "what": f"Told at a meeting {MARKER}",
            "mode": "anonymous",
            "minutes": "Version one of the minutes.",
            "recording_consent": "yes",
        },
    )
    assert registered.status_code == 200
    code = CODE_RE.search(registered.text)
    assert code
    case = _case(engine)
    assert case.channel == "oral"
    assert len(re.findall(r'href="/cases/', carl.get("/inbox").text)) == 1
    # The reporter opens the case with the code, takes their own, and asks for a correction.
    reporter = new_client()
    opened = post(reporter, "/followup", {"code": code.group(1)})
    assert opened.headers["location"] == "/case/new-code"
    assert CODE_RE.search(post(reporter, "/case/new-code", {}).text)
    page = reporter.get("/case").text
    assert "Version one of the minutes." in page
    assert "Kontrollera protokollet" in page
    empty = post(reporter, "/case/minutes", {"version": "1", "decision": "correct"})
    assert empty.status_code == 400
    corrected = post(
        reporter,
        "/case/minutes",
        {"version": "1", "decision": "correct", "corrections": "It was Tuesday, not Monday."},
    )
    assert corrected.status_code == 303
    assert "Kontrollera protokollet" not in reporter.get("/case").text
    # A new version; the old one cannot be approved any more; the new one is approved.
    assert post(carl, f"/cases/{case.id}/minutes", {"text": "Version two."}).status_code == 303
    stale = post(reporter, "/case/minutes", {"version": "1", "decision": "approve"})
    assert stale.status_code == 400
    approved = post(reporter, "/case/minutes", {"version": "2", "decision": "approve"})
    assert approved.status_code == 303
    with Session(engine) as s:
        kinds = [i.kind for i in s.execute(select(CaseItem).order_by(CaseItem.seq)).scalars()]
    assert kinds == [
        "report",
        "minutes",
        "own_code",
        "minutes_response",
        "minutes",
        "minutes_response",
    ]
    investigator_page = carl.get(f"/cases/{case.id}").text
    assert "It was Tuesday, not Monday." in investigator_page
    assert "Godkände version 2 av protokollet." in investigator_page
    assert MARKER.encode() not in dump_tables(engine)


def test_meeting_request_and_proposal(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.other, meeting="yes")
    login_reporter(reporter, code)
    assert post(reporter, "/case/meeting", {"text": "Evenings are best"}).status_code == 303
    anna = _investigator(new_client)
    case = _case(engine)
    page = anna.get(f"/cases/{case.id}").text
    assert "Evenings are best" in page
    assert "Personligt möte</dt><dd>Önskas</dd>" in page
    assert (
        post(anna, f"/cases/{case.id}/meeting", {"proposal": "Thursday 18:00, library"}).status_code
        == 303
    )
    assert "Thursday 18:00, library" in reporter.get("/case").text


def test_handover_notifies_the_reporter_first_or_records_why_not(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery, mode="confidential", name=f"Name {MARKER}")
    case = _case(engine)
    anna = _investigator(new_client)
    base = {
        "recipient": "Polismyndigheten",
        "legal_ground": "criminal_investigation",
        "handed": "The report and the reporter's name",
        "identity_disclosed": "yes",
        "notice_text": "We will tell the police who you are.",
    }
    refused = post(anna, f"/cases/{case.id}/handover", base)  # no notice, no reason
    assert refused.status_code == 400
    told = post(anna, f"/cases/{case.id}/handover", {**base, "notify_reporter": "yes"})
    assert told.status_code == 303
    login_reporter(reporter, code)
    reporter_page = reporter.get("/case").text
    assert "We will tell the police who you are." in reporter_page
    assert "Polismyndigheten" not in reporter_page  # the handover record itself is internal
    quiet = post(
        anna,
        f"/cases/{case.id}/handover",
        {**base, "no_notice_reason": "Telling would warn the suspect."},
    )
    assert quiet.status_code == 303
    page = anna.get(f"/cases/{case.id}").text
    assert "Telling would warn the suspect." in page
    assert "Polismyndigheten" in page
    masked = post(
        anna,
        f"/cases/{case.id}/handover",
        {"recipient": "HR", "legal_ground": "further_measures", "handed": "Facts only"},
    )
    assert masked.status_code == 303
    assert "Dold" in anna.get(f"/cases/{case.id}").text


def test_action_log_is_sealed(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    submit_report(new_client(), world.bribery)
    case = _case(engine)
    anna = _investigator(new_client)
    bad = post(
        anna, f"/cases/{case.id}/action", {"action_type": "police_report", "on": "2026-13-40"}
    )
    assert bad.status_code == 400
    ok = post(
        anna,
        f"/cases/{case.id}/action",
        {"action_type": "police_report", "on": "2026-11-20", "text": f"K-number {MARKER}"},
    )
    assert ok.status_code == 303
    page = anna.get(f"/cases/{case.id}").text
    assert "Polisanmälan gjord" in page
    assert f"K-number {MARKER}" in page
    assert MARKER.encode() not in dump_tables(engine)
