"""Fixtures only: settings in temporary directories, generated keys, a migrated database
(SQLite by default, PostgreSQL when WHISTLE_TEST_DATABASE_URL is set), the app and clients.
What test modules import (constants, `World`, logging in, posting) is in tests/helpers.py."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.helpers import CHEAP_ARGON2, PG_URL, World, make_world
from whistle import audit, db
from whistle.app import create_app
from whistle.keys import Keys, load_keys
from whistle.models import metadata
from whistle.settings import Settings


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


@pytest.fixture
def world(engine: Engine, keys: Keys) -> World:
    return make_world(engine, keys)


@pytest.fixture
def app(settings: Settings, engine: Engine, keys: Keys) -> Starlette:
    return create_app(settings, engine=engine, keys=keys)


@pytest.fixture
def new_client(app: Starlette) -> Iterator[Callable[[], TestClient]]:
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
