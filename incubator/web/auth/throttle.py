"""Failed logins slow down the one who fails, never the account's owner elsewhere.

Counting failures per email would let anyone lock an owner out by typing wrong passwords for
their address. So failures are counted per client address and per (email, address): after a
few free failures each further one blocks that scope for a growing delay (1 s, 2 s, 4 s, ...,
capped), answered with 429 and ``Retry-After``. The owner at another address is a different
scope and gets in; a guesser spreading one email over many addresses still pays per address,
and one address trying many emails is slowed by the address scope.

The counts live in the rate limiter's storage (memory, or Redis with several web hosts), whose
counters expire by themselves; a success clears the (email, address) scope. With the limiter
switched off (``RATELIMIT_ENABLED=False``, e.g. when a proxy limits requests) it has no storage,
so the counts go to an in-memory storage of the app's own: failed logins are slowed either way.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import current_app
from limits.storage import MemoryStorage, Storage

from incubator.extensions import limiter

# Failures are forgotten this long after the first of a series.
FAILURE_WINDOW_SECONDS = 60 * 60
# One address may serve a whole office; it gets this many times the free failures of a pair.
ADDRESS_ALLOWANCE_FACTOR = 10
MAX_EMAIL_LENGTH = 320


def delay_after(failures: int, free: int, cap: int) -> int:
    """Seconds to wait after the ``failures``-th failure: none while free, then doubling."""
    if failures <= free:
        return 0
    return min(2 ** min(failures - free - 1, 30), cap)


@dataclass(frozen=True)
class _Scope:
    key: str
    free: int


def _storage() -> Storage:
    if current_app.config.get("RATELIMIT_ENABLED", True):
        return limiter.storage
    storage: Storage = current_app.extensions.setdefault("login_throttle_storage", MemoryStorage())
    return storage


class LoginThrottle:
    def __init__(self, email: str, address: str | None) -> None:
        config = current_app.config
        self.free = int(config["LOGIN_FREE_FAILURES"])
        self.cap = int(config["LOGIN_MAX_DELAY_SECONDS"])
        address = address or "-"
        email = email.strip().lower()[:MAX_EMAIL_LENGTH]  # a key, not a place for a megabyte of form data
        self.pair = _Scope(f"login-failures:pair:{email}|{address}", self.free)
        self.address = _Scope(f"login-failures:address:{address}", self.free * ADDRESS_ALLOWANCE_FACTOR)

    def retry_after(self) -> int:
        """Seconds the client must still wait before another attempt; 0 when it may try."""
        storage = _storage()
        waits = [math.ceil(storage.get_expiry(_block_key(scope)) - time.time())
                 for scope in (self.pair, self.address) if storage.get(_block_key(scope))]
        return max([wait for wait in waits if wait > 0], default=0)

    def record_failure(self) -> None:
        storage = _storage()
        for scope in (self.pair, self.address):
            failures = storage.incr(scope.key, FAILURE_WINDOW_SECONDS)
            delay = delay_after(failures, scope.free, self.cap)
            if delay:
                storage.incr(_block_key(scope), delay)

    def record_success(self) -> None:
        # Only the pair: logging in to an account of one's own must not reset an address that
        # is guessing at others.
        storage = _storage()
        storage.clear(self.pair.key)
        storage.clear(_block_key(self.pair))


def _block_key(scope: _Scope) -> str:
    return scope.key.replace("login-failures:", "login-blocked:", 1)
