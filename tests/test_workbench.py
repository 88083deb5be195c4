"""The workbench: case lead, labels, tasks, triage, and the inbox's filters and counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import (
    CHEAP_ARGON2,
    PASSWORD,
    World,
    dump_tables,
    login_staff,
    post,
    submit_report,
)
from whistle import accounts, casework, deadlines, jobs, workbench
from whistle import inbox as inbox_query
from whistle.cases import CaseNotFound
from whistle.casework import CaseworkError
from whistle.inbox import InboxQuery
from whistle.keys import Keys
from whistle.models import Case, CaseTask
from whistle.settings import Settings


def _key(s: Session, username: str, keys: Keys) -> bytes:
    return accounts.authenticate(
        s, username=username, password=PASSWORD, params=CHEAP_ARGON2, password_key=keys.password_key
    ).private_key


def _cases(engine: Engine, category: int) -> list[str]:
    with Session(engine) as s:
        return list(
            s.execute(select(Case.id).where(Case.category_id == category).order_by(Case.id))
            .scalars()
            .all()
        )


def _ids(s: Session, user_id: str, **query: object) -> set[str]:
    found = inbox_query.inbox(s, user_id=user_id, query=InboxQuery(**query))
    return {row.case_id for row in found.rows}


def test_filters_return_exactly_the_right_cases(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    reporter = new_client()
    for _ in range(3):
        submit_report(reporter, world.bribery, unit=str(world.unit))  # Anna and Bertil
    for _ in range(2):
        submit_report(reporter, world.other)  # Anna and Carl
    bribes, others = _cases(engine, world.bribery), _cases(engine, world.other)
    today = deadlines.today()
    with Session(engine) as s:
        anna, bertil = _key(s, "anna", keys), _key(s, "bertil", keys)
        supplier = workbench.define_label(s, user_id=world.anna, name="Supplier")
        urgent = workbench.define_label(s, user_id=world.bertil, name="Urgent")
        assert supplier.id
        assert urgent.id
        workbench.set_lead(
            s, case_id=bribes[0], user_id=world.anna, private_key=anna, target_id=world.anna
        )
        # Bertil hands a case he holds to Anna, and takes another himself.
        workbench.set_lead(
            s, case_id=bribes[1], user_id=world.bertil, private_key=bertil, target_id=world.bertil
        )
        workbench.set_case_labels(
            s,
            case_id=bribes[1],
            user_id=world.anna,
            private_key=anna,
            label_ids=[str(supplier.id), str(urgent.id)],
        )
        workbench.set_case_labels(
            s, case_id=others[0], user_id=world.anna, private_key=anna, label_ids=[str(urgent.id)]
        )
        late = s.get(Case, bribes[2])
        assert late is not None
        late.next_due = today - dt.timedelta(days=1)
        soon = s.get(Case, others[1])
        assert soon is not None
        soon.next_due, soon.status = today + dt.timedelta(days=3), "investigation"
        for case in s.execute(
            select(Case).where(Case.id.in_([bribes[0], bribes[1], others[0]]))
        ).scalars():
            case.next_due = today + dt.timedelta(days=30)
        s.commit()

        assert _ids(s, world.anna) == set(bribes) | set(others)
        assert _ids(s, world.anna, show="mine") == {bribes[0]}
        assert _ids(s, world.bertil, show="mine") == {bribes[1]}
        assert _ids(s, world.anna, show="unassigned") == {bribes[2], *others}
        assert _ids(s, world.anna, show="overdue") == {bribes[2]}
        assert _ids(s, world.anna, show="week") == {others[1]}
        assert _ids(s, world.anna, status="investigation") == {others[1]}
        assert _ids(s, world.anna, category=world.other) == set(others)
        assert _ids(s, world.anna, unit=world.unit) == set(bribes)
        assert _ids(s, world.anna, label=supplier.id) == {bribes[1]}
        assert _ids(s, world.anna, label=urgent.id) == {bribes[1], others[0]}
        # Carl holds the "other" cases only: a label on Bertil's case never shows to him.
        assert _ids(s, world.carl, label=supplier.id) == set()
        assert _ids(s, world.carl, label=urgent.id) == {others[0]}
        assert _ids(s, world.anna, label=urgent.id, category=world.bribery) == {bribes[1]}
        # A label on more cases than RARE_LABEL is probed case by case instead: same answers.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(inbox_query, "RARE_LABEL", 1)
            assert _ids(s, world.anna, label=urgent.id) == {bribes[1], others[0]}
            assert _ids(s, world.carl, label=urgent.id) == {others[0]}
            assert _ids(s, world.anna, label=urgent.id, category=world.bribery) == {bribes[1]}
            assert _ids(s, world.anna, label=supplier.id) == {bribes[1]}
        unused = workbench.define_label(s, user_id=world.anna, name="Unused")
        assert unused.id is not None
        assert _ids(s, world.anna, label=unused.id) == set()

        by_received = inbox_query.inbox(s, user_id=world.anna, query=InboxQuery(sort="received"))
        days = [row.received_on for row in by_received.rows]
        assert days == sorted(days, reverse=True)
        assert len(days) == 5
        by_deadline = inbox_query.inbox(s, user_id=world.anna)
        assert by_deadline.rows[0].case_id == bribes[2]  # the overdue one first
        assert {r.case_id: r.label_ids for r in by_deadline.rows}[bribes[1]] == tuple(
            sorted((supplier.id, urgent.id))
        )

        counts = inbox_query.counts(s, user_id=world.anna)
        assert counts.open == 5
        assert counts.shows == {"mine": 1, "unassigned": 3, "overdue": 1, "week": 1}
        assert counts.category == {world.bribery: 3, world.other: 2}
        assert counts.label == {supplier.id: 1, urgent.id: 2}
        assert counts.status == {"received": 4, "investigation": 1}
        assert inbox_query.counts(s, user_id=world.carl).label == {urgent.id: 1}


def test_a_non_reader_can_neither_set_nor_take_anything(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    submit_report(new_client(), world.bribery)  # Anna and Bertil; not Carl
    (case_id,) = _cases(engine, world.bribery)
    with Session(engine) as s:
        carl, anna = _key(s, "carl", keys), _key(s, "anna", keys)
        label = workbench.define_label(s, user_id=world.carl, name="Supplier")
        attempts: list[Callable[[], object]] = [
            lambda: workbench.set_lead(
                s, case_id=case_id, user_id=world.carl, private_key=carl, target_id=world.carl
            ),
            lambda: workbench.set_case_labels(
                s, case_id=case_id, user_id=world.carl, private_key=carl, label_ids=[str(label.id)]
            ),
            lambda: workbench.add_task(
                s,
                case_id=case_id,
                user_id=world.carl,
                private_key=carl,
                text="x",
                due_on="2030-01-01",
            ),
            lambda: workbench.assess(
                s,
                case_id=case_id,
                user_id=world.carl,
                private_key=carl,
                priority="high",
                risk="high",
                measures="",
                checklist=[],
            ),
        ]
        for attempt in attempts:
            with pytest.raises(CaseNotFound):
                attempt()
        # A reader cannot make a non-reader the lead either.
        with pytest.raises(CaseworkError):
            workbench.set_lead(
                s, case_id=case_id, user_id=world.anna, private_key=anna, target_id=world.carl
            )
        with pytest.raises(CaseworkError):  # administrators do not edit the list
            workbench.define_label(s, user_id=world.admin, name="Other")
        s.rollback()
        case = s.get(Case, case_id)
        assert case is not None
        assert case.lead_id is None
        assert case.task_due is None


def test_the_lead_who_steps_aside_is_no_longer_the_lead(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    submit_report(new_client(), world.bribery)
    (case_id,) = _cases(engine, world.bribery)
    with Session(engine) as s:
        bertil = _key(s, "bertil", keys)
        workbench.set_lead(
            s, case_id=case_id, user_id=world.bertil, private_key=bertil, target_id=world.bertil
        )
        casework.recuse(s, case_id=case_id, user_id=world.bertil, private_key=bertil)
        s.commit()
        case = s.get(Case, case_id)
        assert case is not None
        assert case.lead_id is None


def test_tasks_are_sealed_dated_and_reminded(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    keys: Keys,
) -> None:
    submit_report(new_client(), world.bribery)
    (case_id,) = _cases(engine, world.bribery)
    today = deadlines.today()
    with Session(engine) as s:
        anna = _key(s, "anna", keys)
        for text, days in (("Call the supplier TASKMARKER", 5), ("Ask HR TASKMARKER", 1)):
            workbench.add_task(
                s,
                case_id=case_id,
                user_id=world.anna,
                private_key=anna,
                text=text,
                due_on=(today + dt.timedelta(days=days)).isoformat(),
            )
        with pytest.raises(CaseworkError):
            workbench.add_task(
                s,
                case_id=case_id,
                user_id=world.anna,
                private_key=anna,
                text="x",
                due_on="tomorrow",
            )
        s.commit()
        case = s.get(Case, case_id)
        assert case is not None
        assert case.task_due == today + dt.timedelta(days=1)
        due = jobs.due_reminders(s, today=today, settings=settings)
        assert [(d.kind, d.due_on) for d in due if d.kind == "task"] == [
            ("task", today + dt.timedelta(days=1))
        ]
    assert b"TASKMARKER" not in dump_tables(engine)
    with Session(engine) as s:
        anna = _key(s, "anna", keys)
        soonest = s.execute(select(CaseTask).order_by(CaseTask.due_on)).scalars().first()
        assert soonest is not None
        workbench.set_task_done(
            s,
            case_id=case_id,
            user_id=world.anna,
            private_key=anna,
            task_id=soonest.id,
            finished=True,
        )
        s.commit()
        case = s.get(Case, case_id)
        assert case is not None
        assert case.task_due == today + dt.timedelta(days=5)
        assert not [
            d for d in jobs.due_reminders(s, today=today, settings=settings) if d.kind == "task"
        ]
        report = jobs.remind(
            s,
            settings=settings,
            today=today + dt.timedelta(days=4),
            client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        )
        assert report.reminders >= 1


def test_case_page_shows_triage_on_top_and_keeps_it_sealed(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    submit_report(new_client(), world.bribery, what="The report text")
    (case_id,) = _cases(engine, world.bribery)
    anna = new_client()
    login_staff(anna, "anna")
    response = post(
        anna,
        f"/cases/{case_id}/triage",
        {
            "priority": "high",
            "risk": "high",
            "measures": "Move PROTECTMARKER",
            "checklist": "identity",
        },
    )
    assert response.status_code == 303
    bad = post(
        anna,
        f"/cases/{case_id}/triage",
        {"priority": "urgent!", "risk": "low", "measures": "Kept draft"},
    )
    assert bad.status_code == 400
    assert "Kept draft" in bad.text
    page = anna.get(f"/cases/{case_id}").text
    assert page.index("PROTECTMARKER") < page.index("The report text")  # top of the case
    assert b"PROTECTMARKER" not in dump_tables(engine)

    assert post(anna, f"/cases/{case_id}/lead", {"user_id": world.anna}).status_code == 303
    assert post(anna, "/labels", {"name": "Supplier"}).status_code == 303
    assert post(anna, "/labels", {"name": "supplier"}).status_code == 400  # already there
    with Session(engine) as s:
        label_id = s.execute(select(workbench.Label.id)).scalar_one()
    assert post(anna, f"/cases/{case_id}/labels", {"label_id": str(label_id)}).status_code == 303
    inbox = anna.get("/inbox?show=mine").text
    assert case_id in inbox
    assert "Supplier" in inbox
    assert case_id not in anna.get("/inbox?show=unassigned").text
    assert case_id in anna.get(f"/inbox?label={label_id}&sort=received").text


def test_case_page_sub_pages_keep_the_thread_and_land_on_the_form_used(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    submit_report(new_client(), world.bribery, what="Thread marker text")
    (case_id,) = _cases(engine, world.bribery)
    anna = new_client()
    login_staff(anna, "anna")
    reply = anna.get(f"/cases/{case_id}").text
    # The reply is the first sub-page; the other forms are not in the way.
    assert 'id="field-message"' in reply
    assert 'id="field-measures"' not in reply
    assert 'id="field-status"' not in reply
    assert 'id="field-grant"' not in reply
    expected = {
        "feedback": ('id="field-measures"', 'id="field-status"'),
        "meetings": ('id="field-proposal"', 'id="field-minutes"'),
        "tasks": ('id="field-task"', 'id="field-action-type"', 'id="field-priority"'),
        "handover": ('id="field-recipient"',),
        "access": ('id="field-lead"', 'id="field-recuse"'),
        "history": ("Åtkomsthistorik",),
    }
    for tab, markers in expected.items():
        page = anna.get(f"/cases/{case_id}?tab={tab}").text
        assert "Thread marker text" in page, tab  # the report stays in view on every one
        assert all(m in page for m in markers), tab
        assert 'id="field-message"' not in page, tab
        assert f'href="/cases/{case_id}?tab={tab}#work" aria-current="page"' in page
    # An error shows the form that was used, with what was typed.
    bad = post(anna, f"/cases/{case_id}/feedback", {"measures": "Typed measures", "reasons": ""})
    assert bad.status_code == 400
    assert "Typed measures" in bad.text
    assert 'id="field-status"' in bad.text
    done = post(anna, f"/cases/{case_id}/lead", {"user_id": world.anna})
    assert done.status_code == 303
    landed = anna.get(done.headers["location"]).text
    assert 'id="field-lead"' in landed
    assert "Sparat." in landed


def test_an_overdue_task_puts_a_case_without_deadlines_among_the_overdue(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    submit_report(new_client(), world.bribery)
    (case_id,) = _cases(engine, world.bribery)
    today = deadlines.today()
    with Session(engine) as s:
        anna = _key(s, "anna", keys)
        workbench.add_task(
            s,
            case_id=case_id,
            user_id=world.anna,
            private_key=anna,
            text="Overdue task",
            due_on=(today - dt.timedelta(days=2)).isoformat(),
        )
        case = s.get(Case, case_id)
        assert case is not None
        case.next_due = None  # no deadline of the law open any more
        s.add(case)
        s.commit()
        assert _ids(s, world.anna, show="overdue") == {case_id}
        assert _ids(s, world.anna, show="week") == set()
        assert inbox_query.counts(s, user_id=world.anna).shows["overdue"] == 1
    anna_page = new_client()
    login_staff(anna_page, "anna")
    assert "uppgiften är försenad" in anna_page.get("/inbox?show=overdue").text


def test_counts_stop_at_the_cap_and_show_no_partial_numbers(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inbox_query, "COUNT_CAP", 2)
    reporter = new_client()
    for _ in range(3):
        submit_report(reporter, world.other)
    with Session(engine) as s:
        counts = inbox_query.counts(s, user_id=world.carl)
    assert counts.capped
    assert counts.shows == {}
    assert counts.category == {}
    carl = new_client()
    login_staff(carl, "carl")
    page = carl.get("/inbox").text
    assert "Öppna ärenden: fler än 2" in page
    assert "Mina (jag är ansvarig): " not in page
    monkeypatch.setattr(inbox_query, "COUNT_CAP", 3)
    with Session(engine) as s:
        assert inbox_query.counts(s, user_id=world.carl).open == 3


def test_unicode_digits_are_refused_not_a_server_error(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    """ "²".isdigit() is true but int("²") fails: every number from a form or a query string is
    checked as ASCII digits (found by tests/test_fuzz.py on /admin/routes)."""
    submit_report(new_client(), world.bribery)
    (case_id,) = _cases(engine, world.bribery)
    anna = new_client()
    login_staff(anna, "anna")
    assert anna.get("/inbox?category=²&label=³&page=²").status_code == 200
    assert post(anna, f"/cases/{case_id}/labels", {"label_id": "²"}).status_code == 400
    assert post(anna, "/labels/²/retire", {}).status_code == 400
    admin = new_client()
    login_staff(admin, "admin")
    assert post(admin, "/admin/routes", {"user_id": world.anna, "category": "²"}).status_code == 400
