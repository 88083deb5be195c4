"""Retention per unit type (issue 13): each case follows its unit's type, the deployment's
setting is only the default, a unit without either is never guessed, and the register entry of
a disposed-of case stays."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from tests.helpers import World
from tests.test_retention import TODAY, TWO_YEARS_AGO, file_case, rows_mentioning, run
from whistle import db, records, retention
from whistle.keys import Keys
from whistle.models import Case, RegisterEntry, Unit
from whistle.settings import Settings

OLD = TWO_YEARS_AGO - dt.timedelta(days=1)


def _case_in(engine: Engine, keys: Keys, world: World, settings: Settings, unit_id: int) -> str:
    filed = file_case(engine, keys, world, settings, closed=OLD)
    with db.session_scope(engine) as s:
        case = s.get(Case, filed.id)
        assert case is not None
        case.unit_id = unit_id
        s.add(case)
        unit = s.get(Unit, unit_id)
        if unit is not None and unit.org_type == "public":  # as submit would have registered it
            records.register(s, case=case, config=records.RecordsConfig())
    return filed.id


@pytest.fixture
def units(engine: Engine, world: World) -> dict[str, int]:
    with db.session_scope(engine) as s:
        made = {
            "public": Unit(
                name_sv="Kommunen",
                name_en="Municipality",
                org_type="public",
                disposal_reference="KS 2024/117 § 5",
            ),
            "private": Unit(name_sv="Bolaget AB", name_en="Company Ltd", org_type="private"),
            "untyped": s.get(Unit, world.unit),
        }
        s.add_all([u for u in made.values() if u is not None])
        s.flush()
        return {name: u.id for name, u in made.items() if u is not None and u.id is not None}


def test_each_case_follows_its_units_type(
    engine: Engine, keys: Keys, world: World, settings: Settings, units: dict[str, int]
) -> None:
    ids = {name: _case_in(engine, keys, world, settings, unit) for name, unit in units.items()}
    report = run(engine, settings, policy="", disposal="archive")  # no deployment default
    by_policy = {a.policy: a for a in report.actions}
    assert set(by_policy) == {"public", "private"}
    assert report.skipped == 1
    assert by_policy["private"].action == "deleted"
    assert by_policy["public"].action == "personal_data_removed"
    assert by_policy["public"].disposal_reference == "KS 2024/117 § 5"
    assert any("under KS 2024/117 § 5" in line for line in report.lines())
    assert any("1 cases skipped" in line for line in report.lines())
    with Session(engine) as s:
        assert s.get(Case, ids["untyped"]) is not None  # never guessed
        assert s.get(Case, ids["private"]) is None
        assert s.get(Case, ids["public"]) is not None
    # With a default, the untyped unit follows it.
    report = run(engine, settings, policy="private", disposal="archive")
    assert [a.policy for a in report.actions] == ["private"]
    assert report.skipped == 0


def test_disposal_keeps_the_register_entry_without_the_case(
    engine: Engine, keys: Keys, world: World, settings: Settings, units: dict[str, int]
) -> None:
    case_id = _case_in(engine, keys, world, settings, units["public"])
    with Session(engine) as s:
        number = s.exec(select(RegisterEntry.number)).one()
    report = run(engine, settings, policy="", disposal="dispose")
    assert [a.action for a in report.actions] == ["deleted"]
    assert rows_mentioning(engine, case_id) == {}
    with Session(engine) as s:
        entry = s.exec(select(RegisterEntry)).scalars().one()
        assert (entry.number, entry.case_id, entry.disposed_on) == (number[0], None, TODAY)


def test_without_any_type_retention_still_refuses(engine: Engine, settings: Settings) -> None:
    with pytest.raises(retention.RetentionError, match="policy-not-set"):
        run(engine, settings, policy="")
