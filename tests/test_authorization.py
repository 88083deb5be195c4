"""The authorization matrix: every route of the application, for every role.

A route that is not in MATRIX fails :func:`test_matrix_covers_every_route`, so a new route
cannot be added without deciding who may use it. Requests that would change something use
invalid input where they can, so an authorised role gets a validation error (400) and an
unauthorised one a 404 or the login page — never the same answer by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tests.helpers import (
    CHEAP_ARGON2,
    PASSWORD,
    World,
    csrf,
    enrol_totp,
    login_reporter,
    login_staff,
    post,
    submit_report,
)
from whistle import accounts, db, texts
from whistle.keys import Keys
from whistle.models import Attachment, Case, CaseItem, Designation, Unit

ROLES = (
    "anonymous",
    "reporter_a",
    "reporter_b",
    "other",
    "recused",
    "designated",
    "admin",
    "registrar",
)
LOGIN = "login"  # 303 to /staff/login

PUBLIC = dict.fromkeys(ROLES, 200)
STAFF_ONLY_LOGIN = {"anonymous": LOGIN, "reporter_a": LOGIN, "reporter_b": LOGIN}
NO_STAFF = {**STAFF_ONLY_LOGIN, "other": 404, "recused": 404, "designated": 404, "admin": 404}
ADMIN_GET = {**NO_STAFF, "admin": 200, "registrar": 404}
REGISTRAR_GET = {**NO_STAFF, "registrar": 200}
ADMIN_POST = {**ADMIN_GET, "admin": 400}
INVESTIGATOR_GET = {
    **STAFF_ONLY_LOGIN,
    "other": 200,
    "recused": 200,
    "designated": 200,
    "admin": 404,
    "registrar": 404,
}
INVESTIGATOR_POST = {**INVESTIGATOR_GET, "other": 400, "recused": 400, "designated": 400}
CASE_GET = {**NO_STAFF, "designated": 200, "registrar": 404}
CASE_POST = {**CASE_GET, "designated": 400}
ANY_STAFF_GET = {**dict.fromkeys(ROLES, 200), **STAFF_ONLY_LOGIN}
ANY_STAFF_POST = {**ANY_STAFF_GET, **dict.fromkeys(ROLES[3:], 400)}
REPORTER_GET = {**dict.fromkeys(ROLES, 401), "reporter_a": 200, "reporter_b": 200}
REPORTER_POST = {**REPORTER_GET, "reporter_a": 400, "reporter_b": 400}


@dataclass(frozen=True)
class Check:
    expected: dict[str, int | str]
    data: dict[str, str] | None = None  # POST body (CSRF added); None for GET
    last: int = 0  # 1: changes routing, 2: ends sessions — run after the others, in this order


MATRIX: dict[tuple[str, str], Check] = {
    ("GET", "/"): Check(PUBLIC),
    ("GET", "/report"): Check(PUBLIC),
    ("POST", "/report"): Check(dict.fromkeys(ROLES, 400), {"what": ""}),
    ("GET", "/followup"): Check(PUBLIC),
    ("POST", "/followup"): Check(dict.fromkeys(ROLES, 400), {"code": "12"}),
    ("GET", "/case"): Check(REPORTER_GET),
    ("POST", "/case/reply"): Check(REPORTER_POST, {"text": ""}),
    # A file of case A: its reporter gets it; the other reporter's key is for another case.
    ("GET", "/case/files/{blob_id}"): Check({**REPORTER_GET, "reporter_b": 404}),
    ("POST", "/case/logout"): Check(dict.fromkeys(ROLES, 303), {}, last=2),
    ("GET", "/info/how"): Check(PUBLIC),
    ("GET", "/info/routine"): Check(PUBLIC),
    ("GET", "/info/external"): Check(PUBLIC),
    ("GET", "/info/privacy"): Check(PUBLIC),
    ("GET", "/info/accessibility"): Check(PUBLIC),
    ("GET", "/lang/{code}"): Check(dict.fromkeys(ROLES, 303)),
    ("GET", "/healthz"): Check(PUBLIC),
    ("GET", "/readyz"): Check(PUBLIC),
    ("GET", "/staff/login"): Check(PUBLIC),
    ("POST", "/staff/login"): Check(dict.fromkeys(ROLES, 400), {"username": "x", "password": ""}),
    ("GET", "/staff/second-factor"): Check(dict.fromkeys(ROLES, LOGIN)),
    ("POST", "/staff/second-factor"): Check(dict.fromkeys(ROLES, LOGIN), {"code": "1"}),
    ("GET", "/staff/enrol"): Check(dict.fromkeys(ROLES, LOGIN)),
    ("POST", "/staff/enrol"): Check(dict.fromkeys(ROLES, LOGIN), {"code": "1"}),
    ("POST", "/staff/logout"): Check(dict.fromkeys(ROLES, LOGIN), {}, last=2),
    ("POST", "/staff/logout-everywhere"): Check(dict.fromkeys(ROLES, LOGIN), {}, last=2),
    ("GET", "/staff/password"): Check(ANY_STAFF_GET),
    ("POST", "/staff/password"): Check(
        ANY_STAFF_POST, {"current": "wrong", "password": "x", "confirm": "y"}
    ),
    ("GET", "/staff/security-keys"): Check(ANY_STAFF_GET),
    ("POST", "/staff/security-keys/add"): Check(ANY_STAFF_POST, {"name": "k", "password": "x"}),
    ("POST", "/staff/security-keys/{key_id}/remove"): Check(ANY_STAFF_POST, {"password": "x"}),
    # Without a pending login (the password step), back to the login page, whoever asks.
    ("POST", "/staff/security-key/login"): Check(dict.fromkeys(ROLES, LOGIN), {"credential": ""}),
    ("GET", "/staff/security-key/enrol"): Check(dict.fromkeys(ROLES, LOGIN)),
    ("POST", "/staff/security-key/enrol"): Check(dict.fromkeys(ROLES, LOGIN), {"name": "k"}),
    ("GET", "/staff/recover"): Check(PUBLIC),
    ("POST", "/staff/recover"): Check(
        dict.fromkeys(ROLES, 400), {"username": "nobody", "password": "x", "confirm": "x"}
    ),
    ("GET", "/activate/{token}"): Check(dict.fromkeys(ROLES, 404)),
    ("POST", "/activate/{token}"): Check(dict.fromkeys(ROLES, 400), {"password": "x"}),
    ("GET", "/inbox"): Check(INVESTIGATOR_GET),
    ("GET", "/cases/{case_id}"): Check(CASE_GET),
    ("POST", "/cases/{case_id}/post"): Check(CASE_POST, {"kind": "bogus", "text": "x"}),
    ("POST", "/cases/{case_id}/status"): Check(CASE_POST, {"status": "bogus"}),
    ("POST", "/cases/{case_id}/grant"): Check(CASE_POST, {"user_id": "nobody"}),
    ("POST", "/cases/{case_id}/recuse"): Check(CASE_POST, {}),
    ("GET", "/cases/{case_id}/files/{blob_id}"): Check(CASE_GET),
    ("POST", "/cases/{case_id}/withhold-ack"): Check(CASE_POST, {"reason": ""}),
    ("POST", "/cases/{case_id}/feedback"): Check(CASE_POST, {"measures": "", "reasons": ""}),
    ("POST", "/cases/{case_id}/meeting"): Check(CASE_POST, {"proposal": ""}),
    ("POST", "/cases/{case_id}/minutes"): Check(CASE_POST, {"text": ""}),
    ("POST", "/cases/{case_id}/action"): Check(CASE_POST, {"action_type": "bogus"}),
    ("POST", "/cases/{case_id}/handover"): Check(CASE_POST, {"legal_ground": "bogus"}),
    ("GET", "/cases/{case_id}/requests"): Check(CASE_GET),
    ("POST", "/cases/{case_id}/requests"): Check(CASE_POST, {"asked": ""}),
    ("GET", "/cases/{case_id}/requests/{request_id}"): Check(CASE_GET),
    ("POST", "/cases/{case_id}/requests/{request_id}/decide"): Check(CASE_POST, {"item": "x"}),
    # Undecided: the designated reader is told to decide first.
    ("GET", "/cases/{case_id}/requests/{request_id}/export.pdf"): Check(
        {**CASE_GET, "designated": 400}
    ),
    ("GET", "/cases/{case_id}/items/{item_id}/redact"): Check(CASE_GET),
    ("POST", "/cases/{case_id}/items/{item_id}/redact"): Check(CASE_POST, {"reason": ""}),
    ("GET", "/cases/{case_id}/package"): Check(CASE_GET),
    ("POST", "/cases/{case_id}/package"): Check(CASE_POST, {"recipient": "Polisen"}),
    # The working copy: without the confirmation a reader gets 400, anyone else 404.
    ("GET", "/cases/{case_id}/copy"): Check(CASE_GET),
    ("POST", "/cases/{case_id}/copy"): Check(CASE_POST, {}),
    ("GET", "/info/signing-key"): Check(PUBLIC),
    ("GET", "/access-requests"): Check(INVESTIGATOR_GET),
    ("POST", "/access-requests"): Check(
        {**INVESTIGATOR_GET, "other": 400, "recused": 400, "designated": 400}, {"person": ""}
    ),
    # Recorded by the designated investigator: only they can open it.
    ("GET", "/access-requests/{access_id}"): Check(CASE_GET),
    ("POST", "/access-requests/{access_id}/answer"): Check(
        {**CASE_GET, "designated": 400}, {f"{'x' * 32}:{'y' * 32}:what": "forged"}
    ),
    ("GET", "/oral"): Check(INVESTIGATOR_GET),
    ("POST", "/oral"): Check(
        {**INVESTIGATOR_GET, "other": 400, "recused": 400, "designated": 400}, {"what": ""}
    ),
    ("POST", "/case/minutes"): Check(REPORTER_POST, {"version": "0", "decision": "approve"}),
    ("POST", "/case/meeting"): Check(REPORTER_POST, {"text": "x" * 6000}),
    # Written reports: the code is the reporter's own already, so both lead back to the case.
    ("GET", "/case/new-code"): Check({**REPORTER_GET, "reporter_a": 303, "reporter_b": 303}),
    ("POST", "/case/new-code"): Check({**REPORTER_GET, "reporter_a": 303, "reporter_b": 303}, {}),
    # Case A's file is not a recording: not even its reader gets it inline (tests/test_voice.py
    # plays a real one).
    ("GET", "/cases/{case_id}/files/{blob_id}/play"): Check({**CASE_GET, "designated": 404}),
    # No consent ticked: refused (400) for the reader, before anything is decoded.
    ("POST", "/cases/{case_id}/recording"): Check(CASE_POST, {}),
    ("GET", "/readers"): Check(INVESTIGATOR_GET),
    # The line in the params is in effect already: an investigator gets "not pending" (400).
    ("POST", "/readers/{designation_id}/approve"): Check(INVESTIGATOR_POST, {}),
    ("POST", "/readers/{designation_id}/decline"): Check(INVESTIGATOR_POST, {}),
    ("GET", "/admin"): Check(ADMIN_GET),
    ("GET", "/admin/routes"): Check(ADMIN_GET),
    ("POST", "/admin/routes"): Check(ADMIN_POST, {"user_id": "nobody", "category": "1"}),
    ("POST", "/admin/routes/{designation_id}/delete"): Check(
        {**ADMIN_GET, "admin": 303}, {}, last=1
    ),
    ("GET", "/admin/structure"): Check(ADMIN_GET),
    ("POST", "/admin/units"): Check(ADMIN_POST, {"name_sv": "", "name_en": ""}),
    ("POST", "/admin/units/{unit_id}"): Check(ADMIN_POST, {"name_sv": "", "name_en": ""}),
    ("POST", "/admin/categories"): Check(ADMIN_POST, {"name_sv": "", "name_en": ""}),
    ("POST", "/admin/categories/{category_id}"): Check(ADMIN_POST, {"name_sv": ""}),
    ("GET", "/admin/accounts"): Check(ADMIN_GET),
    ("POST", "/admin/accounts"): Check(ADMIN_POST, {"username": "!", "display_name": ""}),
    ("GET", "/admin/accounts/{user_id}"): Check(ADMIN_GET),
    ("POST", "/admin/accounts/{user_id}/status"): Check(ADMIN_POST, {"active": "no"}),
    ("GET", "/admin/audit"): Check(ADMIN_GET),
    ("GET", "/admin/poster.{kind}"): Check(ADMIN_GET),
    ("GET", "/admin/statistics"): Check(ADMIN_GET),
    ("GET", "/admin/statistics.csv"): Check(ADMIN_GET),
    ("GET", "/admin/texts"): Check(ADMIN_GET),
    ("GET", "/admin/texts/{name}"): Check(ADMIN_GET),
    ("POST", "/admin/texts/{name}"): Check(ADMIN_POST, {"body_sv": "", "body_en": ""}),
    ("GET", "/admin/texts/{name}/{version}"): Check(ADMIN_GET),
    ("GET", "/registrar"): Check(REGISTRAR_GET),
    ("GET", "/registrar/print"): Check(REGISTRAR_GET),
    ("GET", "/registrar/register.csv"): Check(REGISTRAR_GET),
    ("POST", "/cases/{case_id}/marking"): Check(CASE_POST, {"item_id": "nothing", "ground": "x"}),
    # The workbench: only a reader of the case may see or set its lead, labels, tasks, triage.
    ("POST", "/cases/{case_id}/lead"): Check(CASE_POST, {"user_id": "nobody"}),
    ("POST", "/cases/{case_id}/labels"): Check(CASE_POST, {"label_id": "999999"}),
    ("POST", "/cases/{case_id}/tasks"): Check(CASE_POST, {"text": "", "due_on": "2026-01-01"}),
    ("POST", "/cases/{case_id}/tasks/{task_id}"): Check(CASE_POST, {"done": "yes"}),
    ("POST", "/cases/{case_id}/triage"): Check(CASE_POST, {"priority": "bogus", "risk": "low"}),
    ("GET", "/labels"): Check(INVESTIGATOR_GET),
    ("POST", "/labels"): Check(INVESTIGATOR_POST, {"name": ""}),
    ("POST", "/labels/{label_id}/retire"): Check(INVESTIGATOR_POST, {}),
    # Search is over the cases the investigator holds; a too-short term is a 400.
    ("GET", "/search"): Check(INVESTIGATOR_GET),
    ("POST", "/search"): Check(INVESTIGATOR_POST, {"term": "x"}),
    ("GET", "/leavers"): Check(INVESTIGATOR_GET),
    ("POST", "/leavers"): Check(INVESTIGATOR_POST, {"leaver": "nobody", "successor": "nobody"}),
}


def app_routes(app: object) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # /static: checked in test_static_is_public
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_matrix_covers_every_route(app: object) -> None:
    routes = app_routes(app)
    missing = routes - set(MATRIX)
    assert not missing, f"routes with no authorization decision: {sorted(missing)}"
    stale = set(MATRIX) - routes
    assert not stale, f"matrix entries for routes that do not exist: {sorted(stale)}"


@pytest.fixture
def actors(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> tuple[dict[str, TestClient], dict[str, str]]:
    """One browser per role, and the values for path parameters."""
    clients = {role: new_client() for role in ROLES}
    with db.session_scope(engine) as s:
        # Case A's unit is public: it is registered, so the registrar has something to see.
        unit = s.get(Unit, world.unit)
        assert unit is not None
        unit.org_type = "public"
        accounts.create_active_user(
            s,
            username="rut",
            display_name="Rut Registrator",
            role="registrar",
            password=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        enrol_totp(s, "rut", keys.password_key)
    code_a = submit_report(
        clients["reporter_a"], world.bribery, what="Marker of case A", unit=str(world.unit)
    )
    code_b = submit_report(clients["reporter_b"], world.other, what="Marker of case B")
    login_reporter(clients["reporter_a"], code_a)
    login_reporter(clients["reporter_b"], code_b)
    attached = clients["reporter_a"].post(
        "/case/reply",
        data={"csrf_token": csrf(clients["reporter_a"]), "text": ""},
        files=[("files", ("a.txt", b"a file of case A"))],
    )
    assert attached.status_code == 303, attached.text
    with Session(engine) as s:
        case_a = s.execute(select(Case.id).where(Case.category_id == world.bribery)).scalar_one()
        designation = s.execute(select(Designation.id)).scalars().first()
        blob_id = s.execute(select(Attachment.id)).scalar_one()
        item_id = s.execute(
            select(CaseItem.id).where(CaseItem.case_id == case_a, CaseItem.kind == "report")
        ).scalar_one()
    login_staff(clients["designated"], "anna")
    login_staff(clients["other"], "carl")
    login_staff(clients["recused"], "bertil")
    assert (
        post(clients["recused"], f"/cases/{case_a}/recuse", {"confirm": "yes"}).status_code == 303
    )
    login_staff(clients["admin"], "admin")
    login_staff(clients["registrar"], "rut")
    made = post(clients["designated"], f"/cases/{case_a}/requests", {"asked": "All documents"})
    assert made.status_code == 303, made.text
    request_id = made.headers["location"].rsplit("/", 1)[1]
    # The subject is named in case A's report: the answer form has a passage to check.
    made = post(clients["designated"], "/access-requests", {"person": "Marker of case A"})
    assert made.status_code == 303, made.text
    access_id = made.headers["location"].rsplit("/", 1)[1]
    with db.session_scope(engine) as s:  # version 1 of the routine, for its admin page
        texts.save(s, actor_id=world.admin, name="routine", body_sv="Rutin", body_en="Routine")
    params = {
        "case_id": case_a,
        "code": "en",
        "token": "not-a-valid-token",
        "designation_id": str(designation),
        "unit_id": str(world.unit),
        "category_id": str(world.bribery),
        "user_id": world.admin,  # the admin cannot deactivate themself: a 400, nothing changes
        "name": "routine",
        "version": "1",
        "blob_id": blob_id,
        "request_id": request_id,
        "item_id": item_id,
        "access_id": access_id,
        "kind": "pdf",
        "task_id": "nothing",
        "label_id": "999999",
        "key_id": "nokey",
    }
    return clients, params


def _fill(path: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    return path


def _outcome(response: object) -> int | str:
    status: int = response.status_code
    if status == 303 and response.headers["location"] == "/staff/login":
        return LOGIN
    return status


def test_every_route_for_every_role(
    actors: tuple[dict[str, TestClient], dict[str, str]],
) -> None:
    clients, params = actors
    ordered = sorted(MATRIX.items(), key=lambda kv: kv[1].last)
    failures = []
    for (method, path), check in ordered:
        url = _fill(path, params)
        for role in ROLES:
            client = clients[role]
            response = client.get(url) if method == "GET" else post(client, url, check.data or {})
            got = _outcome(response)
            if got != check.expected[role]:
                failures.append(
                    f"{method} {path} as {role}: {got}, expected {check.expected[role]}"
                )
            if got == 200 and method == "GET":
                # Content checks: only the right people ever see a case's text.
                text = response.text
                if role != "designated":
                    assert "Marker of case A" not in text or role == "reporter_a", (path, role)
                assert "Marker of case B" not in text or role == "reporter_b", (path, role)
    assert not failures, "\n".join(failures)


def test_reporters_see_only_their_own_case(
    actors: tuple[dict[str, TestClient], dict[str, str]],
) -> None:
    clients, _ = actors
    page_a = clients["reporter_a"].get("/case").text
    page_b = clients["reporter_b"].get("/case").text
    assert "Marker of case A" in page_a
    assert "Marker of case B" not in page_a
    assert "Marker of case B" in page_b
    assert "Marker of case A" not in page_b


def test_static_is_public(client: TestClient) -> None:
    response = client.get("/static/whistle.css")
    assert response.status_code == 200
    assert client.get("/static/../whistle/crypto.py").status_code == 404
