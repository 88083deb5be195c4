"""Access requests (GDPR art. 15): search in memory, answer as a PDF without the reporter."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from urllib.parse import urlencode

import pypdf
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import CSRF_COOKIE, World, dump_tables, login_staff, post, submit_report
from whistle import access_requests, db, deadlines
from whistle.models import AccessRequest, AuditEntry

SUBJECT = "Sture Registrerad"
REPORTER = "Vera Visselblåsare"
CONTACT = "vera.hemlig@example.org"
BYSTANDER = "Bertil Bystander"


def _cases(world: World, new_client: Callable[[], TestClient]) -> None:
    # A report naming the subject, made by a named reporter; one the investigator cannot read.
    submit_report(
        new_client(),
        world.bribery,
        what=f"{SUBJECT} tog emot pengar av {BYSTANDER}. Jag, {REPORTER}, såg det.",
        mode="confidential",
        name=REPORTER,
        contact=CONTACT,
    )
    submit_report(new_client(), world.bribery, what=f"{REPORTER} fick också pengar av {SUBJECT}.")
    submit_report(new_client(), world.other, what=f"{SUBJECT} i ett ärende bara Carl läser.")


def _record(client: TestClient, person: str) -> str:
    response = post(client, "/access-requests", {"person": person, "note": "per brev"})
    assert response.status_code == 303, response.text
    return str(response.headers["location"].rsplit("/", 1)[1])


def _answer(client: TestClient, rid: str, fields: dict[str, str], leave_out: list[str] = []):  # noqa: B006
    page = client.get(f"/access-requests/{rid}").text
    token = client.cookies[CSRF_COOKIE]
    body = [("csrf_token", token)] + list(fields.items()) + [("leave_out", v) for v in leave_out]
    return page, client.post(
        f"/access-requests/{rid}/answer",
        content=urlencode(body).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def _text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_answer_contains_the_subject_and_never_the_reporter(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    _cases(world, new_client)
    bertil = new_client()
    login_staff(bertil, "bertil")  # reads bribery only
    rid = _record(bertil, SUBJECT)
    page, response = _answer(bertil, rid, {})
    assert "[maskerat, 32:3 b OSL]" in page  # the reporter's name is masked in the form
    assert re.search(r"Ärenden du inte kan läsa.*?<dd>1</dd>", page, re.S)  # Carl's case
    assert response.status_code == 200, response.text
    text = _text(response.content)
    assert SUBJECT in text
    assert "[maskerat, 32:3 b OSL]" in text
    for secret in (REPORTER, "Vera", CONTACT):
        assert secret not in text
    assert "bara Carl" not in text  # a case Bertil cannot read is only counted
    with Session(engine) as s:
        row = s.get(AccessRequest, rid)
        assert row is not None
        assert row.answered_on == deadlines.today()
        assert row.due_on == access_requests.one_month_after(deadlines.today())
        actions = [a.action for a in s.execute(select(AuditEntry)).scalars()]
    assert actions.count("access_request_answered") == 2  # one per case included
    assert SUBJECT.encode() not in dump_tables(engine)  # who asks is sealed


def test_even_when_the_reporter_asks_their_identity_is_not_released(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    _cases(world, new_client)
    anna = new_client()
    login_staff(anna, "anna")
    rid = _record(anna, REPORTER)
    _page, response = _answer(anna, rid, {})
    assert response.status_code == 200
    text = _text(response.content)
    # The report they made is not a hit: a masked passage from it would tell that they made it;
    # nor is the other case, where their name is masked too (a reporter is never named).
    assert "tog emot pengar" not in text
    assert "såg det" not in text
    assert REPORTER not in text
    assert CONTACT not in text
    assert "fick också" not in text


def test_forged_or_unmasked_answers_are_refused(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    _cases(world, new_client)
    anna = new_client()
    login_staff(anna, "anna")
    rid = _record(anna, SUBJECT)
    page = anna.get(f"/access-requests/{rid}").text
    boxes = re.findall(r'name="([0-9a-f]{32}:[0-9a-f]{32}:what)" rows="5">([^<]*)<', page)
    assert len(boxes) == 3  # Anna reads both categories
    key = next(k for k, text in boxes if "tog emot" in text)
    assert "[maskerat, 17:3 b OSL] fick också" in page  # a reporter named in another case
    original = f"{SUBJECT} tog emot pengar av {BYSTANDER}. Jag, {REPORTER}, såg det."
    for forged, status in (
        (original, 400),  # the reporter's name unmasked
        (f"{SUBJECT} tog emot pengar. Jag, [[32:3b]], såg det.", 400),  # text removed unmarked
        (f"{SUBJECT} tog INTE emot pengar av [[17:3b]]. Jag, [[32:3b]], såg det.", 400),
    ):
        _, response = _answer(anna, rid, {key: forged})
        assert response.status_code == status
    _, ok = _answer(anna, rid, {key: f"{SUBJECT} tog emot pengar av [[17:3b]]. Jag, "
                                               "[[32:3b]], såg det."})  # fmt: skip
    assert ok.status_code == 200
    assert BYSTANDER not in _text(ok.content)


def test_only_the_recording_investigator_opens_it(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    anna = new_client()
    login_staff(anna, "anna")
    rid = _record(anna, SUBJECT)
    carl = new_client()
    login_staff(carl, "carl")
    assert carl.get(f"/access-requests/{rid}").status_code == 404
    assert SUBJECT not in carl.get("/access-requests").text
    assert post(carl, f"/access-requests/{rid}/answer", {}).status_code == 404
    assert post(anna, "/access-requests", {"person": "A"}).status_code == 400


def test_one_month_after() -> None:
    assert access_requests.one_month_after(dt.date(2026, 1, 31)) == dt.date(2026, 2, 28)
    assert access_requests.one_month_after(dt.date(2026, 12, 15)) == dt.date(2027, 1, 15)


def test_reminders_before_the_month_runs_out_and_once_overdue(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna = new_client()
    login_staff(anna, "anna")
    received = deadlines.today() - dt.timedelta(days=26)
    made = post(anna, "/access-requests", {"person": SUBJECT, "received_on": received.isoformat()})
    assert made.status_code == 303
    due = access_requests.one_month_after(received)
    with db.session_scope(engine) as s:
        assert access_requests.claim_reminders(s, today=due - dt.timedelta(days=8)) == []
        assert access_requests.claim_reminders(s, today=due - dt.timedelta(days=3)) == [
            (world.anna, False)
        ]
        assert access_requests.claim_reminders(s, today=due - dt.timedelta(days=2)) == []
        assert access_requests.claim_reminders(s, today=due + dt.timedelta(days=1)) == [
            (world.anna, True)
        ]
        assert access_requests.claim_reminders(s, today=due + dt.timedelta(days=2)) == []
