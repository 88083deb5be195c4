"""Shared fixtures: settings in temporary directories, generated keys, a migrated database
(SQLite by default, PostgreSQL when WHISTLE_TEST_DATABASE_URL is set), the app and clients."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session
from starlette.testclient import TestClient

from whistle import accounts, audit, crypto, db, demo, routing
from whistle.app import create_app
from whistle.crypto import Argon2Params
from whistle.keys import Keys, load_keys
from whistle.models import Category, Unit, metadata
from whistle.settings import Settings

# TESTS ONLY: Argon2 at its cheapest so the suite runs fast. Production uses 64 MiB, t=3.
CHEAP_ARGON2 = Argon2Params(time_cost=1, memory_kib=8, parallelism=1)
PG_URL = os.environ.get("WHISTLE_TEST_DATABASE_URL", "")
PASSWORD = "correct horse battery staple"
TOTP_SECRET = b"test-totp-secret-20b"  # every test user's second factor
CSRF_COOKIE = "__Host-whistle_csrf"  # the tests' app uses Secure cookies (https://testserver)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db.migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_migrated() -> str:
    engine = db.make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    db.migrate(PG_URL)
    return PG_URL


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if PG_URL:
        url: str = request.getfixturevalue("_postgres_migrated")
        engine = db.make_engine(url)
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            # The migration's one audit-chain head row went with the TRUNCATE: put it back.
            conn.execute(
                text(
                    "INSERT INTO audit_head (id, count, last_hash, keyed_from) "
                    "VALUES (1, 0, :genesis, 1)"
                ),
                {"genesis": audit.GENESIS},
            )
        engine.dispose()
        return url
    template: Path = request.getfixturevalue("_sqlite_template")
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    shutil.copy(template, data / "whistle.db")
    return f"sqlite:///{data / 'whistle.db'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        keys_dir=tmp_path / "keys",
        database_url=database_url,
        base_url="https://testserver",
        organisation="Testkommunen",
        argon2_time_cost=CHEAP_ARGON2.time_cost,
        argon2_memory_kib=CHEAP_ARGON2.memory_kib,
        argon2_parallelism=CHEAP_ARGON2.parallelism,
        # Suites log in far more than 60 times a minute; tests/test_capacity.py sets it low.
        staff_derivations_per_minute=100_000,
    )


@pytest.fixture
def engine(settings: Settings, keys: Keys) -> Iterator[Engine]:
    # Carrying the audit chain key, as the app's and the commands' engines do.
    engine = audit.keyed(db.make_engine(settings.effective_database_url), keys)
    yield engine
    engine.dispose()


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return load_keys(settings.keys_dir, create=True)


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


def _make_world(engine: Engine, keys: Keys) -> World:
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
        assert bribery.id and other.id and unit.id
        for user, category in (
            ("anna", bribery.id),
            ("anna", other.id),
            ("bertil", bribery.id),
            ("carl", other.id),
        ):
            routing.designate(s, category_id=category, user_id=ids[user])
        # Approved by colleagues, as four eyes requires (whistle/approvals.py).
        demo.approve_as_colleagues(s)
        return World(engine, bribery.id, other.id, unit.id, **ids)


@pytest.fixture
def world(engine: Engine, keys: Keys) -> World:
    return _make_world(engine, keys)


@pytest.fixture
def app(settings: Settings, engine: Engine, keys: Keys):  # type: ignore[no-untyped-def]
    return create_app(settings, engine=engine, keys=keys)


@pytest.fixture
def new_client(app) -> Iterator[Callable[[], TestClient]]:  # type: ignore[no-untyped-def]
    """Independent browsers (own cookie jars) against the same app."""
    opened: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(new_client: Callable[[], TestClient]) -> TestClient:
    return new_client()


def csrf(client: TestClient) -> str:
    """Visit a page so the browser has its CSRF cookie; return the token."""
    if CSRF_COOKIE not in client.cookies:
        client.get("/")
    token = client.cookies.get(CSRF_COOKIE)
    assert token
    return token


def post(client: TestClient, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
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
