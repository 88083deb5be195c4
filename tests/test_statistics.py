"""Board statistics (L25): counts, medians, deadline misses, and small-cell suppression that no
subtraction undoes. The web page and its CSV show the same numbers."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import random
import re
from collections.abc import Callable
from fractions import Fraction

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.helpers import World, login_staff
from whistle import crypto, db, deadlines, statistics
from whistle.models import Case
from whistle.statistics import Period, Table
from whistle.web.statistics import SUPPRESSED

TODAY = dt.date(2026, 6, 15)
YEAR = Period("year", 2026)


def make_case(engine: Engine, *, received: dt.date, **fields: object) -> str:
    """A case row with only its metadata: statistics never need more (the wrap is junk)."""
    with db.session_scope(engine) as s:
        case = Case(
            lookup_id=crypto.random_key(),
            received_on=received,
            ack_due=deadlines.ack_due(received),
            feedback_due=deadlines.feedback_due(received, None),
            reporter_wrap=b"not a wrap",
        )
        for name, value in fields.items():
            setattr(case, name, value)
        s.add(case)
        s.flush()
        return case.id


def compute(engine: Engine, *, threshold: int = 5, period: Period = YEAR) -> statistics.Statistics:
    with db.session_scope(engine) as s:
        return statistics.compute(s, period=period, threshold=threshold, today=TODAY)


# --- the attack -----------------------------------------------------------------------------


def recompute(tables: list[Table]) -> dict[tuple[str, str], int]:
    """Every hidden cell an outsider can work out from what is shown: the total minus the shown
    cells of the same table, with the total taken from any table that shows it (several tables
    split the same cases) or, failing that, from a table whose cells are all shown."""
    found: dict[tuple[str, str], int] = {}
    shared = [t for t in tables if t.name != "outcome"]
    known_total = next((t.total for t in shared if t.total is not None), None)
    if known_total is None:
        full = [t for t in shared if all(c.value is not None for c in t.cells)]
        known_total = sum(c.value or 0 for c in full[0].cells) if full else None
    for table in tables:
        total = table.total if table.total is not None else None
        if total is None and table.name != "outcome":
            total = known_total
        hidden = [c for c in table.cells if c.value is None]
        if total is not None and len(hidden) == 1:
            found[(table.name, hidden[0].key)] = total - sum(c.value or 0 for c in table.cells)
    return found


def assert_safe(tables: list[Table], threshold: int) -> None:
    for table in tables:
        for cell in table.cells:
            assert cell.value is None or cell.value == 0 or cell.value >= threshold, (table, cell)
        assert table.total is None or table.total == 0 or table.total >= threshold
        if table.total is None:
            assert all(c.value is None for c in table.cells)
    assert recompute(tables) == {}


def test_a_single_small_cell_takes_the_next_smallest_with_it() -> None:
    table = statistics.suppress("unit", [("a", 3), ("b", 10), ("c", 7), ("d", 8)], threshold=5)
    assert [c.value for c in table.cells] == [None, 10, None, 8]
    assert table.total == 28
    # Without the complementary cell, the attack would find a = 28 - 10 - 7 - 8 = 3.
    cells = [statistics.Cell("a", None), statistics.Cell("b", 10)]
    cells += [statistics.Cell("c", 7), statistics.Cell("d", 8)]
    naive = Table("unit", tuple(cells), 28)
    assert recompute([naive]) == {("unit", "a"): 3}
    assert recompute([table]) == {}


def test_a_zero_is_shown_but_can_be_the_complement() -> None:
    table = statistics.suppress("unit", [("a", 2), ("b", 0), ("c", 9)], threshold=5)
    assert [c.value for c in table.cells] == [None, None, 9]
    shown = statistics.suppress("unit", [("a", 0), ("b", 5), ("c", 9)], threshold=5)
    assert [c.value for c in shown.cells] == [0, 5, 9]
    assert shown.total == 14


def test_a_small_total_hides_the_whole_table() -> None:
    table = statistics.suppress("channel", [("web", 3), ("oral", 0)], threshold=5)
    assert table.total is None
    assert all(c.value is None for c in table.cells)
    one = statistics.suppress("identity", [("anonymous", 7)], threshold=5)
    assert one.total == 7
    assert one.cells[0].value == 7


@pytest.mark.parametrize("threshold", [2, 3, 5, 10])
def test_no_random_table_gives_a_hidden_cell_back(threshold: int) -> None:
    rng = random.Random(threshold)
    for _ in range(2000):
        n = rng.randint(0, 60)
        tables = []
        for name, width in (("unit", rng.randint(1, 6)), ("channel", 2), ("identity", 2)):
            cuts = sorted(rng.randint(0, n) for _ in range(width - 1))
            parts = [b - a for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
            counts = [(f"k{i}", v) for i, v in enumerate(parts)]
            tables.append(statistics.suppress(name, counts, threshold=threshold))
        assert_safe(tables, threshold)


def test_medians_need_the_threshold_number_of_cases() -> None:
    assert statistics.median([1, 2, 3, 4], threshold=5).days is None
    assert statistics.median([1, 2, 3, 4, 30], threshold=5).days == 3
    assert statistics.median([1, 2, 3, 4, 5, 30], threshold=5).days == 3.5
    assert statistics.median([], threshold=1).days is None


def test_deadline_states() -> None:
    due = dt.date(2026, 3, 8)

    def ack(
        acknowledged: dt.date | None,
        *,
        withheld: bool = False,
        closed: dt.date | None = None,
        today: dt.date = TODAY,
    ) -> str:
        return statistics.ack_state(
            waived=False,
            withheld=withheld,
            acknowledged_on=acknowledged,
            due=due,
            closed_on=closed,
            today=today,
        )

    assert ack(due) == "on_time"
    assert ack(due + dt.timedelta(days=1)) == "late"
    assert ack(None) == "late"  # never, and the day has passed: a miss
    assert ack(None, today=due) == "not_due"
    assert ack(None, withheld=True) == "exempt"
    assert ack(None, closed=due - dt.timedelta(days=2)) == "not_due"
    assert ack(None, closed=due + dt.timedelta(days=2)) == "late"
    feedback = statistics.feedback_state
    assert feedback(given_on=None, due=due, closed_on=None, today=TODAY) == "late"
    assert feedback(given_on=None, due=TODAY, closed_on=None, today=TODAY) == "not_due"
    assert feedback(given_on=due, due=due, closed_on=None, today=TODAY) == "on_time"


def _spread(engine: Engine, world: World) -> None:
    """14 cases in 2026 (and one in 2025 that must not count)."""
    received = dt.date(2026, 2, 2)
    for i in range(10):  # bribery, the unit, web, anonymous, acknowledged on day i
        make_case(
            engine,
            received=received,
            category_id=world.bribery,
            unit_id=world.unit,
            acknowledged_on=received + dt.timedelta(days=i),
            feedback_given_on=received + dt.timedelta(days=30 + i),
            status="closed",
            closed_on=received + dt.timedelta(days=40),
            outcome="substantiated" if i < 7 else "referred",
        )
    for i in range(4):  # other, no unit, oral, named: the small groups
        make_case(
            engine,
            received=dt.date(2026, 5, 20),
            category_id=world.other,
            channel="oral",
            identity_given=True,
            ack_waived=i == 0,
        )
    make_case(engine, received=dt.date(2025, 12, 31), category_id=world.other)


def test_counts_from_metadata_with_suppression(engine: Engine, world: World) -> None:
    _spread(engine, world)
    data = compute(engine)
    units = {c.key: c.value for c in data.table("unit").cells}
    # 10 in the unit, 4 without: the 4 is hidden and so is the only other cell.
    assert units == {str(world.unit): None, "none": None}
    assert data.table("unit").total == 14
    assert {c.key: c.value for c in data.table("category").cells} == {
        str(world.bribery): 10,
        str(world.other): None,
        "none": None,  # the next-smallest, a zero: otherwise 14 - 10 - 0 gives the 4 back
    }
    assert {c.key: c.value for c in data.table("channel").cells} == {"web": None, "oral": None}
    ack = {c.key: c.value for c in data.table("acknowledgement").cells}
    # Days 0..7 on time (8), days 8, 9 late (2), 1 waived, 3 open past 27 May: late too.
    assert ack["on_time"] == 8
    assert ack["late"] == 5
    assert ack["exempt"] is None
    outcomes = {c.key: c.value for c in data.table("outcome").cells}
    assert outcomes["substantiated"] == 7
    assert outcomes["referred"] is None
    assert data.table("outcome").total == 10
    assert data.ack_median.days == 4.5  # 0..9
    assert data.feedback_median.days == 34.5
    assert_safe(list(data.tables), 5)
    # A higher threshold hides the medians too.
    hidden = compute(engine, threshold=11)
    assert hidden.ack_median.days is None
    assert hidden.table("unit").total == 14
    assert all(c.value is None for c in hidden.table("unit").cells)
    assert_safe(list(hidden.tables), 11)


def test_only_fixed_periods_exist(engine: Engine, world: World) -> None:
    quarter = Period.parse("2026-Q2")
    assert (quarter.start, quarter.end) == (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    assert Period.parse("2026-02").end == dt.date(2026, 2, 28)
    assert Period.parse("2026") == YEAR
    assert YEAR.token() == "2026"
    assert [p.token() for p in quarter.children()] == ["2026-04", "2026-05", "2026-06"]
    assert len(YEAR.family()) == 17
    assert Period.parse("2026-07").family() == YEAR.family()
    bad = ["", "2026-Q5", "2026-13", "2026-1", "2026-01-01", "26", "２０２６", "2026-Q²", "9999"]
    for text in bad:
        with pytest.raises(statistics.PeriodError):
            Period.parse(text)
    _spread(engine, world)
    assert compute(engine, period=Period.parse("2026-02")).table("channel").total == 10
    assert compute(engine, period=Period.parse("2026-Q1")).table("channel").total == 10
    # May's 4 stay hidden in every period that could give them back (the year minus Q1...).
    assert compute(engine, period=Period.parse("2026-05")).table("channel").total is None
    assert compute(engine, period=Period.parse("2026-Q2")).table("channel").total is None


# --- the page and the CSV ---------------------------------------------------------------------


def _html_cells(text: str) -> dict[str, str]:
    cells = re.findall(r'data-cell="([^"]+)">(.*?)</(?:td|dd)>', text, flags=re.S)
    return {key: html.unescape(re.sub(r"<[^>]+>", "", value)).strip() for key, value in cells}


def _csv_cells(text: str) -> dict[str, str]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {f"{r['section']}:{r['key']}": r["value"] for r in rows if r["section"] != "period"}


def test_page_and_csv_agree(
    engine: Engine, world: World, new_client: Callable[[], TestClient]
) -> None:
    _spread(engine, world)
    admin = new_client()
    login_staff(admin, "admin")
    query = "?period=2026"
    page = admin.get("/admin/statistics" + query)
    assert page.status_code == 200
    assert page.text.count('role="img"') == 7
    assert "<script" not in page.text
    assert '<title id="chart-unit-title">Ärenden per enhet</title>' in page.text
    download = admin.get("/admin/statistics.csv" + query)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    shown, exported = _html_cells(page.text), _csv_cells(download.text)
    assert set(shown) == set(exported)
    assert len(shown) > 30
    for key, value in exported.items():
        if value == SUPPRESSED:
            assert shown[key] == "dolt", key
        else:
            assert shown[key].replace(",", ".") == value, key
    assert exported["unit:none"] == "suppressed"
    assert exported["acknowledgement:on_time"] == "8"
    assert exported["median_days:acknowledgement"] == "4.5"
    bad = admin.get("/admin/statistics?period=2026-01-01")  # a free date: not a period
    assert bad.status_code == 400
    assert "Välj ett år, ett kvartal eller en månad." in bad.text
    assert admin.get("/admin/statistics.csv?period=yesterday").status_code == 400
    assert admin.get("/admin/statistics?period=9999").status_code == 400
    default = admin.get("/admin/statistics")
    this_year = deadlines.today().year
    assert default.status_code == 200
    assert f'value="{this_year}" selected' in default.text
    quarter = admin.get("/admin/statistics?period=2026-Q2")
    assert quarter.status_code == 200
    assert "Kvartal 2, 2026" in quarter.text


def test_csv_labels_cannot_become_formulas(
    engine: Engine, world: World, new_client: Callable[[], TestClient]
) -> None:
    from whistle.models import Unit

    with db.session_scope(engine) as s:
        unit = s.get(Unit, world.unit)
        assert unit is not None
        unit.name_sv = '=HYPERLINK("http://evil")'
        s.add(unit)
    admin = new_client()
    login_staff(admin, "admin")
    text = admin.get("/admin/statistics.csv").text
    assert "'=HYPERLINK" in text
    assert ',"=HYPERLINK' not in text


def test_few_cases_show_nothing_but_zeros_hidden_too(
    engine: Engine, world: World, new_client: Callable[[], TestClient]
) -> None:
    for day in range(1, 5):  # four cases: below the threshold of 5
        received = dt.date(2026, 3, day)
        make_case(engine, received=received, category_id=world.bribery, acknowledged_on=received)
    admin = new_client()
    login_staff(admin, "admin")
    query = "?period=2026"
    shown = _html_cells(admin.get("/admin/statistics" + query).text)
    exported = _csv_cells(admin.get("/admin/statistics.csv" + query).text)
    assert shown["median_days:acknowledgement"] == "dolt"
    assert set(exported.values()) == {SUPPRESSED, "0"}
    # Only the outcome table (no closed case) shows its zeros; every other cell is hidden.
    assert {k for k, v in exported.items() if v == "0"} == {
        k for k in exported if k.startswith("outcome:")
    }


# --- the overlapping-period attack --------------------------------------------------------------


def solvable(family: dict[str, dict[Period, Table]]) -> list[tuple[str, str, str]]:
    """An outsider's attack on every published table of one year: each sum the numbers obey
    (a total is its cells; a year is its quarters and its months; a quarter its months) is an
    equation in the hidden numbers. Dense Gauss-Jordan over the rationals, written apart from
    whistle.suppression so that it checks it. Returns the hidden numbers that are determined."""
    year = next(p for p in next(iter(family.values())) if p.kind == "year")
    quarters = year.children()
    months = [m for q in quarters for m in q.children()]
    sums = [(year, quarters), (year, months), *((q, q.children()) for q in quarters)]

    def slot(name: str, p: Period, key: str) -> tuple[str, str, str]:
        shared = key == "total" and name != "outcome"
        return ("*" if shared else name, p.token(), key)

    def number(name: str, p: Period, key: str) -> int | None:
        table = family[name][p]
        if key == "total":
            return table.total
        return next(c.value for c in table.cells if c.key == key)

    equations: list[dict[tuple[str, str, str], Fraction]] = []
    for name, tables in family.items():
        keys = [c.key for c in tables[year].cells]

        def equation(terms: list[tuple[int, Period, str]], name: str = name) -> None:
            row: dict[tuple[str, str, str], Fraction] = {}
            for sign, p, key in terms:
                if number(name, p, key) is None:
                    s = slot(name, p, key)
                    row[s] = row.get(s, Fraction(0)) + sign
            if any(row.values()):
                equations.append(row)

        for p in tables:
            equation([(1, p, "total"), *((-1, p, k) for k in keys)])
        for whole, parts in sums:
            for key in [*keys, "total"]:
                equation([(1, whole, key), *((-1, part, key) for part in parts)])
    unknowns = sorted({s for row in equations for s in row})
    matrix = [[row.get(u, Fraction(0)) for u in unknowns] for row in equations]
    rank = 0
    for column in range(len(unknowns)):
        pivot = next((r for r in range(rank, len(matrix)) if matrix[r][column]), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        lead = matrix[rank][column]
        matrix[rank] = [x / lead for x in matrix[rank]]
        for r in range(len(matrix)):
            if r != rank and matrix[r][column]:
                factor = matrix[r][column]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        rank += 1
    return [
        unknowns[row.index(next(x for x in row if x))]
        for row in matrix[:rank]
        if sum(1 for x in row if x) == 1
    ]


def year_of_cases(cases: list[tuple[int, dict[str, str]]], keys: dict[str, list[str]]) -> dict:
    family = Period("year", 2026).family()
    return {
        name: {
            p: [(k, sum(1 for m, c in cases if m in p.months and c[name] == k)) for k in ks]
            for p in family
        }
        for name, ks in keys.items()
    }


def test_one_case_in_july_is_not_given_back_by_the_quarter_or_the_year(
    engine: Engine, world: World
) -> None:
    # The review's attack: January-June against January-July gave July's one case. Free ranges
    # are gone; what is left to compare are the fixed periods around July.
    for month, count in ((1, 6), (2, 5), (3, 7), (4, 6), (5, 5), (6, 8), (8, 6), (9, 5)):
        for day in range(1, count + 1):
            make_case(engine, received=dt.date(2026, month, day), unit_id=world.unit)
    make_case(engine, received=dt.date(2026, 7, 15), category_id=world.other, channel="oral")
    family = {}
    for p in Period("year", 2026).family():
        data = compute(engine, period=p)
        for table in data.tables:
            family.setdefault(table.name, {})[p] = table
    july = family["channel"][Period.parse("2026-07")]
    assert july.total is None
    assert all(c.value is None for c in july.cells)
    assert family["channel"][Period.parse("2026")].total == 49  # the year is still shown
    assert solvable(family) == []


@pytest.mark.parametrize("seed", range(6))
def test_no_random_year_gives_a_hidden_number_back(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(15):
        threshold = rng.choice([2, 3, 5])
        keys = {"unit": [f"u{i}" for i in range(rng.randint(1, 4))], "channel": ["web", "oral"]}
        cases = [
            (month, {name: rng.choice(ks) for name, ks in keys.items()})
            for month in range(1, 13)
            for _ in range(rng.choice([0, 0, 1, 2, 3, 5, 8]))
        ]
        family = statistics._suppress_all(year_of_cases(cases, keys), threshold=threshold)
        assert solvable(family) == [], (seed, threshold, cases)
        for tables in family.values():
            for table in tables.values():
                for cell in [*table.cells, statistics.Cell("total", table.total)]:
                    assert cell.value is None or cell.value == 0 or cell.value >= threshold


def test_the_attack_finds_what_tables_suppressed_one_by_one_give_away() -> None:
    # Unit b has one case in July and five in August and in September: each table on its own
    # hides July's 1, but the third quarter's 11 minus August's and September's 5 gives it back.
    keys = {"unit": ["a", "b"], "channel": ["web"]}
    cases = [(m, {"unit": "a", "channel": "web"}) for m in range(1, 13) for _ in range(6)]
    cases += [
        (m, {"unit": "b", "channel": "web"}) for m, n in ((7, 1), (8, 5), (9, 5)) for _ in range(n)
    ]
    counts = year_of_cases(cases, keys)
    one_by_one = {
        name: {p: statistics.suppress(name, c, threshold=5) for p, c in by_period.items()}
        for name, by_period in counts.items()
    }
    assert ("unit", "2026-07", "b") in solvable(one_by_one)
    assert solvable(statistics._suppress_all(counts, threshold=5)) == []
