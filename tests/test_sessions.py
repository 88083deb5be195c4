"""whistle.sessions: server-side sessions whose payload opens only with the cookie's secret."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from whistle import accounts, crypto, sessions
from whistle.models import WebSession

T0 = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
IDLE = dt.timedelta(minutes=15)
LIFETIME = dt.timedelta(hours=2)
PAYLOAD = b"unlocked private key " + bytes(range(75))


def _user(db: Session, username: str = "anna") -> str:
    return accounts.create_user(
        db, username=username, display_name=username.title(), role="investigator"
    ).user_id


def _create(db: Session, user_id: str | None = None, payload: bytes = PAYLOAD) -> str:
    cookie = sessions.create(
        db, kind="staff", payload=payload, lifetime=LIFETIME, user_id=user_id, now=T0
    )
    db.flush()
    return cookie


def _load(db: Session, cookie: str | None, at: dt.datetime, kind: str = "staff") -> bytes | None:
    loaded = sessions.load(db, cookie, kind=kind, idle=IDLE, now=at)
    return None if loaded is None else loaded.payload


def _minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def test_create_and_load(engine: Engine) -> None:
    with Session(engine) as db:
        user_id = _user(db)
        cookie = _create(db, user_id)
        session_id, _, secret = cookie.partition(".")
        assert session_id
        assert secret
        loaded = sessions.load(db, cookie, kind="staff", idle=IDLE, now=_minutes(1))
        assert loaded is not None
        assert loaded.payload == PAYLOAD
        assert loaded.kind == "staff"
        assert loaded.user_id == user_id
        assert loaded.case_id is None
        assert loaded.id_digest == crypto.digest(session_id)


def test_each_session_has_its_own_id_and_secret(engine: Engine) -> None:
    with Session(engine) as db:
        first, second = _create(db), _create(db)
        assert first.partition(".")[0] != second.partition(".")[0]
        assert first.partition(".")[2] != second.partition(".")[2]


def test_idle_expiry(engine: Engine) -> None:
    with Session(engine) as db:
        cookie = _create(db)
        assert _load(db, cookie, _minutes(14.9)) == PAYLOAD
    with Session(engine) as db:
        cookie = _create(db)
        assert _load(db, cookie, _minutes(15)) is None
        db.flush()
        # An expired row is removed when it is found.
        assert db.get(WebSession, crypto.digest(cookie.partition(".")[0])) is None


def test_activity_keeps_a_session_alive_until_its_absolute_end(engine: Engine) -> None:
    with Session(engine) as db:
        cookie = _create(db)
        # A request every ten minutes keeps the idle timer from running out...
        for minute in range(10, 120, 10):
            assert _load(db, cookie, _minutes(minute)) == PAYLOAD, minute
            db.flush()
        # ...but not past the absolute lifetime.
        assert _load(db, cookie, _minutes(120)) is None


def test_without_activity_the_idle_timer_runs_from_the_last_touch(engine: Engine) -> None:
    with Session(engine) as db:
        cookie = _create(db)
        assert _load(db, cookie, _minutes(10)) == PAYLOAD
        db.flush()
        assert _load(db, cookie, _minutes(24)) == PAYLOAD  # 14 minutes after the touch
        db.flush()
        assert _load(db, cookie, _minutes(39)) is None  # 15 minutes after the last touch


def test_wrong_secret_in_cookie_gives_nothing(engine: Engine) -> None:
    with Session(engine) as db:
        cookie = _create(db)
        session_id = cookie.partition(".")[0]
        other_secret = _create(db).partition(".")[2]
        assert _load(db, f"{session_id}.{other_secret}", _minutes(1)) is None
        # The right cookie still works: a guessed secret does not destroy the session.
        assert _load(db, cookie, _minutes(1)) == PAYLOAD


def test_unknown_session_id_gives_nothing(engine: Engine) -> None:
    with Session(engine) as db:
        cookie = _create(db)
        secret = cookie.partition(".")[2]
        assert _load(db, f"{crypto.random_token(24)}.{secret}", _minutes(1)) is None


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "",
        ".",
        "no-dot-at-all",
        ".c2VjcmV0",
        "session-id.",
        "session-id.!!!not-base64!!!",
        "session-id.c2hvcnQ",  # decodes, but not 32 bytes
        "session-id." + "A" * 250,
    ],
)
def test_malformed_cookie_gives_nothing(engine: Engine, cookie: str | None) -> None:
    with Session(engine) as db:
        _create(db)
        assert _load(db, cookie, _minutes(1)) is None
        sessions.destroy(db, cookie)  # and destroying it is harmless


def test_wrong_kind_gives_nothing(engine: Engine) -> None:
    with Session(engine) as db:
        cookie = _create(db)
        assert _load(db, cookie, _minutes(1), kind="reporter") is None
        assert _load(db, cookie, _minutes(1), kind="staff") == PAYLOAD


def test_database_holds_only_the_digest_of_the_id(engine: Engine) -> None:
    with Session(engine) as db:
        cookie = _create(db, _user(db))
        db.commit()
    session_id, _, secret_text = cookie.partition(".")
    secret = sessions._unb64(secret_text)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM web_sessions")).all()
    assert len(rows) == 1
    dump = b"\x00".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in rows[0]
    )
    assert crypto.digest(session_id) in dump
    for absent in (session_id.encode(), secret_text.encode(), secret, PAYLOAD, PAYLOAD[:16]):
        assert absent not in dump


def test_destroy(engine: Engine) -> None:
    with Session(engine) as db:
        cookie, other = _create(db), _create(db)
        sessions.destroy(db, cookie)
        assert _load(db, cookie, _minutes(1)) is None
        assert _load(db, other, _minutes(1)) == PAYLOAD


def test_destroy_for_user(engine: Engine) -> None:
    with Session(engine) as db:
        anna, bertil = _user(db, "anna"), _user(db, "bertil")
        annas = [_create(db, anna), _create(db, anna)]
        bertils = _create(db, bertil)
        sessions.destroy_for_user(db, anna)
        assert [_load(db, c, _minutes(1)) for c in annas] == [None, None]
        assert _load(db, bertils, _minutes(1)) == PAYLOAD


def test_purge_expired(engine: Engine) -> None:
    with Session(engine) as db:
        old = _create(db)
        newer = sessions.create(
            db, kind="staff", payload=PAYLOAD, lifetime=LIFETIME, now=_minutes(60)
        )
        db.flush()
        assert sessions.purge_expired(db, now=_minutes(121)) == 1
        db.flush()
        assert db.get(WebSession, crypto.digest(old.partition(".")[0])) is None
        assert db.get(WebSession, crypto.digest(newer.partition(".")[0])) is not None


def test_expired_rows_do_not_outlive_the_next_login(engine: Engine) -> None:
    # A reporter who closes the browser never comes back to that row; its times and case id
    # must not stay in the database for ever.
    with Session(engine) as db:
        abandoned = _create(db)
        sessions.create(db, kind="staff", payload=PAYLOAD, lifetime=LIFETIME, now=_minutes(121))
        db.flush()
        assert db.get(WebSession, crypto.digest(abandoned.partition(".")[0])) is None
        assert len(db.exec(select(WebSession)).all()) == 1


def _rewrite(db: Session, cookie: str, **columns: object) -> None:
    """What someone with write access to the database can do to a session row."""
    digest = crypto.digest(cookie.partition(".")[0])
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    db.execute(
        text(f"UPDATE web_sessions SET {assignments} WHERE id_digest = :digest"),
        {**columns, "digest": digest},
    )
    db.expire_all()


def test_payload_moved_to_another_kind_does_not_open(engine: Engine) -> None:
    """Finding 11: a pending login (password only) turned into a full staff session by
    rewriting its kind must not load: the second factor would be skipped."""
    with Session(engine) as db:
        anna = _user(db)
        pending = sessions.create(
            db, kind="pending", payload=PAYLOAD, lifetime=LIFETIME, user_id=anna, now=T0
        )
        db.flush()
        assert _load(db, pending, _minutes(1), kind="pending") == PAYLOAD
        _rewrite(db, pending, kind="staff")
        assert _load(db, pending, _minutes(1), kind="staff") is None


def test_payload_moved_to_another_user_does_not_open(engine: Engine) -> None:
    """Finding 11: one's own session row pointed at another account must not log in as it."""
    with Session(engine) as db:
        anna, bertil = _user(db, "anna"), _user(db, "bertil")
        cookie = _create(db, anna)
        assert _load(db, cookie, _minutes(1)) == PAYLOAD
        _rewrite(db, cookie, user_id=bertil)
        assert _load(db, cookie, _minutes(1)) is None
        # And a user-less session cannot be given a user either.
        anonymous = _create(db, None)
        _rewrite(db, anonymous, user_id=anna)
        assert _load(db, anonymous, _minutes(1)) is None


def test_payload_moved_to_another_session_id_does_not_open(engine: Engine) -> None:
    with Session(engine) as db:
        anna = _user(db)
        cookie = _create(db, anna)
        row = db.get(WebSession, crypto.digest(cookie.partition(".")[0]))
        assert row is not None
        # A new row under an id of the attacker's choosing, with the sealed payload copied.
        db.add(
            WebSession(
                id_digest=crypto.digest("chosen-id"),
                kind=row.kind,
                user_id=row.user_id,
                sealed=row.sealed,
                created_at=T0,
                last_seen_at=T0,
                expires_at=T0 + LIFETIME,
            )
        )
        db.flush()
        moved = "chosen-id." + cookie.partition(".")[2]
        assert _load(db, moved, _minutes(1)) is None
        assert _load(db, cookie, _minutes(1)) == PAYLOAD


def test_destroy_others_keeps_only_the_given_session(engine: Engine) -> None:
    with Session(engine) as db:
        anna, bertil = _user(db, "anna"), _user(db, "bertil")
        keep, other = _create(db, anna), _create(db, anna)
        pending = sessions.create(
            db, kind="pending", payload=PAYLOAD, lifetime=LIFETIME, user_id=anna, now=T0
        )
        bertils = _create(db, bertil)
        assert sessions.destroy_others(db, user_id=anna, keep=keep) == 2
        assert _load(db, keep, _minutes(1)) == PAYLOAD
        assert _load(db, other, _minutes(1)) is None
        assert _load(db, pending, _minutes(1), kind="pending") is None
        assert _load(db, bertils, _minutes(1)) == PAYLOAD
        # A malformed "keep" keeps nothing of the user's (and touches nobody else's).
        sessions.destroy_others(db, user_id=anna, keep="garbage")
        assert _load(db, keep, _minutes(1)) is None
        assert _load(db, bertils, _minutes(1)) == PAYLOAD
