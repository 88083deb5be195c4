"""Reminders through a real SMTP server on loopback and a mocked webhook; the jobs lease."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select, update
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, dump_tables, login_reporter, login_staff, post, submit_report
from whistle import audit, db, deadlines, jobs
from whistle.models import Case, Reminder, User, utcnow
from whistle.settings import Settings

MARKER = "REMINDERMARKER5521"


@dataclass
class Inbox:
    messages: list[tuple[str, bytes]] = field(default_factory=list)

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        for rcpt in envelope.rcpt_tos:
            self.messages.append((rcpt, envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def webhook() -> tuple[list[dict[str, str]], httpx.Client]:
    calls: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(204)

    return calls, httpx.Client(transport=httpx.MockTransport(handler))


def _settings(settings: Settings, port: int) -> Settings:
    return settings.replace(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_from="kanal@example.se",
        webhook_url="https://hooks.example.se/whistle",
        function_lead_email="chef@example.se",
        audit_head_hours=0,  # the audit head's own schedule is tested on its own, below
    )


def _emails(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        for name in ("anna", "bertil", "carl"):
            s.execute(update(User).where(User.username == name).values(email=f"{name}@example.se"))


def _run(engine: Engine, settings: Settings, client: httpx.Client, day: dt.date) -> jobs.RunReport:
    moment = dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=dt.UTC)
    return jobs.run(engine, settings=settings, client=client, now=moment)


def test_reminders_fire_once_to_the_right_people_without_content(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    smtp: tuple[Inbox, int],
    webhook: tuple[list[dict[str, str]], httpx.Client],
) -> None:
    inbox, port = smtp
    calls, client = webhook
    config = _settings(settings, port)
    _emails(engine)
    reporter = new_client()
    code = submit_report(reporter, world.bribery, what=f"Report {MARKER}")  # Anna and Bertil
    with Session(engine) as s:
        case = s.execute(select(Case)).scalar_one()
    received = case.received_on
    # Day 0: the new case reaches its two readers, once.
    report = _run(engine, config, client, received)
    assert report.ran
    assert report.emails == ["anna@example.se", "bertil@example.se"]
    assert sorted(r for r, _ in inbox.messages) == ["anna@example.se", "bertil@example.se"]
    assert len(calls) == 1
    assert _run(engine, config, client, received).reminders == 0
    assert len(inbox.messages) == 2
    # Five days later: the acknowledgement is due in two days.
    assert _run(engine, config, client, received + dt.timedelta(days=5)).reminders == 2
    # Day 8: overdue, to the readers and the function lead.
    late = _run(engine, config, client, received + dt.timedelta(days=8))
    assert "chef@example.se" in late.emails
    assert late.reminders == 3
    # The reporter writes: the readers are told (once).
    login_reporter(reporter, code)
    post(reporter, "/case/reply", {"text": f"More {MARKER}"})
    assert _run(engine, config, client, received + dt.timedelta(days=8)).reminders == 2
    # Carl, not a reader, never got anything; no message holds content or the category.
    assert all(not rcpt.startswith("carl") for rcpt, _ in inbox.messages)
    for _, raw in inbox.messages:
        text = message_from_bytes(raw).get_payload(decode=True).decode()
        assert MARKER not in text
        assert "Mutor" not in text
        assert "Bribery" not in text
        assert case.id[:8].lower() not in text.lower()
        assert "https://testserver/inbox" in text
    for call in calls:
        assert MARKER not in json.dumps(call)
        assert "Mutor" not in json.dumps(call)
    with Session(engine) as s:
        assert len(s.execute(select(Reminder)).all()) == 9
    assert MARKER.encode() not in dump_tables(engine)


def test_failed_delivery_is_retried(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    smtp: tuple[Inbox, int],
) -> None:
    _inbox, port = smtp
    _emails(engine)
    submit_report(new_client(), world.other)
    failing = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    from whistle.notify import NotifyError

    with pytest.raises(NotifyError):
        _run(engine, _settings(settings, port), failing, deadlines.today())
    with Session(engine) as s:
        assert s.execute(select(Reminder)).first() is None  # claims rolled back
    ok = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert _run(engine, _settings(settings, port), ok, deadlines.today()).reminders == 2


def test_lease_lets_one_process_run(world: World, engine: Engine) -> None:
    # Times derive from the real clock: the lease must work whenever the suite runs.
    now = utcnow()
    with db.session_scope(engine) as s:
        assert jobs.acquire(s, holder="a", now=now)
    with db.session_scope(engine) as s:
        assert not jobs.acquire(s, holder="b", now=now + dt.timedelta(minutes=1))
    with db.session_scope(engine) as s:
        assert jobs.acquire(s, holder="a", now=now + dt.timedelta(minutes=2))  # renew
    later = now + jobs.LEASE_TTL + dt.timedelta(minutes=3)
    with db.session_scope(engine) as s:
        assert jobs.acquire(s, holder="b", now=later)  # expired: taken over
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    blocked = jobs.run(engine, settings=Settings(), client=client, now=later, holder="c")
    assert blocked.ran is False
    with db.session_scope(engine) as s:
        jobs.release(s, holder="b")
    done = jobs.run(engine, settings=Settings(), client=client, now=later, holder="c")
    assert done.ran is True


def test_jobs_cli_runs_once(
    world: World,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from whistle import cli

    monkeypatch.setenv("WHISTLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WHISTLE_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", settings.effective_database_url)
    assert cli.main(["jobs"]) == 0
    assert "reminders sent" in capsys.readouterr().out


def test_audit_head_is_sent_on_schedule_without_content(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    smtp: tuple[Inbox, int],
    webhook: tuple[list[dict[str, str]], httpx.Client],
) -> None:
    inbox, port = smtp
    calls, client = webhook
    config = _settings(settings, port).replace(audit_head_hours=24)
    submit_report(new_client(), world.bribery, what=f"Report {MARKER}")
    login_staff(new_client(), "anna")  # an audit entry
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
        head = audit.verify(s).head
    assert head.count > 0
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    assert jobs.run(engine, settings=config, client=client, now=start).audit_head_sent
    mails = [message_from_bytes(raw) for rcpt, raw in inbox.messages if rcpt == "chef@example.se"]
    [mail] = mails
    body = mail.get_payload(decode=True).decode()
    assert f"whistle audit-verify --head {head.token()}" in body
    assert "obruten" in body
    [call] = [c for c in calls if "audit_head" in c]
    assert call["audit_head"] == head.token()
    assert "intact" in call["text"]
    for text in (body, json.dumps(call), str(mail["Subject"])):
        assert MARKER not in text
        assert case_id not in text
        assert case_id[:8] not in text
    # Once per period, whichever process runs the jobs; due again a day later.
    later = start + dt.timedelta(hours=23)
    assert not jobs.run(engine, settings=config, client=client, now=later).audit_head_sent
    next_day = start + dt.timedelta(hours=24)
    assert jobs.run(engine, settings=config, client=client, now=next_day).audit_head_sent
    assert len([c for c in calls if "audit_head" in c]) == 2
    # Off: never sent.
    off = config.replace(audit_head_hours=0)
    far = start + dt.timedelta(days=30)
    assert not jobs.run(engine, settings=off, client=client, now=far).audit_head_sent


def test_audit_head_delivery_failure_is_retried(
    world: World, engine: Engine, settings: Settings
) -> None:
    config = settings.replace(webhook_url="https://hooks.example.se/w", audit_head_hours=24)
    now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    failing = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    from whistle.notify import NotifyError

    with pytest.raises(NotifyError):
        jobs.run(engine, settings=config, client=failing, now=now)
    sent: list[bytes] = []
    ok = httpx.Client(
        transport=httpx.MockTransport(lambda r: sent.append(r.content) or httpx.Response(200))
    )
    assert jobs.run(engine, settings=config, client=ok, now=now).audit_head_sent  # not lost
    assert len(sent) == 1
