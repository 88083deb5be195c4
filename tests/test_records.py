"""Public-sector records (issue 13): unit types, register entries without gaps under concurrent
submissions, nothing of the report or the sender in the register, secrecy markings."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from tests.helpers import CHEAP_ARGON2, World
from whistle import audit, case_codes, cases, crypto, db, records, reports
from whistle.keys import Keys
from whistle.models import Case, CaseItem, ItemMarking, RegisterCounter, RegisterEntry, Unit
from whistle.settings import Settings, SettingsError

CONFIG = records.RecordsConfig()
MARKERS = ("MARKER-WHAT", "MARKER-WHO", "MARKER-NAME", "MARKER-CONTACT", "Mutor", "Bribery")


def set_unit_type(engine: Engine, unit_id: int, org_type: str | None) -> None:
    with db.session_scope(engine) as s:
        unit = s.get(Unit, unit_id)
        assert unit is not None
        unit.org_type = org_type
        s.add(unit)


def access() -> crypto.CaseAccess:
    return crypto.derive_case_access(case_codes.generate(), b"p" * 32, CHEAP_ARGON2)


def file(
    engine: Engine,
    keys: Keys,
    world: World,
    *,
    config: records.RecordsConfig = CONFIG,
    now: dt.datetime | None = None,
    named: bool = True,
) -> str:
    report = reports.ReportInput(
        category_id=world.bribery,
        unit_id=world.unit,
        what="MARKER-WHAT",
        who="MARKER-WHO",
        anonymous=not named,
        name="MARKER-NAME" if named else "",
        contact="MARKER-CONTACT" if named else "",
    )
    code_access = access()  # derived before the transaction, as the web layer does
    with db.session_scope(engine) as s:
        return reports.submit(
            s, report=report, access=code_access, keys=keys, now=now, records_config=config
        )


def entries(engine: Engine) -> list[RegisterEntry]:
    with Session(engine) as s:
        return list(s.exec(select(RegisterEntry).order_by(RegisterEntry.year, RegisterEntry.seq)))


# --- unit type -------------------------------------------------------------------------------


def test_unit_type_follows_the_unit_then_the_deployment() -> None:
    public, private, unset = (
        Unit(name_sv="x", name_en="x", org_type=t) for t in ("public", "private", None)
    )
    assert records.unit_type(public, default="private") == "public"
    assert records.unit_type(private, default="public") == "private"
    assert records.unit_type(unset, default="public") == "public"
    assert records.unit_type(None, default="private") == "private"
    assert records.unit_type(unset, default="") == ""


def test_a_private_unit_gets_no_register_entry(engine: Engine, keys: Keys, world: World) -> None:
    set_unit_type(engine, world.unit, "private")
    file(engine, keys, world, config=records.RecordsConfig(default_type="public"))
    assert entries(engine) == []


def test_the_deployment_default_makes_a_unit_public(
    engine: Engine, keys: Keys, world: World
) -> None:
    file(engine, keys, world)  # no type anywhere: not registered
    file(engine, keys, world, config=records.RecordsConfig(default_type="public"))
    assert [e.seq for e in entries(engine)] == [1]


# --- the register entry ----------------------------------------------------------------------


def test_register_entry_of_a_public_case(engine: Engine, keys: Keys, world: World) -> None:
    set_unit_type(engine, world.unit, "public")
    # 23:30 UTC on New Year's Eve is already 1 January in Sweden: the year is Sweden's.
    case_id = file(engine, keys, world, now=dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC))
    second = file(engine, keys, world, now=dt.datetime(2027, 1, 2, 9, 0, tzinfo=dt.UTC))
    with Session(engine) as s:
        entry = records.register_entry(s, case_id=case_id)
        assert entry is not None
        assert (entry.number, entry.year, entry.seq) == ("VB 2027/1", 2027, 1)
        assert entry.received_on == dt.date(2027, 1, 1)
        assert entry.unit_id == world.unit
        assert entry.title == ""
        assert entry.marking == "Sekretess enligt 32 kap. 3 b § OSL"
        other = records.register_entry(s, case_id=second)
        assert other is not None
        assert other.number == "VB 2027/2"
        # The number is neither the case code's lookup id nor the case id.
        case = s.get(Case, case_id)
        assert case is not None
        assert entry.number not in (case.id, case.lookup_id.hex())


def test_sequence_restarts_each_year(engine: Engine, keys: Keys, world: World) -> None:
    set_unit_type(engine, world.unit, "public")
    config = records.RecordsConfig(register_format="KS-{year}-{seq:04d}")
    for day in ("2026-05-01", "2026-06-01", "2027-01-10"):
        moment = dt.datetime.fromisoformat(day + "T10:00:00+00:00")
        file(engine, keys, world, config=config, now=moment)
    assert [e.number for e in entries(engine)] == ["KS-2026-0001", "KS-2026-0002", "KS-2027-0001"]


def test_register_holds_nothing_of_the_report_or_the_sender(
    engine: Engine, keys: Keys, world: World
) -> None:
    set_unit_type(engine, world.unit, "public")
    file(engine, keys, world, named=True)
    year = entries(engine)[0].year
    with Session(engine) as s:
        dump = repr(
            [
                tuple(row)
                for table in ("register_entries", "register_counters", "item_markings")
                for row in s.execute(text(f"SELECT * FROM {table}")).all()
            ]
        )
        rows = records.register_rows(s, year=year)
    csv_text = records.to_csv(rows, headers=["a"] * 6, default_title="T", locale="sv")
    for marker in MARKERS:
        assert marker not in dump, marker
        assert marker not in csv_text, marker
    assert "VB " in csv_text
    assert "Förvaltning Norr" in csv_text


def test_a_failed_submission_leaves_no_number_behind(
    engine: Engine, keys: Keys, world: World
) -> None:
    set_unit_type(engine, world.unit, "public")
    file(engine, keys, world)
    report = reports.ReportInput(category_id=world.bribery, unit_id=world.unit, what="x")

    def fail_after_the_entry() -> None:
        with db.session_scope(engine) as s:
            reports.submit(s, report=report, access=access(), keys=keys, records_config=CONFIG)
            raise RuntimeError("the request failed after the entry was written")

    with pytest.raises(RuntimeError, match="the request failed"):
        fail_after_the_entry()
    file(engine, keys, world)
    assert [e.seq for e in entries(engine)] == [1, 2]


def test_twenty_concurrent_submissions_get_gap_free_unique_numbers(
    engine: Engine, keys: Keys, world: World
) -> None:
    """Real threads, each with its own session and transaction, all released at once."""
    set_unit_type(engine, world.unit, "public")
    n = 20
    derived = [access() for _ in range(n)]
    start = threading.Barrier(n)
    errors: list[BaseException] = []
    report = reports.ReportInput(category_id=world.bribery, unit_id=world.unit, what="x")

    def submit(i: int) -> None:
        try:
            start.wait()
            with db.session_scope(engine) as s:
                reports.submit(
                    s, report=report, access=derived[i], keys=keys, records_config=CONFIG
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    found = entries(engine)
    assert sorted(e.seq for e in found) == list(range(1, n + 1))
    assert len({e.number for e in found}) == n
    assert len({e.case_id for e in found}) == n
    with Session(engine) as s:
        counter = s.get(RegisterCounter, found[0].year)
        assert counter is not None
        assert counter.last_seq == n


# --- markings --------------------------------------------------------------------------------


def _key(engine: Engine, keys: Keys, user: str) -> bytes:
    from whistle import accounts

    with Session(engine) as s:
        return accounts.authenticate(
            s,
            username=user,
            password="correct horse battery staple",
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        ).private_key


def test_every_item_is_marked_by_default_and_an_investigator_changes_one(
    engine: Engine, keys: Keys, world: World
) -> None:
    set_unit_type(engine, world.unit, "public")
    case_id = file(engine, keys, world)
    anna = _key(engine, keys, "anna")
    with Session(engine) as s:
        items = list(s.exec(select(CaseItem).where(CaseItem.case_id == case_id)))
        marked = records.markings(s, case_id=case_id)
    assert set(marked) == {i.id for i in items}
    assert len(items) == 2
    assert all(
        m.is_default and m.ground.startswith("Sekretess enligt 32 kap. 3 b §")
        for m in marked.values()
    )
    identity = next(i for i in items if i.kind == "identity")
    report = next(i for i in items if i.kind == "report")
    at = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)
    with db.session_scope(engine) as s:
        records.set_marking(
            s,
            case_id=case_id,
            user_id=world.anna,
            private_key=anna,
            item_id=report.id,
            ground="Sekretess enligt 39 kap. 3 § OSL",
            config=CONFIG,
            now=at,
        )
    with db.session_scope(engine) as s:
        records.set_marking(
            s,
            case_id=case_id,
            user_id=world.anna,
            private_key=anna,
            item_id=report.id,
            ground=records.NOT_SECRET,
            config=CONFIG,
        )
    with Session(engine) as s:
        marked = records.markings(s, case_id=case_id)
        history = list(s.exec(select(ItemMarking).order_by(ItemMarking.id)))
        actions = [e.action for e in audit.for_case(s, case_id=case_id)]
    assert marked[report.id].ground == ""
    assert marked[report.id].marked_by == world.anna
    assert marked[identity.id].is_default
    assert [h.ground for h in history] == ["Sekretess enligt 39 kap. 3 § OSL", ""]
    assert history[0].marked_at.replace(tzinfo=dt.UTC) == at
    assert actions.count("marking_changed") == 2


def test_only_a_holder_marks_and_only_with_a_listed_ground(
    engine: Engine, keys: Keys, world: World
) -> None:
    set_unit_type(engine, world.unit, "public")
    case_id = file(engine, keys, world)
    other_case = file(engine, keys, world)
    with Session(engine) as s:
        item_id = s.exec(select(CaseItem.id).where(CaseItem.case_id == case_id)).first()
        foreign = s.exec(select(CaseItem.id).where(CaseItem.case_id == other_case)).first()
    assert item_id
    assert foreign
    carl, anna = _key(engine, keys, "carl"), _key(engine, keys, "anna")
    attempts = [
        (world.carl, carl, item_id, records.GROUNDS[0], cases.CaseNotFound),  # not a holder
        (world.anna, anna, item_id, "MARKER-WHO is the suspect", records.RecordsError),
        (world.anna, anna, foreign, records.GROUNDS[0], records.RecordsError),
    ]
    for user_id, key, target, ground, error in attempts:
        with pytest.raises(error), db.session_scope(engine) as s:
            records.set_marking(
                s,
                case_id=case_id,
                user_id=user_id,
                private_key=key,
                item_id=target,
                ground=ground,
                config=CONFIG,
            )
    with Session(engine) as s:
        assert s.exec(select(ItemMarking)).first() is None


def test_a_case_outside_the_register_has_no_markings(
    engine: Engine, keys: Keys, world: World
) -> None:
    case_id = file(engine, keys, world)
    with Session(engine) as s:
        assert records.markings(s, case_id=case_id) == {}
        assert records.register_entry(s, case_id=case_id) is None


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "VB {seq}",
        "VB {year}",
        "{year}/{seq}/{case}",
        "{year}/{seq",
        "{year}/{0}",
        "x" * 70 + "{year}{seq}",
    ],
)
def test_a_register_format_that_could_repeat_or_break_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="WHISTLE_REGISTER_FORMAT"):
        Settings.from_env({"WHISTLE_REGISTER_FORMAT": value})


def test_register_settings_are_read(settings: Settings) -> None:
    loaded = Settings.from_env(
        {
            "WHISTLE_REGISTER_FORMAT": "Dnr {year}-{seq:03d}",
            "WHISTLE_SECRECY_GROUND": "Sekretess enligt 39 kap. 3 § OSL",
            "WHISTLE_RETENTION_POLICY": "public",
        }
    )
    config = records.RecordsConfig.from_settings(loaded)
    assert config.register_format.format(year=2026, seq=7) == "Dnr 2026-007"
    assert config.default_type == "public"
    assert config.grounds()[0] == "Sekretess enligt 39 kap. 3 § OSL"
    assert len(config.grounds()) == len(set(config.grounds()))
