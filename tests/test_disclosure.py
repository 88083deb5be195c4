"""Requests for official documents: record, decide item by item, export a masked PDF."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable

import pypdf
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, csrf, dump_tables, login_reporter, login_staff, post, submit_report
from whistle import db, deadlines, disclosure, jobs, records
from whistle.models import AuditEntry, Case, CaseItem, DocumentRequest, Unit
from whistle.settings import Settings

NAME = "Reporterella Identitetsdottir"
CONTACT = "hemlig-kontakt@example.org"
SUSPECT = "Suspektus Maskeradsson"
RELEASED = "Fakturan betalades två gånger i maj"
ASKED = "Alla handlingar i ärendet MARKERASKED"


def _setup(world: World, new_client: Callable[[], TestClient], engine: Engine, **unit: str):
    reporter = new_client()
    code = submit_report(
        reporter,
        world.bribery,
        **unit,
        what=f"{RELEASED}. Det var {SUSPECT} på ekonomi som godkände.",
        who=SUSPECT,
        mode="confidential",
        name=NAME,
        contact=CONTACT,
    )
    login_reporter(reporter, code)
    reply = reporter.post(
        "/case/reply",
        data={"csrf_token": csrf(reporter), "text": f"Jag heter {NAME}, ring mig."},
        files=[("files", ("bevis.txt", b"evidence bytes"))],
    )
    assert reply.status_code == 303
    anna = new_client()
    login_staff(anna, "anna")
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
        items = {
            i.kind: i.id
            for i in s.execute(select(CaseItem).where(CaseItem.case_id == case_id)).scalars()
        }
    return anna, case_id, items


def _record(anna: TestClient, case_id: str) -> str:
    response = post(anna, f"/cases/{case_id}/requests", {"received_on": "", "asked": ASKED})
    assert response.status_code == 303
    match = re.fullmatch(
        rf"/cases/{case_id}/requests/([0-9a-f]{{32}})", response.headers["location"]
    )
    assert match
    return match.group(1)


def _decision(items: dict[str, str], **overrides: str) -> dict[str, str]:
    what = f"{RELEASED}. Det var [[17:3b]] på ekonomi som godkände."
    data = {
        "item": items["report"],
        f"{items['report']}:decision": "mask",
        f"{items['report']}:f:what": what,
        f"{items['report']}:f:who": "[[17:3b]]",
        f"{items['message']}:decision": "withhold",
        f"{items['message']}:ground": "32:3b",
        f"{items['attachment']}:decision": "release",
    }
    data.update(overrides)
    return data


def _post_decision(anna: TestClient, url: str, items: dict[str, str], data: dict[str, str]):
    body = [("csrf_token", csrf(anna))]
    body += [("item", items[k]) for k in ("report", "message", "attachment")]
    body += [(k, v) for k, v in data.items() if k != "item"]
    return anna.post(
        url, content=_encode(body), headers={"content-type": "application/x-www-form-urlencoded"}
    )


def _encode(pairs: list[tuple[str, str]]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(pairs).encode()


def _pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_masked_export_holds_released_text_and_nothing_masked_or_identifying(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    rid = _record(anna, case_id)
    url = f"/cases/{case_id}/requests/{rid}"
    page = anna.get(url)
    assert page.status_code == 200
    assert ASKED in page.text
    assert "Ska avgöras i dag" in anna.get(f"/cases/{case_id}/requests").text
    # Exporting before deciding is refused.
    assert anna.get(f"{url}/export.pdf").status_code == 400
    response = _post_decision(anna, f"{url}/decide", items, _decision(items))
    assert response.status_code == 303, response.text
    exported = anna.get(f"{url}/export.pdf")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/pdf"
    assert exported.headers["content-disposition"].startswith("attachment")
    text = _pdf_text(exported.content)
    assert RELEASED in text
    assert "[maskerat, 17:3 b OSL]" in text
    assert "bevis.txt" in text
    for secret in (SUSPECT, "Suspektus", NAME, "Reporterella", CONTACT, "ring mig"):
        assert secret not in text, secret
    assert "kammarrätten" in text  # appeal information: something was withheld
    with Session(engine) as s:
        actions = [a.action for a in s.execute(select(AuditEntry)).scalars()]
        row = s.get(DocumentRequest, rid)
        assert row is not None
        assert row.decided_on == deadlines.today()
    assert "document_request_recorded" in actions
    assert "document_request_decided" in actions
    assert "document_request_exported" in actions
    # What was asked, and the decision, are sealed: not in any row.
    dump = dump_tables(engine)
    assert b"MARKERASKED" not in dump
    assert SUSPECT.encode() not in dump


def test_english_export(world: World, new_client: Callable[[], TestClient], engine: Engine) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    anna.get("/lang/en")
    rid = _record(anna, case_id)
    url = f"/cases/{case_id}/requests/{rid}"
    assert "Decide each item" in anna.get(url).text
    assert _post_decision(anna, f"{url}/decide", items, _decision(items)).status_code == 303
    text = _pdf_text(anna.get(f"{url}/export.pdf").content)
    assert "Decision on a request for official documents" in text
    assert "administrative court of appeal" in text


def test_forged_masking_and_missing_grounds_are_refused_and_keep_the_form(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    rid = _record(anna, case_id)
    url = f"/cases/{case_id}/requests/{rid}/decide"
    report = items["report"]
    forged = f"{RELEASED} inte. Det var [[17:3b]] på ekonomi som godkände."
    cases = [
        ({f"{report}:f:what": forged}, "nothing added, changed or moved"),
        ({f"{items['message']}:ground": ""}, "legal ground"),
        ({f"{items['attachment']}:decision": ""}, "decision for every item"),
        ({f"{items['attachment']}:decision": "masked_outside"}, "masked outside the system"),
    ]
    for override, message in cases:
        response = _post_decision(anna, url, items, _decision(items, **override))
        assert response.status_code == 400
        assert message in _english(anna, url, items, override)
        if f"{report}:f:what" in override:
            assert "inte. Det var" in response.text  # what was typed comes back
    with Session(engine) as s:
        assert s.get(DocumentRequest, rid).decision_sealed is None


def _english(anna: TestClient, url: str, items: dict[str, str], override: dict[str, str]) -> str:
    anna.get("/lang/en")
    text: str = _post_decision(anna, url, items, _decision(items, **override)).text
    anna.get("/lang/sv")
    return text


def test_reporter_identity_in_a_released_text_is_refused(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    anna.get("/lang/en")
    rid = _record(anna, case_id)
    url = f"/cases/{case_id}/requests/{rid}/decide"
    # The reporter's reply names them: releasing it unmasked is refused.
    response = _post_decision(
        anna, url, items, _decision(items, **{f"{items['message']}:decision": "release"})
    )
    assert response.status_code == 400
    assert "name or contact" in response.text
    masked = _decision(
        items,
        **{
            f"{items['message']}:decision": "mask",
            f"{items['message']}:f:text": "Jag heter [[32:3b]], ring mig.",
        },
    )
    assert _post_decision(anna, url, items, masked).status_code == 303


def test_identity_item_is_always_withheld_and_not_in_the_pdf(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    rid = _record(anna, case_id)
    # A forged form trying to release the identity item is ignored: it is always withheld.
    data = _decision(items, **{f"{items['identity']}:decision": "release"})
    body = [("csrf_token", csrf(anna)), ("item", items["identity"])]
    body += [("item", items[k]) for k in ("report", "message", "attachment")]
    body += [(k, v) for k, v in data.items() if k != "item"]
    url = f"/cases/{case_id}/requests/{rid}"
    response = anna.post(
        f"{url}/decide",
        content=_encode(body),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 303
    text = _pdf_text(anna.get(f"{url}/export.pdf").content)
    assert NAME not in text
    assert CONTACT not in text


def test_a_request_on_a_case_one_cannot_read_is_404(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, _ = _setup(world, new_client, engine)
    rid = _record(anna, case_id)
    carl = new_client()
    login_staff(carl, "carl")  # designated for another category
    assert carl.get(f"/cases/{case_id}/requests").status_code == 404
    assert carl.get(f"/cases/{case_id}/requests/{rid}").status_code == 404
    assert carl.get(f"/cases/{case_id}/requests/{rid}/export.pdf").status_code == 404
    assert post(carl, f"/cases/{case_id}/requests", {"asked": "x"}).status_code == 404
    with Session(engine) as s:
        assert len(s.execute(select(DocumentRequest)).all()) == 1


def test_bad_date_is_refused_and_keeps_what_was_typed(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, _ = _setup(world, new_client, engine)
    tomorrow = (deadlines.today() + dt.timedelta(days=2)).isoformat()
    for day in ("igår", tomorrow):
        response = post(anna, f"/cases/{case_id}/requests", {"received_on": day, "asked": ASKED})
        assert response.status_code == 400
        assert ASKED in response.text
    with Session(engine) as s:
        assert s.execute(select(DocumentRequest)).first() is None


def test_an_undecided_request_is_due_the_day_it_came_in(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    rid = _record(anna, case_id)
    with Session(engine) as s:
        due = jobs.due_reminders(s, today=deadlines.today(), settings=settings)
        assert any(d.kind == "document_request" and d.case_id == case_id for d in due)
        assert disclosure.due(s, today=deadlines.today()) == [(case_id, deadlines.today())]
    url = f"/cases/{case_id}/requests/{rid}/decide"
    assert _post_decision(anna, url, items, _decision(items)).status_code == 303
    with Session(engine) as s:
        assert disclosure.due(s, today=deadlines.today()) == []


def test_a_public_units_export_states_register_number_and_markings(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    """OSL 5 kap. 5 §: the secrecy marking goes with the document, in every export."""
    with db.session_scope(engine) as s:
        unit = s.get(Unit, world.unit)
        assert unit is not None
        unit.org_type = "public"
        s.add(unit)
    anna, case_id, items = _setup(world, new_client, engine, unit=str(world.unit))
    with Session(engine) as s:
        entry = records.register_entry(s, case_id=case_id)
    assert entry is not None
    rid = _record(anna, case_id)
    url = f"/cases/{case_id}/requests/{rid}"
    assert _post_decision(anna, f"{url}/decide", items, _decision(items)).status_code == 303
    text = _pdf_text(anna.get(f"{url}/export.pdf").content)
    assert entry.number in text
    assert "32 kap. 3 b § OSL" in text  # the default marking of every item
