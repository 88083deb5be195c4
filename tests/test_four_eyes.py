"""Security finding 2 (issue 12): no look-alike reader, and four eyes on every new reader.

The attack: an administrator invites an account with a colleague's name, opens the activation
link the admin page showed, adds a route line and waits for a report. Now the name is refused,
the link never reaches the admin's screen, and the line gives no wrap until an investigator who
reads that kind of report approves it — which every investigator can see.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import (
    CHEAP_ARGON2,
    PASSWORD,
    World,
    enrol_totp,
    login_staff,
    post,
    submit_report,
)
from tests.test_jobs import Inbox, smtp  # noqa: F401 (the fixture)
from whistle import accounts, approvals, audit, db, demo, names
from whistle.app import create_app
from whistle.keys import Keys
from whistle.models import AuditEntry, Case, CaseKeyWrap, Category, Designation, User
from whistle.settings import Settings

ACTIVATE = re.compile(r"/activate/([A-Za-z0-9_\-]{20,})")


def _admin(new_client: Callable[[], TestClient]) -> TestClient:
    admin = new_client()
    login_staff(admin, "admin")
    return admin


def _invite(admin: TestClient, username: str, display_name: str, email: str = "") -> str:
    """Invite through the admin page; the page must not carry an activation link."""
    page = post(
        admin,
        "/admin/accounts",
        {
            "username": username,
            "display_name": display_name,
            "role": "investigator",
            "email": email,
        },
    )
    assert page.status_code == 200, page.text
    assert not ACTIVATE.search(page.text), "the activation link reached the admin's screen"
    return page.text


def _activate(engine: Engine, new_client: Callable[[], TestClient], username: str) -> str:
    """The invitee activates with a link the operator printed (`whistle activation-link`)."""
    with db.session_scope(engine) as s:
        token = accounts.renew_invitation(s, username=username)
        user_id = s.execute(select(User.id).where(User.username == username)).scalar_one()
    person = new_client()
    done = post(person, f"/activate/{token}", {"password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 200, done.text
    return str(user_id)


def _wrapped_to(engine: Engine, user_id: str) -> int:
    with Session(engine) as s:
        stmt = select(func.count()).select_from(CaseKeyWrap).where(CaseKeyWrap.user_id == user_id)
        return int(s.execute(stmt).scalar_one())


@pytest.mark.parametrize(
    "look_alike",
    [
        "Bertil",
        "bertil",
        "  BERTIL ",
        "B\u0435rtil",  # Cyrillic small ie
        "\u0412ertil",  # Cyrillic capital ve
        "\uff22\uff45\uff52\uff54\uff49\uff4c",  # full-width
        "Ber\u200btil",  # zero-width space
        "BertiI",  # capital I for small l
        "Bert\u0456l",  # Cyrillic small i
    ],
)
def test_a_look_alike_display_name_is_refused(
    world: World, new_client: Callable[[], TestClient], engine: Engine, look_alike: str
) -> None:
    admin = _admin(new_client)
    refused = post(
        admin,
        "/admin/accounts",
        {"username": "bertil2", "display_name": look_alike, "role": "investigator"},
    )
    assert refused.status_code == 400
    assert "ser likadant ut" in refused.text
    assert 'value="bertil2"' in refused.text  # nothing typed is lost
    with Session(engine) as s:
        assert s.execute(select(User).where(User.username == "bertil2")).first() is None


def test_name_key_folds_what_people_cannot_tell_apart() -> None:
    assert names.name_key("Bertil  Berg") == names.name_key("bertil berg")
    assert names.name_key("Bertil\tBerg ") == names.name_key("BERTIL BERG")
    assert names.name_key("Arne Ek") == names.name_key("Ame Ek")  # rn / m
    assert names.name_key("\u039f\u03bbof") != names.name_key("Olof")  # lambda is no l
    assert names.name_key("\u039flof") == names.name_key("Olof")  # Greek capital omicron
    # Different people with visibly different names stay apart.
    assert names.name_key("Åsa Berg") != names.name_key("Asa Berg")
    assert names.name_key("Bertil Berg") != names.name_key("Bertil Borg")


def test_an_admin_alone_cannot_make_a_reader(
    world: World, new_client: Callable[[], TestClient], engine: Engine, keys: Keys
) -> None:
    admin = _admin(new_client)
    page = _invite(admin, "frida", "Frida Falk")
    assert "whistle activation-link --username frida" in page
    frida = _activate(engine, new_client, "frida")
    added = post(admin, "/admin/routes", {"user_id": frida, "category": str(world.bribery)})
    assert added.status_code == 303
    assert added.headers["location"] == "/admin/routes?done=pending"
    assert "Väntar på godkännande av en utredare" in admin.get("/admin/routes").text

    # A report arrives: the pending line gives no wrap, and the reporter is not told of Frida.
    reporter = new_client()
    preview = post(
        reporter, "/report", {"category": str(world.bribery), "what": "x", "action": "readers"}
    )
    assert "Anna" in preview.text
    assert "Frida" not in preview.text
    submit_report(new_client(), world.bribery, what="First report")
    assert _wrapped_to(engine, frida) == 0

    with Session(engine) as s:
        line = s.execute(select(Designation).where(Designation.user_id == frida)).scalar_one()
    # Not the admin (no investigator page), not Frida herself, not Carl (reads "other" only).
    assert post(admin, f"/readers/{line.id}/approve", {}).status_code == 404
    herself = new_client()
    with db.session_scope(engine) as s:
        enrol_totp(s, "frida", keys.password_key)
    login_staff(herself, "frida")
    mine = post(herself, f"/readers/{line.id}/approve", {})
    assert mine.status_code == 400
    assert "Någon annan" in mine.text
    carl = new_client()
    login_staff(carl, "carl")
    assert post(carl, f"/readers/{line.id}/approve", {}).status_code == 400
    assert _wrapped_to(engine, frida) == 0

    # Bertil reads bribery reports: his approval puts the line in effect, for new reports only.
    bertil = new_client()
    login_staff(bertil, "bertil")
    approved = post(bertil, f"/readers/{line.id}/approve", {})
    assert approved.status_code == 303
    assert approved.headers["location"] == "/readers?done=approved"
    assert _wrapped_to(engine, frida) == 0  # the first case is not shared by an admin's change
    submit_report(new_client(), world.bribery, what="Second report")
    assert _wrapped_to(engine, frida) == 1
    with Session(engine) as s:
        line = s.execute(select(Designation).where(Designation.user_id == frida)).scalar_one()
        assert line.status == "active"
        assert line.approved_by == world.bertil
        assert line.requested_by == world.admin
        entry = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "route_approved", AuditEntry.subject_id == frida
            )
        ).scalar_one()
        assert entry.actor_id == world.bertil


def test_every_investigator_sees_new_readers_and_one_may_decline(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    admin = _admin(new_client)
    _invite(admin, "frida", "Frida Falk", email="frida@example.se")
    frida = _activate(engine, new_client, "frida")
    assert (
        post(admin, "/admin/routes", {"user_id": frida, "category": str(world.bribery)}).status_code
        == 303
    )
    with Session(engine) as s:
        line = s.execute(select(Designation).where(Designation.user_id == frida)).scalar_one()
    # Carl reads another category: he sees the new reader, who asked, and cannot decide.
    carl = new_client()
    login_staff(carl, "carl")
    assert "1 ny läsare väntar på godkännande" in carl.get("/inbox").text
    with Session(engine) as s:
        before = approvals.notice(s)
    assert before.pending == 1
    assert before.recent >= 2  # frida invited, activated (and the route asked for)
    page = carl.get("/readers")
    assert page.status_code == 200
    assert "Frida Falk (frida)" in page.text
    assert "frida@example.se" in page.text
    assert "Admin (admin)" in page.text  # who asked for it
    assert f"/readers/{line.id}/approve" not in page.text
    # Anna reads bribery reports: she may decide, and declines. The line is gone, and the
    # change is on everyone's readers page.
    anna = new_client()
    login_staff(anna, "anna")
    assert f"/readers/{line.id}/approve" in anna.get("/readers").text
    declined = post(anna, f"/readers/{line.id}/decline", {})
    assert declined.status_code == 303
    with Session(engine) as s:
        assert s.get(Designation, line.id) is None
    assert "Mottagare nekad" in carl.get("/readers").text
    with Session(engine) as s:
        after = approvals.notice(s)
    assert after.pending == 0
    assert after.recent == before.recent + 1  # the decline
    again = post(anna, f"/readers/{line.id}/approve", {})
    assert again.status_code == 400


def test_with_nobody_reading_it_any_colleague_decides(world: World, engine: Engine) -> None:
    # There is no triage group yet: a triage line must not be stuck, nor approved by its own
    # reader; any other active investigator of the function decides.
    with db.session_scope(engine) as s:
        row = approvals.request_line(s, actor_id=world.admin, user_id=world.carl, category_id=None)
        assert row.status == "pending"
        assert {u.id for u in approvals.approvers(s, row)} == {world.anna, world.bertil}
        with pytest.raises(approvals.ApprovalError):
            approvals.approve(s, approver_id=world.admin, designation_id=row.id)


def test_the_first_investigator_is_the_recorded_exception(engine: Engine, keys: Keys) -> None:
    with db.session_scope(engine) as s:
        category = Category(name_sv="Mutor", name_en="Bribery")
        s.add(category)
        s.flush()
        assert category.id is not None
        first = accounts.create_user(s, username="anna", display_name="Anna", role="investigator")
        second = accounts.create_user(s, username="bo", display_name="Bo", role="investigator")
        # Nobody has ever been activated: both lines of the set-up take effect at once.
        for invitation in (first, second):
            row = approvals.request_line(
                s, actor_id=None, user_id=invitation.user_id, category_id=category.id
            )
            assert row.status == "active"
            assert row.approved_by is None
        exceptions = s.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "route_first_reader")
        ).scalar_one()
        assert exceptions == 2
        accounts.activate(
            s,
            token=first.token,
            password=PASSWORD,
            confirm=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        third = accounts.create_user(s, username="cia", display_name="Cia", role="investigator")
        row = approvals.request_line(
            s, actor_id=None, user_id=third.user_id, category_id=category.id
        )
        assert row.status == "pending"
        # Deactivating every investigator does not reopen the exception.
        anna = s.get(User, first.user_id)
        assert anna is not None
        anna.status = "disabled"
        fourth = accounts.create_user(s, username="dan", display_name="Dan", role="investigator")
        row = approvals.request_line(
            s, actor_id=None, user_id=fourth.user_id, category_id=category.id
        )
        assert row.status == "pending"
        assert approvals.approvers(s, row) == []  # Anna, who reads it, must be back first


@pytest.fixture
def smtp_client(
    settings: Settings,
    engine: Engine,
    keys: Keys,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> Iterator[tuple[TestClient, Inbox]]:
    inbox, port = smtp
    mailing = settings.replace(
        smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_from="kanal@example.se"
    )
    app = create_app(mailing, engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client, inbox


def test_with_smtp_the_link_goes_to_the_invitee_only(
    world: World, smtp_client: tuple[TestClient, Inbox], engine: Engine
) -> None:
    admin, inbox = smtp_client
    login_staff(admin, "admin")
    page = _invite(admin, "frida", "Frida Falk", email="frida@example.se")
    assert "har skickats till e-postadressen" in page
    [(recipient, raw)] = inbox.messages
    assert recipient == "frida@example.se"
    message: Message = message_from_bytes(raw)
    body = str(message.get_payload(decode=True), "utf-8")
    [token] = ACTIVATE.findall(body)
    # Only the fixed text and the link: nothing else about the channel or its people.
    assert "Frida" not in body
    assert "admin" not in body.lower()
    activated = post(admin, f"/activate/{token}", {"password": PASSWORD, "confirm": PASSWORD})
    assert activated.status_code == 200
    with Session(engine) as s:
        frida = s.execute(select(User).where(User.username == "frida")).scalar_one()
        assert frida.status == "active"


def test_reporters_never_see_two_names_alike(
    world: World, client: TestClient, engine: Engine, keys: Keys
) -> None:
    # An account from before the unique key existed (the migration kept both, keys apart).
    with db.session_scope(engine) as s:
        twin = accounts.create_user(s, username="anna2", display_name="Anna2", role="investigator")
        user = s.get(User, twin.user_id)
        assert user is not None
        user.display_name = "Anna"
        accounts.activate(
            s,
            token=twin.token,
            password=PASSWORD,
            confirm=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        approvals.request_line(s, actor_id=None, user_id=twin.user_id, category_id=world.bribery)
        [row] = s.execute(select(Designation).where(Designation.user_id == twin.user_id)).scalars()
        approvals.approve(s, approver_id=world.bertil, designation_id=row.id)
    preview = post(
        client, "/report", {"category": str(world.bribery), "what": "x", "action": "readers"}
    )
    assert "Håll Anna (anna) utanför" in preview.text
    assert "Håll Anna (anna2) utanför" in preview.text
    assert "Håll Bertil utanför" in preview.text  # a name nobody shares is shown as it is
    with Session(engine) as s:
        assert s.execute(select(Case)).first() is None


def test_demo_routes_are_approved_by_colleagues(engine: Engine, keys: Keys) -> None:
    with db.session_scope(engine) as s:
        assert demo.seed(s, params=CHEAP_ARGON2, password_key=keys.password_key)
    with Session(engine) as s:
        lines = s.execute(select(Designation)).scalars().all()
        assert len(lines) == 11
        for line in lines:
            assert line.status == "active"
            assert line.approved_by is not None
            assert line.approved_by != line.user_id
        assert audit.verify(s).ok


def test_a_fresh_activation_link_replaces_the_old_one(engine: Engine, keys: Keys) -> None:
    with db.session_scope(engine) as s:
        first = accounts.create_user(s, username="eva", display_name="Eva", role="investigator")
        fresh = accounts.renew_invitation(s, username="eva")
        assert accounts.find_invitation(s, first.token) is None
        found = accounts.find_invitation(s, fresh)
        assert found is not None
        assert found.id == first.user_id
        accounts.activate(
            s,
            token=fresh,
            password=PASSWORD,
            confirm=PASSWORD,
            params=CHEAP_ARGON2,
            password_key=keys.password_key,
        )
        with pytest.raises(accounts.AccountError):
            accounts.renew_invitation(s, username="eva")  # an active account gets no link


def test_a_line_id_in_other_digits_is_not_found(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    """Security review, finding 9: "²" passes str.isdigit() but not int()."""
    bertil = new_client()
    login_staff(bertil, "bertil")
    for raw in ("²", "１", "١"):
        assert post(bertil, f"/readers/{raw}/approve", {}).status_code == 404


def test_the_inbox_notice_reads_the_audit_log_along_its_index(engine: Engine) -> None:
    """The notice runs on every inbox page: it must not read the whole (ever growing) log."""
    from sqlalchemy import text

    from whistle import approvals
    from whistle.models import utcnow

    query = approvals.recent_changes(utcnow()).compile(
        dialect=engine.dialect, compile_kwargs={"literal_binds": True}
    )
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {query}"))
            )
        else:
            # A tiny table is cheaper to scan; forbid that to see whether the index serves.
            conn.execute(text("SET enable_seqscan = off"))
            plan = " ".join(str(row[0]) for row in conn.execute(text(f"EXPLAIN {query}")))
    assert "ix_audit_entries_action_at" in plan
