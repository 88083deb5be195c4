"""Seeding benchmark databases quickly: rows written directly, real crypto where a page decrypts.

What the measured pages decrypt is real: every case key is HPKE-wrapped to the investigators who
log in (``crypto.wrap_key``), the long case's thread is sealed through ``whistle.cases.add_item``,
and each bulk case's report item is sealed exactly as ``add_item`` seals it (purpose
``item:report``, bound to case and item id), only inserted in bulk. What no page in the bench opens
is random: the bulk cases are never opened by a reporter, so their ``lookup_id`` and
``reporter_wrap`` are random bytes of the real length (no case code derives them).

Seeded SQLite files are cached under ``bench/results/`` keyed by the Alembic head and
:data:`SEED_VERSION`; PostgreSQL databases are reused while a marker in the cache still matches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, text
from sqlmodel import Session, SQLModel, select

from whistle import accounts, audit, cases, crypto, db, deadlines, demo, routing, second_factor
from whistle.keys import load_keys
from whistle.models import Case, CaseItem, CaseKeyWrap, Category, Unit, User

# Published on purpose: bench databases hold no real reports.
PASSWORD = "bench-password-published"
SEED_VERSION = 2
CHUNK = 5_000  # cases per transaction: big enough to amortise commits, small enough for memory
RESULTS = Path(__file__).resolve().parent / "results"
READERS = ("anna", "bertil", "carl")
REPORTER_WRAP_LEN = 1 + 12 + crypto.KEY_LEN + 16  # format byte, nonce, sealed key, tag


@dataclass(frozen=True)
class World:
    """What a seeded database offers the scenarios."""

    users: dict[str, str]  # username -> user id
    totp: dict[str, str]  # username -> TOTP secret (hex), so the bench can log in
    category_id: int  # three designated readers (anna, bertil, carl)
    unit_id: int
    cases: int
    long_case_id: str = ""


def schema_revision() -> str:
    """The Alembic head plus a digest of the migration files: a revision edited in place (as
    happens before a first release) must not reuse a database seeded under its older text."""
    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    heads = "+".join(sorted(script.get_heads()))  # branches may exist before they are merged
    versions = sorted((db.MIGRATIONS_DIR / "versions").glob("*.py"))
    text_digest = hashlib.sha256(b"".join(p.read_bytes() for p in versions)).hexdigest()[:10]
    return f"{heads or 'none'}-{text_digest}"


def make_world(engine: Engine, params: crypto.Argon2Params, password_key: bytes) -> World:
    """Units, categories and three active investigators, all designated for one category."""
    with db.session_scope(engine) as session:
        unit = Unit(name_sv="Stadsdelsförvaltning Norr", name_en="Northern District")
        category = Category(name_sv="Mutor och korruption", name_en="Bribery and corruption")
        session.add_all([unit, category])
        for position in range(1, 5):
            session.add(Category(name_sv=f"Kategori {position}", name_en=f"Category {position}"))
        session.flush()
        assert unit.id is not None
        assert category.id is not None
        users, totp = {}, {}
        for name in READERS:
            user, _ = accounts.create_active_user(
                session,
                username=name,
                display_name=name.title(),
                role="investigator",
                password=PASSWORD,
                params=params,
                password_key=password_key,
            )
            routing.designate(session, user_id=user.id, category_id=category.id)
            users[name] = user.id
            totp[name] = _enrol_totp(session, user, params, password_key).hex()
        demo.approve_as_colleagues(session)  # four eyes (whistle/approvals.py)
        return World(users=users, totp=totp, category_id=category.id, unit_id=unit.id, cases=0)


def _enrol_totp(
    session: Session, user: User, params: crypto.Argon2Params, password_key: bytes
) -> bytes:
    """Enrol a second factor as the web enrolment would, with the previous time step's code so
    that a login in the current step is not refused as a replay."""
    assert user.password_salt is not None
    kek = crypto.derive_peppered_password_keys(
        PASSWORD, user.password_salt, params, password_key=password_key
    ).kek
    secret = crypto.totp_new_secret()
    at = time.time() - crypto.TOTP_STEP
    code = crypto.totp_code(secret, at=at)
    enrolled = second_factor.enrol_second_factor(
        session, user_id=user.id, kek=kek, secret=secret, code=code, at=at
    )
    assert enrolled, "TOTP enrolment refused"
    return secret


def _row(obj: SQLModel) -> dict[str, Any]:
    # Through the model, so column defaults (and columns added later) are filled in.
    table = obj.__table__  # type: ignore[attr-defined]
    return {column.name: getattr(obj, column.name) for column in table.columns}


def _case(world: World, rng: random.Random, today: dt.date) -> Case:
    received = today - dt.timedelta(days=rng.randrange(0, 5 * 365))
    age = (today - received).days
    # Most of a long history is closed; recent cases are still open, as in a real channel.
    status = rng.choice(("received", "assessment", "investigation")) if age < 120 else "closed"
    acknowledged = received + dt.timedelta(days=rng.randrange(1, 7)) if age > 7 else None
    case = Case(
        lookup_id=os.urandom(crypto.KEY_LEN),  # random: never opened by a reporter here
        reporter_wrap=os.urandom(REPORTER_WRAP_LEN),  # random, for the same reason
        unit_id=world.unit_id,
        category_id=world.category_id,
        status=status,
        received_on=received,
        ack_due=deadlines.ack_due(received),
        acknowledged_on=acknowledged,
        feedback_due=deadlines.feedback_due(received, acknowledged),
        closed_on=today - dt.timedelta(days=rng.randrange(0, age + 1))
        if status == "closed"
        else None,
        awaiting_investigator=rng.random() < 0.3,
        item_count=1,
    )
    cases.refresh_next_due(case)
    return case


def _report_content(what: str) -> dict[str, Any]:
    # The fields reports.submit seals, so the case page renders a bench report like a real one.
    fields = {"when_where": "Våren 2026", "who": "", "how_known": "", "meeting": False}
    return {"what": what, **fields, "waive_ack": False}


def _wraps(case_id: str, case_key: bytes, readers: list[tuple[str, bytes]]) -> list[CaseKeyWrap]:
    return [
        CaseKeyWrap(
            case_id=case_id,
            user_id=user_id,
            wrapped=crypto.wrap_key(case_key, public, case_id=case_id, recipient_id=user_id),
        )
        for user_id, public in readers
    ]


def _report_item(case: Case, case_key: bytes, rng: random.Random) -> CaseItem:
    item = CaseItem(
        case_id=case.id,
        seq=1,
        kind="report",
        author="reporter",
        created_at=cases.reporter_timestamp(),
        sealed=b"",
    )
    content = _report_content("x" * rng.randrange(200, 800))
    item.sealed = crypto.seal(
        case_key,
        json.dumps(content).encode(),
        purpose="item:report",
        case_id=case.id,
        item_id=item.id,
    )
    return item


def _chunks(world: World, keys: dict[str, bytes], count: int) -> Iterator[dict[str, list[Any]]]:
    rng = random.Random(count)
    today = deadlines.today()
    anna = (world.users["anna"], keys["anna"])
    others = [(world.users[n], keys[n]) for n in READERS[1:]]
    done = 0
    while done < count:
        batch: dict[str, list[Any]] = {"cases": [], "wraps": [], "items": []}
        for index in range(done, min(count, done + CHUNK)):
            case = _case(world, rng, today)
            case_key = crypto.random_key()
            # The measured investigator (anna) reads every case; each case has two readers.
            batch["cases"].append(_row(case))
            batch["wraps"] += [
                _row(w) for w in _wraps(case.id, case_key, [anna, others[index % 2]])
            ]
            batch["items"].append(_row(_report_item(case, case_key, rng)))
        done += len(batch["cases"])
        yield batch


def _public_keys(engine: Engine, world: World) -> dict[str, bytes]:
    with db.session_scope(engine) as session:
        found = {}
        for name, user_id in world.users.items():
            user = session.get(User, user_id)
            assert user is not None
            assert user.public_key is not None
            found[name] = user.public_key
        return found


def seed_cases(engine: Engine, world: World, count: int) -> None:
    """Bulk-insert ``count`` cases, one transaction per :data:`CHUNK` cases."""
    keys = _public_keys(engine, world)
    for batch in _chunks(world, keys, count):
        with engine.begin() as conn:
            conn.execute(insert(Case), batch["cases"])
            conn.execute(insert(CaseKeyWrap), batch["wraps"])
            conn.execute(insert(CaseItem), batch["items"])


def seed_long_case(engine: Engine, world: World, messages: int) -> str:
    """One open case with ``messages`` items (report included), sealed through add_item."""
    keys = _public_keys(engine, world)
    today = deadlines.today()
    with db.session_scope(engine) as session:
        case = _case(world, random.Random(1), today)
        case.status, case.closed_on, case.item_count = "investigation", None, 0
        cases.refresh_next_due(case)
        session.add(case)
        session.flush()
        case_key = crypto.random_key()
        readers = [(world.users[n], keys[n]) for n in READERS[:2]]
        session.add_all(_wraps(case.id, case_key, readers))
        for seq in range(messages):
            reporter = seq % 2 == 0
            cases.add_item(
                session,
                case=case,
                case_key=case_key,
                kind="report" if seq == 0 else "message",
                author="reporter" if reporter else "investigator",
                author_user_id=None if reporter else world.users["anna"],
                content=_report_content("å" * 2000)
                if seq == 0
                else {"text": f"Meddelande {seq}: " + "å" * 400},
            )
        return case.id


def build(url: str, keys_dir: Path, *, count: int, params: crypto.Argon2Params) -> World:
    """Migrate an empty database at ``url`` and fill it; keys are created in ``keys_dir``."""
    db.migrate(url)
    base = db.make_engine(url)
    try:
        keys = load_keys(keys_dir, create=True)
        engine = audit.keyed(base, keys)  # seeding records audit entries (four eyes)
        world = make_world(engine, params, keys.password_key)
        seed_cases(engine, world, count)
        long_case = seed_long_case(engine, world, 200)
        if engine.dialect.name == "postgresql":
            # A live database has statistics from autovacuum; a freshly loaded one has none yet.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        return World(**{**asdict(world), "cases": count + 1, "long_case_id": long_case})
    finally:
        base.dispose()


@dataclass(frozen=True)
class Seeded:
    url: str
    keys_dir: Path
    data_dir: Path
    world: World
    seconds: float  # time spent seeding now (0 when reused from the cache)


def _load_marker(path: Path) -> World | None:
    try:
        return World(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def sqlite_db(count: int, params: crypto.Argon2Params) -> Seeded:
    """A seeded SQLite file, cached in bench/results/ per schema revision and size."""
    home = RESULTS / f"sqlite-{schema_revision()}-s{SEED_VERSION}-{count}"
    marker = home / "world.json"
    world = _load_marker(marker)
    url = f"sqlite:///{home / 'data' / 'whistle.db'}"
    if world is not None:
        return _sqlite_copy(Seeded(url, home / "keys", home / "data", world, 0.0), count)
    started = time.perf_counter()
    building = home.with_name(home.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    (building / "data").mkdir(parents=True)
    world = build(
        f"sqlite:///{building / 'data' / 'whistle.db'}",
        building / "keys",
        count=count,
        params=params,
    )
    (building / "world.json").write_text(json.dumps(asdict(world)))
    shutil.rmtree(home, ignore_errors=True)
    building.rename(home)  # only a finished seed is ever found in the cache
    for stale in RESULTS.glob(f"sqlite-*-{count}"):
        if stale != home:  # seeded under an older schema: never used again
            shutil.rmtree(stale, ignore_errors=True)
    seconds = time.perf_counter() - started
    return _sqlite_copy(Seeded(url, home / "keys", home / "data", world, seconds), count)


def _sqlite_copy(cached: Seeded, count: int) -> Seeded:
    """A copy of the cached database for this run: every run starts from the same state (the
    case page appends to the audit log on every view, and sessions accumulate)."""
    work = RESULTS / "run" / f"sqlite-{count}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    shutil.copy2(cached.data_dir / "whistle.db", work / "data" / "whistle.db")
    shutil.copytree(cached.keys_dir, work / "keys")
    url = f"sqlite:///{work / 'data' / 'whistle.db'}"
    return Seeded(url, work / "keys", work / "data", cached.world, cached.seconds)


def _pg_matches(url: str, world: World) -> bool:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            anna = session.exec(select(User).where(User.username == "anna")).first()
            total = session.exec(text("SELECT count(*) FROM cases")).one()  # type: ignore[call-overload]
        return anna is not None and anna.id == world.users["anna"] and total[0] == world.cases
    except Exception:  # a half-made or foreign database: rebuild it
        return False
    finally:
        engine.dispose()


def postgres_db(server: str, name: str, count: int, params: crypto.Argon2Params) -> Seeded:
    """A fresh copy ``name`` of a seeded template database ``<name>_seed``, which is reused while
    it is intact. Never the tests' database; each run starts from the same state."""
    import psycopg

    if name in {"test", "postgres"}:
        raise ValueError("the bench never touches the tests' or the maintenance database")
    template = f"{name}_seed"
    template_url = f"postgresql+psycopg://{server}/{template}"
    home = RESULTS / f"pg-{template}-{schema_revision()}-s{SEED_VERSION}-{count}"
    world = _load_marker(home / "world.json")
    started = time.perf_counter()
    admin = f"postgresql://{server}/postgres"
    if world is None or not _pg_matches(template_url, world):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}"')  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{template}"')  # type: ignore[arg-type]
        for stale in RESULTS.glob(f"pg-{template}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        (home / "data").mkdir(parents=True)
        world = build(template_url, home / "keys", count=count, params=params)
        (home / "world.json").write_text(json.dumps(asdict(world)))
    seconds = time.perf_counter() - started
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')  # type: ignore[arg-type]
    url = f"postgresql+psycopg://{server}/{name}"
    return Seeded(url, home / "keys", home / "data", world, seconds)


def postgres_reachable(server: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(f"postgresql://{server}/postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False
