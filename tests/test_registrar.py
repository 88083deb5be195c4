"""The registrar and the records on the web (issue 13): the register page, print and CSV in
Swedish and English with nothing of a report in them, the registrar's 404 on every case URL,
their account without keys, markings on the case page, unit types on the admin's page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.helpers import (
    CHEAP_ARGON2,
    PASSWORD,
    World,
    enrol_totp,
    login_reporter,
    login_staff,
    post,
    submit_report,
    totp_code,
)
from tests.test_cli import (
    LINK,
    env,  # noqa: F401 — the CLI's environment fixture
    run,
)
from tests.test_cli import _db as cli_db
from whistle import accounts, audit, db, deadlines
from whistle.keys import Keys
from whistle.models import AuditEntry, Case, CaseItem, ItemMarking, RegisterEntry, Unit, User
from whistle.settings import Settings

YEAR = deadlines.today().year
MARKERS = ("MARKER-WHAT", "MARKER-WHO", "MARKER-NAME", "MARKER-CONTACT", "Mutor", "Bribery")


def _public(engine: Engine, unit_id: int, reference: str = "") -> None:
    with db.session_scope(engine) as s:
        unit = s.get(Unit, unit_id)
        assert unit is not None
        unit.org_type, unit.disposal_reference = "public", reference
        s.add(unit)


def _registrar(engine: Engine, new_client: Callable[[], TestClient], keys: Keys) -> TestClient:
    with db.session_scope(engine) as s:
        accounts.create_active_user(
            s,
            username="rut",
            display_name="Rut R",
            role="registrar",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        enrol_totp(s, "rut", keys.password_key)
    browser = new_client()
    login_staff(browser, "rut")
    return browser


def _file(client: TestClient, world: World) -> str:
    return submit_report(
        client,
        world.bribery,
        unit=str(world.unit),
        what="MARKER-WHAT",
        who="MARKER-WHO",
        mode="confidential",
        name="MARKER-NAME",
        contact="MARKER-CONTACT",
    )


def _case_ids(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(Case.id).order_by(Case.id)))


def test_the_registrar_sees_the_register_and_nothing_else(
    world: World, engine: Engine, new_client: Callable[[], TestClient], keys: Keys
) -> None:
    _public(engine, world.unit)
    for _ in range(2):
        _file(new_client(), world)
    registrar = _registrar(engine, new_client, keys)
    page = registrar.get("/registrar")
    assert page.status_code == 200
    assert f"VB {YEAR}/1" in page.text
    assert f"VB {YEAR}/2" in page.text
    assert "Rapport till visselblåsarfunktionen" in page.text
    assert "Förvaltning Norr" in page.text
    assert "Sekretess enligt 32 kap. 3 b § OSL" in page.text
    printed = registrar.get(f"/registrar/print?year={YEAR}")
    assert printed.status_code == 200
    assert f"VB {YEAR}/2" in printed.text
    assert 'href="/registrar/register.csv' not in printed.text  # the printout has no controls
    sv = registrar.get(f"/registrar/register.csv?year={YEAR}")
    assert sv.status_code == 200
    assert sv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(sv.text)))
    assert rows[0][0] == "Diarienummer"
    assert [r[0] for r in rows[1:]] == [
        f"VB {YEAR}/1",
        f"VB {YEAR}/2",
    ]
    assert registrar.get("/lang/en").status_code == 303
    en = registrar.get(f"/registrar/register.csv?year={YEAR}").text
    assert en.startswith("Register number,")
    assert "Report to the whistleblowing function" in en
    assert "North Administration" in en
    english_page = registrar.get("/registrar").text
    assert "Register" in english_page
    assert "Report to the whistleblowing function" in english_page
    for text in (page.text, printed.text, sv.text, en, english_page):
        for marker in MARKERS:
            assert marker not in text, marker
    # Every case URL is a 404 for the registrar; so are the investigator's and admin's pages.
    for case_id in _case_ids(engine):
        assert registrar.get(f"/cases/{case_id}").status_code == 404
        assert post(registrar, f"/cases/{case_id}/marking", {"item_id": "x"}).status_code == 404
    for path in ("/inbox", "/oral", "/admin", "/admin/audit"):
        assert registrar.get(path).status_code == 404, path
    with Session(engine) as s:
        exported = [e.detail for e in s.exec(select(AuditEntry)) if e.action == "register_exported"]
    assert exported == [f"{YEAR} print", f"{YEAR} csv", f"{YEAR} csv"]
    with Session(engine) as s:
        assert audit.verify(s).ok


def test_a_year_without_entries_and_a_bad_year(
    world: World, engine: Engine, new_client: Callable[[], TestClient], keys: Keys
) -> None:
    registrar = _registrar(engine, new_client, keys)
    empty = registrar.get("/registrar?year=1999")
    assert empty.status_code == 200
    assert "Inget diariefördes 1999." in empty.text
    assert registrar.get("/registrar?year=abc").status_code == 200  # falls back to this year


def test_a_registrar_is_invited_by_the_admin_and_gets_no_keys(
    world: World, engine: Engine, new_client: Callable[[], TestClient], keys: Keys
) -> None:
    admin = new_client()
    login_staff(admin, "admin")
    form = admin.get("/admin/accounts").text
    assert 'value="registrar"' in form
    invited = post(
        admin, "/admin/accounts", {"username": "rut", "display_name": "Rut R", "role": "registrar"}
    )
    assert invited.status_code == 200
    # The link never shows on the admin's page: the operator prints it (four eyes).
    assert "/activate/" not in invited.text
    with db.session_scope(engine) as s:
        token = accounts.renew_invitation(s, username="rut")
    activated = post(
        new_client(), f"/activate/{token}", {"password": PASSWORD, "confirm": PASSWORD}
    )
    assert activated.status_code == 200
    assert "rec-title" not in activated.text
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == "rut")).one()
        assert user.role == "registrar"
        assert user.status == "active"
        assert user.public_key is None
        assert user.private_key_sealed is None
        assert user.recovery_sealed is None
    assert "Registrator" in admin.get("/admin/accounts").text
    # The first login enrols the second factor like any staff member; then it lands on the
    # register.
    browser = new_client()
    first = post(browser, "/staff/login", {"username": "rut", "password": PASSWORD})
    assert first.headers["location"] == "/staff/enrol"
    with db.session_scope(engine) as s:
        enrol_totp(s, "rut", keys.password_key)
    browser = new_client()
    assert (
        post(browser, "/staff/login", {"username": "rut", "password": PASSWORD}).headers["location"]
        == "/staff/second-factor"
    )
    done = post(browser, "/staff/second-factor", {"code": totp_code(browser, "rut")})
    assert done.status_code == 303
    assert done.headers["location"] == "/registrar"


@pytest.mark.usefixtures("env")
def test_create_registrar_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "create-registrar", "--username", "rut", "--name", "Rut R")
    assert code == 0
    assert LINK.search(out)
    with cli_db() as s:
        assert s.exec(select(User)).one().role == "registrar"


def test_investigator_sees_and_changes_markings(
    world: World, engine: Engine, new_client: Callable[[], TestClient]
) -> None:
    _public(engine, world.unit, reference="KS 2024/117 § 5")
    _file(new_client(), world)
    [case_id] = _case_ids(engine)
    anna = new_client()
    login_staff(anna, "anna")
    page = anna.get(f"/cases/{case_id}").text
    assert f"VB {YEAR}/1" in page
    assert "gallringsbeslut KS 2024/117 § 5" in page
    assert page.count("Sekretessmarkering: Sekretess enligt 32 kap. 3 b § OSL") == 2
    with Session(engine) as s:
        item = s.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.kind == "identity")
        ).one()
    changed = post(
        anna,
        f"/cases/{case_id}/marking",
        {"item_id": item.id, "ground": "Sekretess enligt 39 kap. 3 § OSL"},
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == f"/cases/{case_id}?done=marking#marking"
    page = anna.get(f"/cases/{case_id}").text
    assert "Sekretessmarkering: Sekretess enligt 39 kap. 3 § OSL · markerad av Anna" in page
    history = anna.get(f"/cases/{case_id}?tab=history").text
    assert "Sekretessmarkering ändrad" in history  # the access history
    # Free text is refused: it would sit in clear next to the register.
    refused = post(
        anna, f"/cases/{case_id}/marking", {"item_id": item.id, "ground": "MARKER-WHO did it"}
    )
    assert refused.status_code == 400
    assert "Välj ett av alternativen." in refused.text
    with Session(engine) as s:
        assert [m.ground for m in s.exec(select(ItemMarking))] == [
            "Sekretess enligt 39 kap. 3 § OSL"
        ]
        assert s.exec(select(RegisterEntry)).one().marking.endswith("32 kap. 3 b § OSL")


def test_a_case_outside_the_register_has_no_number_or_markings(
    world: World, engine: Engine, new_client: Callable[[], TestClient]
) -> None:
    _file(new_client(), world)  # the unit has no type and there is no default: not public
    [case_id] = _case_ids(engine)
    anna = new_client()
    login_staff(anna, "anna")
    page = anna.get(f"/cases/{case_id}").text
    assert "Diarienummer" not in page
    assert "Sekretessmarkering" not in page
    with Session(engine) as s:
        item_id = s.exec(select(CaseItem.id).where(CaseItem.case_id == case_id)).first()
    refused = post(anna, f"/cases/{case_id}/marking", {"item_id": str(item_id), "ground": ""})
    assert refused.status_code == 400
    assert "inte diariefört" in refused.text


def test_an_oral_report_is_registered_when_received(
    world: World, engine: Engine, new_client: Callable[[], TestClient]
) -> None:
    _public(engine, world.unit)
    anna = new_client()
    login_staff(anna, "anna")
    form = {
        "category": str(world.bribery),
        "unit": str(world.unit),
        "what": "MARKER-WHAT",
        "mode": "anonymous",
        "minutes": "MARKER-WHO said so.",
    }
    assert post(anna, "/oral", form).status_code == 200
    with Session(engine) as s:
        entry = s.exec(select(RegisterEntry)).one()
        case = s.exec(select(Case)).one()
    assert (entry.case_id, entry.number, entry.received_on) == (
        case.id,
        f"VB {YEAR}/1",
        case.received_on,
    )
    with Session(engine) as s:  # the minutes are an item of the case, marked by default
        items = s.exec(select(CaseItem.id).where(CaseItem.case_id == case.id)).all()
    page = anna.get(f"/cases/{case.id}").text
    assert page.count("Sekretessmarkering: Sekretess enligt 32 kap. 3 b § OSL") == len(items)


@pytest.mark.parametrize("shown", [False, True])
def test_the_reporter_sees_the_register_number_only_if_chosen(
    world: World,
    engine: Engine,
    settings: Settings,
    shown: bool,
    new_client: Callable[[], TestClient],
) -> None:
    from whistle.app import create_app
    from whistle.keys import load_keys

    _public(engine, world.unit)
    app = create_app(
        settings.replace(register_show_reporter=shown),
        engine=engine,
        keys=load_keys(settings.keys_dir, create=True),
    )
    number = f"VB {YEAR}/1"
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as reporter:
        receipt = post(
            reporter,
            "/report",
            {
                "category": str(world.bribery),
                "unit": str(world.unit),
                "what": "x",
                "mode": "anonymous",
            },
        )
        assert receipt.status_code == 200
        assert number not in receipt.text
        code = re.search(r"<strong>(\d{4} \d{4} \d{4} \d{4})</strong>", receipt.text)
        assert code
        login_reporter(reporter, code.group(1))
        page = reporter.get("/case").text
    assert (number in page) is shown
    with Session(engine) as s:
        assert s.exec(select(RegisterEntry.number)).one() == number


def test_the_admin_sets_a_units_type_and_disposal_decision(
    world: World, engine: Engine, new_client: Callable[[], TestClient]
) -> None:
    admin = new_client()
    login_staff(admin, "admin")
    assert "Typ av organisation" in admin.get("/admin/structure").text
    form = {"name_sv": "Förvaltning Norr", "name_en": "North Administration", "active": "yes"}
    saved = post(
        admin,
        f"/admin/units/{world.unit}",
        {**form, "org_type": "public", "disposal_reference": "KS 2024/117 § 5"},
    )
    assert saved.status_code == 303
    bad = post(admin, f"/admin/units/{world.unit}", {**form, "org_type": "municipal"})
    assert bad.status_code == 400
    with Session(engine) as s:
        unit = s.get(Unit, world.unit)
        assert unit is not None
        assert (unit.org_type, unit.disposal_reference) == ("public", "KS 2024/117 § 5")
    page = admin.get("/admin/structure").text
    assert "offentlig" in page
    assert "gallringsbeslut KS 2024/117 § 5" in page
    back = post(admin, f"/admin/units/{world.unit}", {**form, "org_type": ""})
    assert back.status_code == 303
    with Session(engine) as s:
        unit = s.get(Unit, world.unit)
        assert unit is not None
        assert unit.org_type is None


def test_a_year_in_other_digits_falls_back_to_this_year(
    engine: Engine, new_client: Callable[[], TestClient], keys: Keys
) -> None:
    """Security review, finding 9: "²" passes str.isdigit() but not int()."""
    registrar = _registrar(engine, new_client, keys)
    for year in ("²⁰²⁶", "２０２６", "٢٠٢٦", "0999"):
        page = registrar.get(f"/registrar?year={year}")
        assert page.status_code == 200
        assert str(YEAR) in page.text
