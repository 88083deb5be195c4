"""Nothing lost at the idle timeout (WCAG 2.2.1): a reply posted after the reporter's session
expired comes back in the code form, kept only in the page, and is sent once the code is
entered. While the session is gone nothing of it is stored: no item, no file, no blob."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import time_machine
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, csrf, dump_tables, login_reporter, post, submit_report
from whistle.models import Attachment, CaseItem
from whistle.settings import Settings

REPLY = "Chefen bad mig radera mejlen <b>igår</b> & i förrgår"


@contextmanager
def _after_idle(settings: Settings) -> Iterator[None]:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=settings.reporter_idle_minutes + 1)
    with time_machine.travel(later, tick=True):
        yield


def _counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        items = s.execute(select(func.count()).select_from(CaseItem)).scalar_one()
        files = s.execute(select(func.count()).select_from(Attachment)).scalar_one()
    return items, files


def _blobs(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.blob_dir.rglob("*") if p.is_file())


def _kept_text(page: str) -> str:
    match = re.search(
        r'<textarea id="field-pending_text" name="pending_text"[^>]*>(.*?)</textarea>', page, re.S
    )
    assert match, "the typed reply is not in the page"
    return html.unescape(match.group(1))


def test_a_reply_after_the_timeout_is_kept_in_the_page_and_sent_after_the_code(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    login_reporter(reporter, code)
    before, blobs_before = _counts(engine), _blobs(settings)
    with _after_idle(settings):
        late = reporter.post(
            "/case/reply",
            data={"csrf_token": csrf(reporter), "text": REPLY},
            files=[("files", ("kvitto.txt", b"a file that cannot be sealed without the key"))],
        )
        assert late.status_code == 401
        assert "har du loggats ut" in late.text
        assert "kunde inte sparas" in late.text
        assert _kept_text(late.text) == REPLY
        assert "<b>igår</b>" not in late.text  # escaped, never markup
        # Nothing of it was stored while the session was gone.
        assert _counts(engine) == before
        assert _blobs(settings) == blobs_before
        assert REPLY.split()[0].encode() not in dump_tables(engine)

        # A wrong code: the text is still there.
        wrong = post(reporter, "/followup", {"code": "0000 0000 0000 0000", "pending_text": REPLY})
        assert wrong.status_code == 400
        assert _kept_text(wrong.text) == REPLY

        sent = post(reporter, "/followup", {"code": code, "pending_text": REPLY})
        assert sent.status_code == 303
        assert sent.headers["location"] == "/case?sent=1#thread-end"
        page = reporter.get("/case")
    assert page.status_code == 200
    assert html.escape(REPLY) in page.text
    items, files = _counts(engine)
    assert (items, files) == (before[0] + 1, before[1])
    assert REPLY.split()[0].encode() not in dump_tables(engine)  # sealed, as every reply


def test_the_code_form_without_a_pending_reply_is_unchanged(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    page = reporter.get("/followup").text
    assert "pending_text" not in page
    before = _counts(engine)
    login_reporter(reporter, code)
    assert _counts(engine) == before  # an empty pending field sends nothing


def test_a_pending_reply_that_is_refused_comes_back_in_the_case_page(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    before = _counts(engine)
    too_long = "Lång " + "x" * 20_001
    response = post(reporter, "/followup", {"code": code, "pending_text": too_long})
    # The case is open (the cookie is set) and the text is back in the reply box, not lost.
    assert response.status_code == 400
    assert "whistle_reporter=" in response.headers["set-cookie"]
    assert f'name="text" rows="6" aria-invalid="true" aria-describedby="error-text">{too_long}' in (
        response.text
    )
    assert _counts(engine) == before
    assert reporter.get("/case").status_code == 200


def test_a_forged_late_reply_is_refused(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    reporter = new_client()
    login_reporter(reporter, submit_report(reporter, world.bribery))
    with _after_idle(settings):
        forged = reporter.post(
            "/case/reply",
            data={"csrf_token": "f" * 32, "text": REPLY},
            files=[("files", ("x.txt", b"data"))],
        )
    assert forged.status_code == 403
    assert REPLY not in forged.text


MEETING = "Helst kvällar <i>efter</i> 18 & inte på kontoret"


def _kept_meeting(page: str) -> str:
    match = re.search(
        r'<textarea id="field-pending_meeting" name="pending_meeting"[^>]*>(.*?)</textarea>',
        page,
        re.S,
    )
    assert match, "the typed meeting request is not in the page"
    assert 'name="pending_meeting_asked" value="1"' in page
    return html.unescape(match.group(1))


def _meeting_requests(engine: Engine) -> int:
    with Session(engine) as s:
        query = select(func.count()).select_from(CaseItem).where(CaseItem.kind == "meeting_request")
        return s.execute(query).scalar_one()


def test_a_meeting_request_after_the_timeout_is_kept_in_the_page_and_sent_after_the_code(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    login_reporter(reporter, code)
    before = _counts(engine)
    with _after_idle(settings):
        late = post(reporter, "/case/meeting", {"text": MEETING})
        assert late.status_code == 401
        assert "har du loggats ut" in late.text
        assert _kept_meeting(late.text) == MEETING
        assert "<i>efter</i>" not in late.text  # escaped, never markup
        assert "Öppna mitt ärende och be om mötet" in late.text
        assert 'name="pending_text"' not in late.text  # no reply was pending
        # Nothing of it was stored while the session was gone.
        assert _counts(engine) == before
        assert MEETING.split()[0].encode() not in dump_tables(engine)

        wrong = post(
            reporter,
            "/followup",
            {
                "code": "0000 0000 0000 0000",
                "pending_meeting_asked": "1",
                "pending_meeting": MEETING,
            },
        )
        assert wrong.status_code == 400
        assert _kept_meeting(wrong.text) == MEETING

        sent = post(
            reporter,
            "/followup",
            {"code": code, "pending_meeting_asked": "1", "pending_meeting": MEETING},
        )
        assert sent.status_code == 303
        assert sent.headers["location"] == "/case?sent=1#thread-end"
        page = reporter.get("/case")
    assert page.status_code == 200
    assert html.escape(MEETING) in page.text
    assert _meeting_requests(engine) == 1
    assert _counts(engine)[0] == before[0] + 1
    assert MEETING.split()[0].encode() not in dump_tables(engine)  # sealed, as every item


def test_an_empty_meeting_request_after_the_timeout_is_still_sent(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    """The text is optional: asking for a meeting is the message, and is not lost either."""
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    login_reporter(reporter, code)
    with _after_idle(settings):
        late = post(reporter, "/case/meeting", {"text": ""})
        assert late.status_code == 401
        assert _kept_meeting(late.text) == ""
        post(reporter, "/followup", {"code": code, "pending_meeting_asked": "1"})
    assert _meeting_requests(engine) == 1


def test_a_pending_meeting_request_that_is_refused_comes_back_in_the_case_page(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    too_long = "Lång " + "x" * 5_001
    response = post(
        reporter,
        "/followup",
        {"code": code, "pending_meeting_asked": "1", "pending_meeting": too_long},
    )
    assert response.status_code == 400
    assert "whistle_reporter=" in response.headers["set-cookie"]
    assert '<details class="panel" id="meeting" open>' in response.text
    assert 'id="error-meeting" role="alert"' in response.text
    assert "för lång" in response.text
    assert f'aria-describedby="error-meeting">{too_long}</textarea>' in response.text
    assert _meeting_requests(engine) == 0


def test_a_meeting_request_refused_in_the_case_keeps_its_text(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    login_reporter(reporter, submit_report(reporter, world.bribery))
    too_long = "y" * 5_001
    response = post(reporter, "/case/meeting", {"text": too_long})
    assert response.status_code == 400
    assert "för lång" in response.text
    assert f">{too_long}</textarea>" in response.text
    assert _meeting_requests(engine) == 0


def test_the_code_form_without_a_pending_meeting_request_sends_none(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    """A stray pending_meeting without the marker asks for nothing."""
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    assert "pending_meeting" not in reporter.get("/followup").text
    post(reporter, "/followup", {"code": code, "pending_meeting": "stray"})
    assert _meeting_requests(engine) == 0


def test_a_forged_late_meeting_request_is_refused(
    world: World, new_client: Callable[[], TestClient], settings: Settings
) -> None:
    reporter = new_client()
    login_reporter(reporter, submit_report(reporter, world.bribery))
    with _after_idle(settings):
        forged = reporter.post("/case/meeting", data={"csrf_token": "f" * 32, "text": MEETING})
    assert forged.status_code == 403
    assert MEETING not in forged.text
