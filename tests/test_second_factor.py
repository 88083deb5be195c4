"""whistle.second_factor: TOTP codes and the account-wide budget for wrong ones (finding 7)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tests.helpers import CHEAP_ARGON2
from tests.test_accounts import T0, _activate, _invite
from whistle import accounts, crypto, second_factor
from whistle.models import User

SECRET = b"s" * 20


def _factor(db: Session, user_id: str, code: str, at: dt.datetime) -> bool:
    return second_factor.check_second_factor(
        db, user_id=user_id, secret=SECRET, code=code, at=at.timestamp(), now=at
    )


def _wrong(at: dt.datetime) -> str:
    right = crypto.totp_code(SECRET, at=at.timestamp())
    return "000000" if right != "000000" else "111111"


def test_second_factor_failures_lock_the_account_and_the_right_code_waits(
    engine: Engine,
) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db))
        uid = db.exec(select(User.id).where(User.username == "anna")).one()
        for i in range(second_factor.FACTOR_BUDGET):
            assert not _factor(db, uid, _wrong(T0), T0 + dt.timedelta(seconds=i))
        db.commit()  # persisted on the account, not in any login
        user = db.get(User, uid)
        assert user is not None
        assert user.factor_failures == second_factor.FACTOR_BUDGET
        assert user.factor_locked_until == T0 + dt.timedelta(seconds=4) + second_factor.FACTOR_LOCK
        during = T0 + dt.timedelta(minutes=10)
        right = crypto.totp_code(SECRET, at=during.timestamp())
        with pytest.raises(second_factor.SecondFactorLocked) as info:
            _factor(db, uid, right, during)
        assert info.value.until == user.factor_locked_until
        db.rollback()
        # Refused tries while locked are not counted (nothing to gain, nothing to extend).
        assert db.get(User, uid).factor_failures == second_factor.FACTOR_BUDGET
        after = T0 + dt.timedelta(minutes=16)
        # Once the lock ends the budget is one more round: five more wrong codes lock for longer.
        for i in range(second_factor.FACTOR_BUDGET):
            assert not _factor(db, uid, _wrong(after), after + dt.timedelta(seconds=i))
        user = db.get(User, uid)
        assert user is not None
        assert (
            user.factor_locked_until
            == after + dt.timedelta(seconds=4) + 2 * second_factor.FACTOR_LOCK
        )
        much_later = after + dt.timedelta(hours=1)
        assert _factor(db, uid, crypto.totp_code(SECRET, at=much_later.timestamp()), much_later)
        assert user.factor_failures == 0
        assert user.factor_locked_until is None


def test_second_factor_lock_is_capped(engine: Engine) -> None:
    with Session(engine) as db:
        _activate(db, _invite(db))
        user = db.exec(select(User).where(User.username == "anna")).one()
        user.factor_failures = 40 * second_factor.FACTOR_BUDGET - 1
        db.add(user)
        db.flush()
        assert not _factor(db, user.id, _wrong(T0), T0)
        db.commit()
        db.refresh(user)
        assert user.factor_locked_until == T0 + second_factor.FACTOR_LOCK_MAX


def test_the_recovery_code_lifts_the_lock(engine: Engine) -> None:
    from tests.test_accounts import PASSWORD_KEY
    from tests.test_staff_accounts import NEW_PASSWORD

    with Session(engine) as db:
        recovery = _activate(db, _invite(db))
        assert recovery is not None
        user = db.exec(select(User).where(User.username == "anna")).one()
        user.factor_failures, user.factor_locked_until = 5, T0 + dt.timedelta(hours=1)
        db.add(user)
        db.flush()
        accounts.recover(
            db,
            username="anna",
            recovery_code=recovery,
            password=NEW_PASSWORD,
            confirm=NEW_PASSWORD,
            params=CHEAP_ARGON2,
            password_key=PASSWORD_KEY,
        )
        db.flush()
        assert user.factor_failures == 0
        assert user.factor_locked_until is None
