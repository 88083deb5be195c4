"""What test modules share that is not a fixture: the test constants, the small configured
organisation (`World`, `make_world`), logging in and posting through the forms, and reading every
table back. Fixtures and hooks live in `tests/conftest.py`, which imports from here; a test module
imports these from `tests.helpers`, never from a conftest (tests/test_imports.py)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

import httpx2
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session
from starlette.testclient import TestClient

from whistle import accounts, crypto, db, demo, routing
from whistle.crypto import Argon2Params
from whistle.keys import Keys
from whistle.models import Category, Unit

# TESTS ONLY: Argon2 at its cheapest so the suite runs fast. Production uses 64 MiB, t=3.
CHEAP_ARGON2 = Argon2Params(time_cost=1, memory_kib=8, parallelism=1)
PG_URL = os.environ.get("WHISTLE_TEST_DATABASE_URL", "")
PASSWORD = "correct horse battery staple"
TOTP_SECRET = b"test-totp-secret-20b"  # every test user's second factor
CSRF_COOKIE = "__Host-whistle_csrf"  # the tests' app uses Secure cookies (https://testserver)


@dataclass
class World:
    """A small configured organisation: two categories, one unit, three investigators."""

    engine: Engine
    bribery: int
    other: int
    unit: int
    anna: str  # designated for both categories
    bertil: str  # designated for bribery only
    carl: str  # designated for other only
    admin: str


def enrol_totp(s: Session, username: str, password_key: bytes) -> None:
    """Give a test user the known TOTP secret, sealed as the real enrolment seals it."""
    who = accounts.authenticate(
        s, username=username, password=PASSWORD, params=CHEAP_ARGON2, password_key=password_key
    )
    who.user.totp_sealed = crypto.seal(
        who.kek, TOTP_SECRET, purpose="totp-secret", case_id="", item_id=who.user.id
    )
    s.add(who.user)


def make_world(engine: Engine, keys: Keys) -> World:
    with db.session_scope(engine) as s:
        bribery = Category(name_sv="Mutor", name_en="Bribery", position=0)
        other = Category(name_sv="Annat", name_en="Other", position=1)
        unit = Unit(name_sv="Förvaltning Norr", name_en="North Administration")
        s.add_all([bribery, other, unit])
        s.flush()
        ids = {}
        for name, role in (
            ("anna", "investigator"),
            ("bertil", "investigator"),
            ("carl", "investigator"),
            ("admin", "admin"),
        ):
            user, _ = accounts.create_active_user(
                s,
                username=name,
                display_name=name.title(),
                role=role,
                password=PASSWORD,
                params=CHEAP_ARGON2,
                password_key=keys.password_key,
            )
            enrol_totp(s, user.username, keys.password_key)
            ids[name] = user.id
        assert bribery.id
        assert other.id
        assert unit.id
        for username, category in (
            ("anna", bribery.id),
            ("anna", other.id),
            ("bertil", bribery.id),
            ("carl", other.id),
        ):
            routing.designate(s, category_id=category, user_id=ids[username])
        # Approved by colleagues, as four eyes requires (whistle/approvals.py).
        demo.approve_as_colleagues(s)
        return World(engine, bribery.id, other.id, unit.id, **ids)


def csrf(client: TestClient) -> str:
    """Visit a page so the browser has its CSRF cookie; return the token."""
    if CSRF_COOKIE not in client.cookies:
        client.get("/")
    token = client.cookies.get(CSRF_COOKIE)
    assert token
    return token


def post(client: TestClient, url: str, data: dict[str, str]) -> httpx2.Response:
    return client.post(url, data={"csrf_token": csrf(client), **data})


CODE_RE = re.compile(r"<strong>(\d{4} \d{4} \d{4} \d{4})</strong>")


def submit_report(client: TestClient, category: int, **fields: str) -> str:
    """File a report through the form; return the case code as shown (grouped)."""
    data = {"category": str(category), "what": "Something happened", "mode": "anonymous"}
    data.update(fields)
    response = post(client, "/report", data)
    assert response.status_code == 200, response.text
    match = CODE_RE.search(response.text)
    assert match, "no case code on the receipt page"
    return match.group(1)


def totp_code(client: TestClient, username: str) -> str:
    """A fresh code for this user: codes are single-use, so each login of the same user takes
    the next time step (the server accepts one step of clock drift either way). The steps used
    are kept on the app object, which lives exactly as long as the test's database."""
    state = client.app.state  # type: ignore[attr-defined]
    if not hasattr(state, "test_totp_steps"):
        state.test_totp_steps = {}
    used: dict[str, int] = state.test_totp_steps
    # Start a step early (room for more logins) only early in a step: a code for the step
    # before ours, checked just after the step turns, would be two behind. Two ahead: wait.
    moment = time.time()
    now_step = int(moment) // crypto.TOTP_STEP
    earliest = now_step - 1 if moment % crypto.TOTP_STEP < crypto.TOTP_STEP - 5 else now_step
    step = max(earliest, used.get(username, 0) + 1)
    if step > now_step + 1:
        time.sleep((step - 1) * crypto.TOTP_STEP - moment + 0.05)
    used[username] = step
    return crypto.totp_code(TOTP_SECRET, at=step * crypto.TOTP_STEP)


def login_staff(client: TestClient, username: str, password: str = PASSWORD) -> None:
    response = post(client, "/staff/login", {"username": username, "password": password})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/staff/second-factor"
    response = post(client, "/staff/second-factor", {"code": totp_code(client, username)})
    assert response.status_code == 303, response.text


def login_reporter(client: TestClient, code: str) -> None:
    response = post(client, "/followup", {"code": code})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/case"


def db_session(engine: Engine) -> Session:
    return Session(engine)


def dump_tables(engine: Engine) -> bytes:
    """Every value of every row of every table, as bytes: what a test searches for plaintext."""
    out = bytearray()
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    out += value if isinstance(value, bytes | memoryview) else str(value).encode()
                    out += b"\x00"
    return bytes(out)
