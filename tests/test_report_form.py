"""The empty report form is fast and stores nothing per visitor: it is rendered once per
variant every few seconds, each visitor's page carries that visitor's own CSRF token, and a
visit opens no database transaction (a write per anonymous visit would be a way to fill, or
lock, the database)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import CSRF_COOKIE, World, dump_tables
from whistle.models import Category
from whistle.web import reporter

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def transactions(engine: Engine) -> Iterator[list[int]]:
    began: list[int] = []

    def count(_conn: object) -> None:
        began.append(1)

    event.listen(engine, "begin", count)
    yield began
    event.remove(engine, "begin", count)


def test_visits_open_no_transaction_and_store_nothing(
    world: World, new_client: Callable[[], TestClient], engine: Engine, transactions: list[int]
) -> None:
    new_client().get("/report")  # the first visit renders (and reads the choices)
    before, transactions[:] = dump_tables(engine), []
    for _ in range(20):
        visitor = new_client()
        page = visitor.get("/report")
        assert page.status_code == 200
        assert "Beskriv vad som har hänt" in page.text
    assert transactions == []
    assert dump_tables(engine) == before


def test_each_visitor_gets_its_own_token_and_can_send_the_form(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    first, second = new_client(), new_client()
    one, two = first.get("/report"), second.get("/report")
    [token_one], [token_two] = TOKEN.findall(one.text), TOKEN.findall(two.text)
    assert token_one != token_two
    assert token_one == first.cookies[CSRF_COOKIE]
    assert token_two == second.cookies[CSRF_COOKIE]
    assert token_one not in two.text
    assert one.text.replace(token_one, token_two) == two.text
    sent = second.post(
        "/report",
        data={
            "csrf_token": token_two,
            "category": str(world.bribery),
            "what": "Från den lagrade sidan",
            "mode": "anonymous",
        },
    )
    assert sent.status_code == 200
    assert "Din rapport har skickats" in sent.text


def test_a_hostile_cookie_token_is_escaped(new_client: Callable[[], TestClient]) -> None:
    new_client().get("/report")  # stored
    hostile = "<script>alert(1)</script>xxxxxxxxxx"
    page = new_client().get("/report", headers={"cookie": f"{CSRF_COOKIE}={hostile}"})
    assert "<script>alert" not in page.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;xxxxxxxxxx"' in page.text


def test_a_new_category_shows_once_the_stored_form_is_old(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "Nyinrättad kategori" not in new_client().get("/report").text
    with Session(engine) as s:
        s.add(Category(name_sv="Nyinrättad kategori", name_en="New category", position=99))
        s.commit()
    monkeypatch.setattr(reporter, "FORM_TTL_SECONDS", 0.0)
    assert "Nyinrättad kategori" in new_client().get("/report").text
