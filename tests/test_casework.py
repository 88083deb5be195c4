"""The inbox query: order, paging without a total count, and only held cases."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, submit_report
from whistle import inbox
from whistle.inbox import InboxQuery
from whistle.models import Case


def test_inbox_pages_cover_every_held_case_once(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    for _ in range(5):
        submit_report(reporter, world.other)  # Anna and Carl
    submit_report(reporter, world.bribery)  # Anna and Bertil
    with Session(engine) as s:
        carls = list(s.execute(select(Case).where(Case.category_id == world.other)).scalars())
        # Two cases without an open deadline go last.
        for case in carls[:2]:
            case.next_due = None
            s.add(case)
        s.commit()
        pages = [
            inbox.inbox(s, user_id=world.carl, query=InboxQuery(page=n), page_size=2)
            for n in (1, 2, 3)
        ]
        anna = inbox.inbox(s, user_id=world.anna, page_size=50)
    assert [p.has_next for p in pages] == [True, True, False]
    seen = [row.case_id for p in pages for row in p.rows]
    assert len(seen) == 5
    assert len(set(seen)) == 5
    due = [row.next_due for p in pages for row in p.rows]
    assert due[3:] == [None, None]  # deadlines first (nearest first), then the rest
    assert due[:3] == sorted(due[:3])
    assert len(anna.rows) == 6
    assert anna.has_next is False
