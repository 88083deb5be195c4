"""The staff second factor (TOTP, RFC 6238): enrolment, checking, and the account's budget,
which security keys (whistle/security_keys.py) share.

The TOTP secret is stored only sealed under the password's key-encryption key, so a stolen
database does not give it; the last accepted time step stops a code being used twice.

Wrong codes are counted on the account (``users.factor_failures``), not on the pending login:
a fresh password login does not reset the count, only a correct code does. After
``FACTOR_BUDGET`` wrong codes the second step refuses every code, the right one too, until
``users.factor_locked_until``; each further round doubles the wait, up to ``FACTOR_LOCK_MAX``.
Only someone who has the password reaches this step, so only they can trip the lock; the
recovery code lifts it (``accounts.recover``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, update
from sqlmodel import Session, col

from whistle import crypto
from whistle.models import User, utcnow

FACTOR_BUDGET = 5  # wrong second-factor codes per account before the second step locks
FACTOR_LOCK = dt.timedelta(minutes=15)  # the first lock; each further round doubles it
FACTOR_LOCK_MAX = dt.timedelta(hours=24)


class SecondFactorLocked(Exception):
    """Too many wrong second-factor codes for this account: every code is refused until
    ``until``."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__("second factor locked")
        self.until = until


def accept_code(db: Session, *, user_id: str, secret: bytes, code: str, at: float) -> User | None:
    """The active user, with the code's time step remembered so it cannot be used again; None
    when the code is wrong, already used, or the account is not active. Not counted: callers
    count the try (:func:`count_try`, :func:`settle_try`) or, at enrolment, prove the app."""
    user = db.get(User, user_id)
    if user is None or user.status != "active":
        return None
    step = crypto.totp_verify(secret, code, at=at, after_step=user.totp_last_step)
    if step is None:
        return None
    user.totp_last_step = step
    db.add(user)
    return user


def enrol_second_factor(
    db: Session, *, user_id: str, kek: bytes, secret: bytes, code: str, at: float
) -> bool:
    """Store the TOTP secret once the user has proved their app produces its codes."""
    user = accept_code(db, user_id=user_id, secret=secret, code=code, at=at)
    if user is None:
        return False
    user.totp_sealed = crypto.seal(kek, secret, purpose="totp-secret", case_id="", item_id=user.id)
    return True


def count_try(db: Session, *, user_id: str, now: dt.datetime) -> User | None:
    """Count a second-factor try against the account before it is checked (TOTP code or
    security key alike); raises :class:`SecondFactorLocked` while the budget is used up.

    One UPDATE counts and takes the row's write lock: tries sent in parallel queue behind
    each other and each one is counted."""
    unlocked = or_(col(User.factor_locked_until).is_(None), col(User.factor_locked_until) <= now)
    counted = db.exec(
        update(User)
        .where(col(User.id) == user_id, unlocked)
        .values(factor_failures=User.factor_failures + 1)
        .execution_options(synchronize_session=False)
    )
    user = db.get(User, user_id)
    if user is None:
        return None
    db.refresh(user)
    if counted.rowcount == 0:
        raise SecondFactorLocked(user.factor_locked_until or now)
    return user


def settle_try(db: Session, *, user: User, ok: bool, now: dt.datetime) -> None:
    """After :func:`count_try`: a right answer clears the count, a wrong one may lock."""
    if ok:
        user.factor_failures = 0
        user.factor_locked_until = None
    elif user.factor_failures % FACTOR_BUDGET == 0:
        rounds = min(user.factor_failures // FACTOR_BUDGET, 16)
        user.factor_locked_until = now + min(FACTOR_LOCK * 2 ** (rounds - 1), FACTOR_LOCK_MAX)
    db.add(user)


def check_second_factor(
    db: Session,
    *,
    user_id: str,
    secret: bytes,
    code: str,
    at: float,
    now: dt.datetime | None = None,
) -> bool:
    """A TOTP code for this user, not used before (the accepted step is remembered).

    Raises :class:`SecondFactorLocked` while the account's budget is used up, whatever the
    code. The budget is the account's, not the login's: a fresh password login does not reset
    it, only a correct code does.
    """
    moment = now or utcnow()
    user = count_try(db, user_id=user_id, now=moment)
    if user is None:
        return False
    ok = accept_code(db, user_id=user_id, secret=secret, code=code, at=at) is not None
    settle_try(db, user=user, ok=ok, now=moment)
    return ok
