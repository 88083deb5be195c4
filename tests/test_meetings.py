"""The phone line and meetings: the number and opening hours shown when set, a wish to meet or
talk that needs no description, and its target date reminded like the other deadlines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import CODE_RE, World, login_reporter, login_staff, post, submit_report
from whistle import jobs
from whistle.app import create_app
from whistle.keys import Keys
from whistle.models import Case
from whistle.settings import Settings


def test_the_phone_line_is_shown_only_when_set(
    settings: Settings, engine: Engine, keys: Keys, client: TestClient
) -> None:
    for url in ("/", "/info/how"):
        page = client.get(url).text
        assert "Ring " not in page
        assert "Be om ett möte eller ett samtal" in page
    configured = settings.replace(oral_phone="08-123 45 67", oral_hours="mån–fre 9–11")
    with TestClient(create_app(configured, engine=engine, keys=keys)) as other:
        for url in ("/", "/info/how"):
            page = other.get(url).text
            assert "Ring 08-123 45 67 för att rapportera per telefon." in page
            assert "Öppettider: mån–fre 9–11." in page


def _meeting_due(engine: Engine) -> dt.date | None:
    with Session(engine) as s:
        return s.execute(select(Case.meeting_due)).scalar_one()


def test_a_wish_to_meet_needs_no_description_and_gets_a_target(
    world: World, client: TestClient, engine: Engine, settings: Settings
) -> None:
    response = post(
        client,
        "/report",
        {"category": str(world.bribery), "mode": "anonymous", "meeting": "yes", "what": ""},
    )
    assert response.status_code == 200, response.text
    assert CODE_RE.search(response.text)
    with Session(engine) as s:
        case = s.execute(select(Case)).scalar_one()
    assert case.meeting_due == case.received_on + dt.timedelta(days=settings.meeting_days)
    # Without the wish (or a voice message) the description is still required.
    refused = post(
        client, "/report", {"category": str(world.bribery), "mode": "anonymous", "what": ""}
    )
    assert refused.status_code == 400


def test_the_meeting_target_is_reminded_and_cleared_by_a_proposal(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    assert _meeting_due(engine) is None
    login_reporter(reporter, code)
    assert post(reporter, "/case/meeting", {"text": ""}).status_code == 303
    due = _meeting_due(engine)
    assert due is not None
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()

        def kinds(day: dt.date) -> dict[str, bool]:
            found = jobs.due_reminders(s, today=day, settings=settings)
            return {d.kind: d.to_lead for d in found if d.kind.startswith("meeting")}

        assert kinds(due - dt.timedelta(days=settings.remind_ack_days + 1)) == {}
        assert kinds(due - dt.timedelta(days=1)) == {"meeting_soon": False}
        assert kinds(due + dt.timedelta(days=1)) == {"meeting_overdue": True}
    # Asking again does not move the target.
    assert post(reporter, "/case/meeting", {"text": "Evenings"}).status_code == 303
    assert _meeting_due(engine) == due
    anna = new_client()
    login_staff(anna, "anna")
    proposed = post(anna, f"/cases/{case_id}/meeting", {"proposal": "Tuesday 10:00, room 4"})
    assert proposed.status_code == 303
    assert _meeting_due(engine) is None
