"""Bounded Argon2 work: derivations run in worker threads, at most N at once.

Argon2id is deliberately expensive (64 MiB per derivation by default). Running it on the event
loop would stall every other request, and running unboundedly many would let a flood of guesses
exhaust memory. Requests that cannot get a slot within the queue time get :class:`Overloaded`,
which the web layer turns into 503 with ``Retry-After``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from whistle import crypto

T = TypeVar("T")


class Overloaded(Exception):
    """No derivation slot became free in time."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("derivation queue full")
        self.retry_after = retry_after


class Deriver:
    def __init__(self, params: crypto.Argon2Params, *, concurrency: int, queue_seconds: float):
        self.params = params
        self.concurrency = concurrency
        self.queue_seconds = queue_seconds
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def memory_bound_kib(self) -> int:
        """Upper bound of memory spent on derivations at any moment."""
        return self.concurrency * self.params.memory_kib

    def _get_limiter(self) -> anyio.CapacityLimiter:
        # Created lazily: a limiter belongs to the event loop that first uses it.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        return self._limiter

    async def run(self, fn: Callable[[], T]) -> T:
        limiter = self._get_limiter()
        with anyio.move_on_after(self.queue_seconds) as scope:
            await limiter.acquire()
        if scope.cancelled_caught:
            raise Overloaded(retry_after=max(1, math.ceil(self.queue_seconds)))
        try:
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=False)
        finally:
            limiter.release()

    async def case_access(self, code: str, pepper: bytes) -> crypto.CaseAccess:
        return await self.run(lambda: crypto.derive_case_access(code, pepper, self.params))

    async def password_keys(self, secret: str, salt: bytes) -> crypto.PasswordKeys:
        return await self.run(lambda: crypto.derive_password_keys(secret, salt, self.params))
