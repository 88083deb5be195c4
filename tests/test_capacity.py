"""Capacity under floods (security findings 4 and 5): reporters' own derivation slots, the staff
budget per minute, derivations outside every transaction, a busy report form that keeps what was
typed, and attachments refused (never the text) when the disk is nearly full.

Nothing here asserts on elapsed time: slots are held by functions blocked on events.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import (
    CHEAP_ARGON2,
    PASSWORD,
    PG_URL,
    World,
    csrf,
    login_reporter,
    login_staff,
    post,
    submit_report,
)
from whistle import accounts, crypto, db
from whistle.app import create_app
from whistle.derivation import Deriver, Overloaded
from whistle.keys import Keys
from whistle.models import Attachment, Case, User
from whistle.settings import Settings

TYPED = "Inköpschefen tog emot en resa från leverantören i maj."


def _blocker(started: threading.Event, release: threading.Event) -> Callable[[], str]:
    def hold() -> str:
        started.set()
        assert release.wait(timeout=60)  # a bound on a hang, not a timing assertion
        return "held"

    return hold


# --- the two pools and the staff budget ---------------------------------------------------


def test_staff_cannot_take_the_reporters_slot_but_reporters_can_use_every_slot() -> None:
    deriver = Deriver(CHEAP_ARGON2, concurrency=2, queue_seconds=0.05, staff_slots=1)
    assert deriver.reporter_reserved == 1
    started, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    async def scenario() -> None:
        async with anyio.create_task_group() as group:

            async def staff_holds() -> None:
                outcome.append(await deriver.run(_blocker(started, release), staff=True))

            group.start_soon(staff_holds)
            await anyio.to_thread.run_sync(started.wait)
            # The one staff slot is taken: a second staff derivation waits, then 503.
            with pytest.raises(Overloaded):
                await deriver.run(lambda: "staff two", staff=True)
            # A reporter still gets the slot staff cannot take.
            outcome.append(await deriver.run(lambda: "reporter"))
            release.set()

    anyio.run(scenario)
    assert outcome == ["reporter", "held"]

    # Reporters alone may use both slots at once.
    both, release_both = [threading.Event(), threading.Event()], threading.Event()

    async def reporters() -> None:
        async with anyio.create_task_group() as group:
            for event in both:
                group.start_soon(deriver.run, _blocker(event, release_both))
            for event in both:
                await anyio.to_thread.run_sync(event.wait)
            with pytest.raises(Overloaded):  # and a third waits for one of them
                await deriver.run(lambda: "third")
            release_both.set()

    anyio.run(reporters)


def test_staff_derivations_are_bounded_per_minute_and_refused_at_once() -> None:
    now = [1000.0]
    deriver = Deriver(
        CHEAP_ARGON2, concurrency=2, queue_seconds=5, staff_per_minute=3, clock=lambda: now[0]
    )

    async def scenario() -> list[object]:
        seen: list[object] = []
        seen.append(await deriver.run(lambda: "a", staff=True, weight=2))
        seen.append(await deriver.run(lambda: "b", staff=True))
        with pytest.raises(Overloaded) as refused:
            await deriver.run(lambda: "c", staff=True)
        seen.append(refused.value.retry_after)
        seen.append(await deriver.run(lambda: "reporter"))  # reporters are not counted
        now[0] += 59.5
        with pytest.raises(Overloaded) as still:
            await deriver.run(lambda: "c", staff=True)
        seen.append(still.value.retry_after)
        now[0] += 1.0  # the minute since the first three has passed
        seen.append(await deriver.run(lambda: "d", staff=True))
        return seen

    assert anyio.run(scenario) == ["a", "b", 60, "reporter", 1, "d"]


def test_staff_login_flood_with_made_up_usernames_is_capped(
    settings: Settings, engine: Engine, keys: Keys, world: World
) -> None:
    # Finding 5: failures were limited per username only, so made-up names derived unboundedly.
    app = create_app(settings.replace(staff_derivations_per_minute=5), engine=engine, keys=keys)
    derived: list[int] = []
    # The Argon2 run under every password derivation (scheme 1 and 2, crypto.derive_login_keys).
    original = crypto._password_master

    def counting(secret: str, salt: bytes, params: crypto.Argon2Params) -> bytes:
        derived.append(1)
        return original(secret, salt, params)

    statuses = []
    flood = TestClient(app, base_url="https://testserver", follow_redirects=False)
    with flood, pytest.MonkeyPatch.context() as patch:
        patch.setattr(crypto, "_password_master", counting)
        for n in range(12):
            answer = post(flood, "/staff/login", {"username": f"nobody{n}", "password": "x"})
            statuses.append(answer.status_code)
            if answer.status_code == 503:
                assert int(answer.headers["retry-after"]) >= 1
    assert statuses == [400] * 5 + [503] * 7
    assert len(derived) == 5
    # Reporters are untouched by the staff budget.
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as reporter:
        code = submit_report(reporter, world.bribery)
        login_reporter(reporter, code)


# --- no derivation inside a transaction ------------------------------------------------------


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock is what a derivation must not hold")
def test_every_derivation_runs_while_no_transaction_holds_the_write_lock(
    settings: Settings,
    engine: Engine,
    keys: Keys,
    world: World,
    new_client: Callable[[], TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 5: recovery derived while holding SQLite's write lock, so six recoveries took
    GET /report from 0.02 s to 3-6 s. Each derivation now checks that the lock is free."""
    path = settings.effective_database_url.removeprefix("sqlite:///")
    held: list[str] = []
    checked: list[str] = []

    def lock_is_free(what: str) -> None:
        checked.append(what)
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:
            held.append(what)
        finally:
            probe.close()

    # The Argon2 run under every password and recovery-code derivation, peppered or not.
    real_password, real_case = crypto._password_master, crypto.derive_case_access

    def password_keys(secret: str, salt: bytes, params: crypto.Argon2Params) -> bytes:
        lock_is_free("password")
        return real_password(secret, salt, params)

    def case_access(code: str, pepper: bytes, params: crypto.Argon2Params) -> object:
        lock_is_free("case code")
        return real_case(code, pepper, params)

    with db.session_scope(engine) as s:
        invitation = accounts.create_user(
            s, username="dora", display_name="Dora", role="investigator"
        )
    monkeypatch.setattr(crypto, "_password_master", password_keys)
    monkeypatch.setattr(crypto, "derive_case_access", case_access)
    web = new_client()
    new = "another long passphrase"
    activated = post(web, f"/activate/{invitation.token}", {"password": new, "confirm": new})
    assert activated.status_code == 200
    recovery = activated.text.split('class="code"')[1].split("<strong>")[1].split("<")[0]
    recovered = post(
        web,
        "/staff/recover",
        {
            "username": "dora",
            "recovery_code": recovery,
            "password": new + "!",
            "confirm": new + "!",
        },
    )
    assert recovered.status_code == 200, recovered.text
    anna = new_client()
    login_staff(anna, "anna")
    changed = post(
        anna,
        "/staff/password",
        {"current": PASSWORD, "password": PASSWORD + "2", "confirm": PASSWORD + "2"},
    )
    assert changed.status_code == 200
    assert "error" not in changed.text.split("<main")[1][:200]
    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    login_reporter(reporter, code)
    assert held == []
    # Every derivation was checked: activation 2, recovery 1 + 2, login 1, change 1 + 1 (the
    # password ones), the report and the reporter's login (the case-code ones).
    assert checked.count("password") == 8, checked
    assert checked.count("case code") == 2, checked


# --- a busy report form keeps what was typed ------------------------------------------------


def test_a_503_on_the_report_form_shows_it_again_with_everything_typed(
    settings: Settings, engine: Engine, keys: Keys, world: World
) -> None:
    busy = settings.replace(argon2_concurrency=1, argon2_queue_seconds=0.05)
    app = create_app(busy, engine=engine, keys=keys)
    started, release = threading.Event(), threading.Event()
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert client.portal is not None
        held = client.portal.start_task_soon(app.state.ctx.deriver.run, _blocker(started, release))
        assert started.wait(timeout=60)
        try:
            response = client.post(
                "/report",
                data={
                    "csrf_token": csrf(client),
                    "category": str(world.bribery),
                    "what": TYPED,
                    "who": "Kim <på inköp>",
                    "mode": "anonymous",
                },
                files=[("files", ("kvitto.txt", b"a receipt"))],
            )
        finally:
            release.set()
        assert held.result(timeout=60) == "held"
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    page = response.text
    assert "Tjänsten är upptagen just nu" in page
    assert TYPED in page
    assert "Kim &lt;på inköp&gt;" in page
    assert "välj dem igen" in page  # files cannot be kept in a form: say so
    with Session(engine) as s:
        assert s.exec(select(Case)).first() is None
        assert s.exec(select(Attachment)).first() is None
    # The file sealed while it streamed in is gone again: nothing half-written stays on disk.
    assert not settings.blob_dir.exists() or not any(settings.blob_dir.iterdir())


# --- low disk: attachments refused, text filed ------------------------------------------------


def test_low_disk_refuses_attachments_but_files_the_text_and_warns_the_admin(
    settings: Settings,
    engine: Engine,
    keys: Keys,
    world: World,
) -> None:
    # A threshold no disk meets: the condition of a nearly full disk.
    # The check guards the files store: with the database store no file reaches this disk.
    full = settings.replace(min_free_disk_mb=10**12, blob_store="files")
    app = create_app(full, engine=engine, keys=keys)

    def browser() -> TestClient:
        return TestClient(app, base_url="https://testserver", follow_redirects=False)

    with browser() as reporter:
        receipt = reporter.post(
            "/report",
            data={
                "csrf_token": csrf(reporter),
                "category": str(world.bribery),
                "what": TYPED,
                "mode": "anonymous",
            },
            files=[("files", ("bevis.txt", b"evidence bytes"))],
        )
        assert receipt.status_code == 200
        assert "Dina filer kunde inte sparas" in receipt.text
        code = receipt.text.split("<strong>")[1].split("</strong>")[0]
        # No blob on disk, no attachment row; the report itself is filed and readable.
        with Session(engine) as s:
            assert len(s.exec(select(Case)).all()) == 1
            assert s.exec(select(Attachment)).first() is None
        blob_dir: Path = full.blob_dir
        assert not blob_dir.exists() or not any(blob_dir.iterdir())
        login_reporter(reporter, code)
        assert TYPED in reporter.get("/case").text
        # A reply with a file: the message is sent, the file refused, and the page says so.
        replied = reporter.post(
            "/case/reply",
            data={"csrf_token": csrf(reporter), "text": "Ett tillägg"},
            files=[("files", ("mer.txt", b"more"))],
        )
        assert replied.status_code == 303
        assert "nospace=1" in replied.headers["location"]
        page = reporter.get(replied.headers["location"]).text
        assert "Ett tillägg" in page
        assert "Dina filer kunde inte sparas" in page
    with browser() as english:
        english.cookies.set("whistle_lang", "en")
        answer = english.post(
            "/report",
            data={
                "csrf_token": csrf(english),
                "category": str(world.bribery),
                "what": TYPED,
                "mode": "anonymous",
            },
            files=[("files", ("proof.txt", b"evidence"))],
        )
        assert "Your files could not be stored" in answer.text
    with browser() as admin:
        login_staff(admin, "admin")
        overview = admin.get("/admin").text
        assert "Disken är nästan full" in overview
    # With room on the disk there is no warning.
    roomy = create_app(settings.replace(min_free_disk_mb=1), engine=engine, keys=keys)
    roomy.state.test_totp_steps = app.state.test_totp_steps  # TOTP steps are single-use
    with TestClient(roomy, base_url="https://testserver", follow_redirects=False) as admin:
        login_staff(admin, "admin")
        assert "Disken är nästan full" not in admin.get("/admin").text
    with Session(engine) as s:
        assert s.exec(select(User).where(User.username == "admin")).one()


def test_a_staff_request_that_times_out_in_the_queue_spends_no_budget() -> None:
    deriver = Deriver(CHEAP_ARGON2, concurrency=2, queue_seconds=0.05, staff_per_minute=2)
    started, release = threading.Event(), threading.Event()
    seen: list[object] = []

    async def scenario() -> None:
        async with anyio.create_task_group() as group:

            async def holder() -> None:
                seen.append(await deriver.run(_blocker(started, release), staff=True))

            group.start_soon(holder)
            await anyio.to_thread.run_sync(started.wait)
            for _ in range(5):  # each waits for the staff slot and gives up: nothing spent
                with pytest.raises(Overloaded):
                    await deriver.run(lambda: "queued", staff=True)
            release.set()
        seen.append(await deriver.run(lambda: "second", staff=True))
        with pytest.raises(Overloaded):  # now the two of the minute are spent
            await deriver.run(lambda: "third", staff=True)

    anyio.run(scenario)
    assert seen == ["held", "second"]
