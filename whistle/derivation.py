"""Bounded Argon2 work: derivations run in worker threads, at most N at once, in two pools.

Argon2id is deliberately expensive (64 MiB per derivation by default). Running it on the event
loop would stall every other request, and running unboundedly many would let a flood of guesses
exhaust memory. Requests that cannot get a slot within the queue time get :class:`Overloaded`,
which the web layer turns into 503 with ``Retry-After``.

Reporters and staff do not compete on equal terms. All ``concurrency`` slots (the memory bound)
are open to reporters; staff derivations (login, recovery, activation, password change, an
oral report's case code) may hold at most ``staff_slots`` of them, so at least
``concurrency - staff_slots`` are always left to reporters, whatever staff traffic (or a flood
of logins with made-up usernames) does. Staff derivations are also bounded per minute in this
process: a flood of them would otherwise take CPU time from the reporters' derivations even
within its slots. Once the minute's budget is spent, further staff derivations get
:class:`Overloaded` at once, without queueing.

The case-code guessing rate is bounded by the reporters' slots, not by a lockout: see
``docs/threat-model.md`` §5.1.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from whistle import crypto

T = TypeVar("T")
STAFF_WINDOW_SECONDS = 60.0


class Overloaded(Exception):
    """No derivation slot became free in time, or the staff budget of the minute is spent."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("derivation queue full")
        self.retry_after = retry_after


class Deriver:
    def __init__(
        self,
        params: crypto.Argon2Params,
        *,
        concurrency: int,
        queue_seconds: float,
        staff_slots: int | None = None,
        staff_per_minute: int = 60,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.params = params
        self.concurrency = concurrency
        self.queue_seconds = queue_seconds
        # One slot of two by default; never all of them while there is more than one.
        default = max(1, concurrency // 2)
        self.staff_slots = min(staff_slots or default, max(1, concurrency - 1))
        self.staff_per_minute = staff_per_minute
        self._clock = clock
        self._staff_started: deque[float] = deque()
        self._limiter: anyio.CapacityLimiter | None = None
        self._staff_limiter: anyio.CapacityLimiter | None = None

    @property
    def reporter_reserved(self) -> int:
        """Slots that staff derivations can never take."""
        return self.concurrency - self.staff_slots

    def _limiters(self) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        # Created lazily: a limiter belongs to the event loop that first uses it.
        if self._limiter is None or self._staff_limiter is None:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
            self._staff_limiter = anyio.CapacityLimiter(self.staff_slots)
        return self._limiter, self._staff_limiter

    def _queue_full(self) -> Overloaded:
        return Overloaded(retry_after=max(1, math.ceil(self.queue_seconds)))

    def _staff_budget(self, weight: int, *, take: bool) -> None:
        """Refuse at once when ``weight`` more staff derivations would exceed the minute's
        budget; with ``take``, count them (only once they have a slot and will run, so that
        requests which time out in the queue spend nothing)."""
        now = self._clock()
        started = self._staff_started
        while started and started[0] <= now - STAFF_WINDOW_SECONDS:
            started.popleft()
        if len(started) + weight > self.staff_per_minute:
            oldest = started[0] if started else now
            raise Overloaded(retry_after=max(1, math.ceil(oldest + STAFF_WINDOW_SECONDS - now)))
        if take:
            started.extend([now] * weight)

    def check_staff(self, weight: int = 1) -> None:
        """Raise :class:`Overloaded` now if the staff budget of the minute is spent, so that a
        handler refuses before it even reads the database."""
        self._staff_budget(weight, take=False)

    async def _acquire(self, limiter: anyio.CapacityLimiter, deadline: float) -> bool:
        with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as scope:
            await limiter.acquire()
        return not scope.cancelled_caught

    async def run(self, fn: Callable[[], T], *, staff: bool = False, weight: int = 1) -> T:
        """Run ``fn`` (which derives ``weight`` times) in a worker thread once it has a slot."""
        total, staff_limiter = self._limiters()
        deadline = anyio.current_time() + self.queue_seconds
        if not staff:
            return await self._in_slot(total, deadline, fn)
        self.check_staff(weight)  # spent already: no point in queueing
        if not await self._acquire(staff_limiter, deadline):
            raise self._queue_full()
        try:
            self._staff_budget(weight, take=True)
            return await self._in_slot(total, deadline, fn)
        finally:
            staff_limiter.release()

    async def _in_slot(
        self, total: anyio.CapacityLimiter, deadline: float, fn: Callable[[], T]
    ) -> T:
        if not await self._acquire(total, deadline):
            raise self._queue_full()
        try:
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=False)
        finally:
            total.release()

    async def case_access(self, code: str, pepper: bytes) -> crypto.CaseAccess:
        """A reporter's derivation (a case code)."""
        return await self.run(lambda: crypto.derive_case_access(code, pepper, self.params))
