"""Search across readable cases: found where the user can read, never elsewhere, nothing kept."""

from __future__ import annotations

import logging
from collections.abc import Callable

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
from whistle import accounts, search
from whistle.casework import CaseworkError
from whistle.keys import Keys
from whistle.models import Case


def test_search_finds_a_marker_only_in_cases_the_user_can_read(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reporter = new_client()
    submit_report(reporter, world.bribery, what="About the supplier Zyxwq Konsult AB")
    submit_report(reporter, world.other, what="Nothing to see here")
    submit_report(reporter, world.other, what="The Zyxwq invoices, for Carl's eyes")
    with Session(engine) as s:
        bribery = s.execute(select(Case.id).where(Case.category_id == world.bribery)).scalar_one()
    anna = new_client()
    login_staff(anna, "anna")
    # A message in a case, not only the report, is searched too.
    post(anna, f"/cases/{bribery}/post", {"kind": "note", "text": "Met QQMARKERQQ at the depot"})

    found = post(anna, "/search", {"term": "zyxwq"})  # case-insensitive
    assert found.status_code == 200
    assert found.text.count('<li><a href="/cases/') == 2
    assert "Zyxwq Konsult AB" in found.text
    assert "invoices" in found.text
    note = post(anna, "/search", {"term": "qqmarkerqq"}).text
    assert f'href="/cases/{bribery}"' in note
    assert "Met QQMARKERQQ at the depot" in note

    bertil = new_client()
    login_staff(bertil, "bertil")  # reads bribery only
    theirs = post(bertil, "/search", {"term": "Zyxwq"}).text
    assert "Zyxwq Konsult AB" in theirs
    assert "invoices" not in theirs
    carl = new_client()
    login_staff(carl, "carl")  # reads "other" only
    assert f'href="/cases/{bribery}"' not in post(carl, "/search", {"term": "QQMARKERQQ"}).text

    # Nothing of the term or the results is written anywhere or logged.
    dump = dump_tables(engine)
    assert b"zyxwq" not in dump.lower()
    assert b"qqmarkerqq" not in dump.lower()
    assert "zyxwq" not in caplog.text.casefold()
    assert "qqmarkerqq" not in caplog.text.casefold()


def test_search_refuses_a_term_too_short_and_keeps_it(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    anna = new_client()
    login_staff(anna, "anna")
    refused = post(anna, "/search", {"term": "ab"})
    assert refused.status_code == 400
    assert 'value="ab"' in refused.text
    with Session(engine) as s:
        key = accounts.authenticate(
            s,
            username="anna",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        ).private_key
        with pytest.raises(CaseworkError):
            search.search(s, user_id=world.anna, private_key=key, term="  a ")


def test_search_pages_through_many_cases(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    keys: Keys,
) -> None:
    """Across batch boundaries every case is searched once."""
    monkeypatch.setattr(search, "BATCH", 2)
    reporter = new_client()
    for n in range(5):
        submit_report(reporter, world.other, what=f"Batch case number {n} mark")
    with Session(engine) as s:
        key = accounts.authenticate(
            s,
            username="carl",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        ).private_key
        found = search.search(s, user_id=world.carl, private_key=key, term="mark")
    assert found.searched == 5
    assert len({h.case_id for h in found.hits}) == 5
