"""whistle.attempts: failure counters per fixed time window, shared through the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select
from sqlmodel import Session

from tests.helpers import CHEAP_ARGON2, World
from whistle import attempts, case_codes, crypto, db, reports, sessions
from whistle.keys import Keys
from whistle.models import RateCounter

T0 = dt.datetime(2027, 3, 1, 9, 0, 0, tzinfo=dt.UTC)  # on a minute boundary


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_count_and_record_within_one_window(engine: Engine) -> None:
    with Session(engine) as db:
        assert attempts.count(db, "case-code", seconds=60, now=_at(0)) == 0
        assert attempts.record(db, "case-code", seconds=60, now=_at(0)) == 1
        assert attempts.record(db, "case-code", seconds=60, now=_at(30)) == 2
        assert attempts.record(db, "case-code", seconds=60, now=_at(59.9)) == 3
        assert attempts.count(db, "case-code", seconds=60, now=_at(45)) == 3


def test_budgets_are_counted_separately(engine: Engine) -> None:
    with Session(engine) as db:
        attempts.record(db, "case-code", seconds=60, now=_at(1))
        attempts.record(db, "case-code-session:aa", seconds=600, now=_at(1))
        attempts.record(db, "case-code-session:aa", seconds=600, now=_at(2))
        assert attempts.count(db, "case-code", seconds=60, now=_at(3)) == 1
        assert attempts.count(db, "case-code-session:aa", seconds=600, now=_at(3)) == 2
        assert attempts.count(db, "case-code-session:bb", seconds=600, now=_at(3)) == 0


def test_windows_roll_over(engine: Engine) -> None:
    with Session(engine) as db:
        for _ in range(5):
            attempts.record(db, "case-code", seconds=60, now=_at(10))
        assert attempts.count(db, "case-code", seconds=60, now=_at(59)) == 5
        # A fixed window: the next minute starts from zero.
        assert attempts.count(db, "case-code", seconds=60, now=_at(60)) == 0
        assert attempts.record(db, "case-code", seconds=60, now=_at(61)) == 1
        assert attempts.count(db, "case-code", seconds=60, now=_at(119)) == 1
        assert attempts.count(db, "case-code", seconds=60, now=_at(120)) == 0


def test_windows_of_different_lengths_are_separate(engine: Engine) -> None:
    # T0 starts both a one-minute and a ten-minute window: they must not share a counter.
    with Session(engine) as db:
        for _ in range(5):
            attempts.record(db, "budget", seconds=60, now=_at(10))
        assert attempts.count(db, "budget", seconds=600, now=_at(10)) == 0
        assert attempts.record(db, "budget", seconds=600, now=_at(10)) == 1
        assert attempts.count(db, "budget", seconds=600, now=_at(599)) == 1
        assert attempts.count(db, "budget", seconds=600, now=_at(600)) == 0
        assert attempts.count(db, "budget", seconds=60, now=_at(11)) == 5


def test_counts_are_shared_across_database_sessions(engine: Engine) -> None:
    # Another replica (another connection) sees and adds to the same counter.
    for expected in (1, 2, 3):
        with Session(engine) as db:
            assert attempts.record(db, "case-code", seconds=60, now=_at(5)) == expected
            db.commit()
    with Session(engine) as db:
        assert attempts.count(db, "case-code", seconds=60, now=_at(6)) == 3


def test_purge_removes_only_old_windows(engine: Engine) -> None:
    with Session(engine) as db:
        attempts.record(db, "case-code", seconds=60, now=_at(0))
        attempts.record(db, "case-code", seconds=60, now=_at(3600))
        attempts.purge(db, older_than=dt.timedelta(minutes=30), now=_at(3600 + 30))
        db.flush()
        starts = sorted(row.window_start for row in db.exec(select(RateCounter)).scalars())
        assert [s.astimezone(dt.UTC) for s in starts] == [_at(3600)]
        assert attempts.count(db, "case-code", seconds=60, now=_at(3601)) == 1
        assert attempts.count(db, "case-code", seconds=60, now=_at(1)) == 0


def test_counter_keys_name_the_budget_and_window_only(engine: Engine) -> None:
    with Session(engine) as db:
        attempts.record(db, "case-code", seconds=60, now=_at(42))
        db.flush()
        keys = [row.key for row in db.exec(select(RateCounter)).scalars()]
    assert keys == [f"case-code/60@{int(T0.timestamp())}"]


# --- opening a case with a code (the browser's budget) ---------------------------------------


def _filed(engine: Engine, keys: Keys, world: World) -> tuple[str, crypto.CaseAccess]:
    code_access = crypto.derive_case_access(case_codes.generate(), keys.pepper, CHEAP_ARGON2)
    report = reports.ReportInput(category_id=world.bribery, unit_id=world.unit, what="x" * 20)
    with db.session_scope(engine) as s:
        case_id = reports.submit(s, report=report, access=code_access, keys=keys)
    return case_id, code_access


def test_a_right_code_opens_the_case_and_costs_nothing(
    world: World, engine: Engine, keys: Keys
) -> None:
    case_id, code_access = _filed(engine, keys, world)
    with db.session_scope(engine) as s:
        opened = attempts.open_case(
            s, access=code_access, browser_token="tok", lifetime=dt.timedelta(hours=2)
        )
    assert opened is not None
    assert not opened.handed_over
    with Session(engine) as s:
        loaded = sessions.load(s, opened.cookie, kind="reporter", idle=dt.timedelta(hours=1))
        assert loaded is not None
        assert loaded.case_id == case_id
        assert attempts.count(s, attempts.browser_budget_key("tok"), seconds=600) == 0


def test_wrong_codes_use_up_the_browsers_budget(world: World, engine: Engine, keys: Keys) -> None:
    _, right = _filed(engine, keys, world)
    limit = 3
    for _ in range(limit):
        wrong = crypto.derive_case_access(case_codes.generate(), keys.pepper, CHEAP_ARGON2)
        with db.session_scope(engine) as s:
            assert not attempts.case_code_refused(s, browser_token="tok", limit=limit)
            opened = attempts.open_case(
                s, access=wrong, browser_token="tok", lifetime=dt.timedelta(hours=2)
            )
            assert opened is None
    with Session(engine) as s:
        assert attempts.case_code_refused(s, browser_token="tok", limit=limit)
        # Another browser's budget is its own; the counter names a digest, not the token.
        assert not attempts.case_code_refused(s, browser_token="other", limit=limit)
        keys_stored = [row.key for row in s.exec(select(RateCounter)).scalars()]
        assert keys_stored
        assert not any("tok" in k.split(":", 1)[1] for k in keys_stored)
    with db.session_scope(engine) as s:  # the right code still opens once the caller allows it
        assert attempts.open_case(
            s, access=right, browser_token="tok", lifetime=dt.timedelta(hours=2)
        )
