"""The login page's rate limit per client address (the ``limits`` library, moving windows).

The account lockout in :mod:`grader.auth` stops guessing one account's
password; this stops one address from trying many accounts. Counters live in
Redis when the broker is Redis (shared by every web process), else in this
process's memory. If the counter store fails, logins go on (the lockout still
holds) rather than locking everyone out.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

#: Attempts per client address; ``LOGIN_RATE_LIMIT`` in the app config overrides it.
DEFAULT_LIMIT = "10/minute;50/hour"


class LoginThrottle:
    def __init__(self, limit: str, storage: Storage) -> None:
        self.items: list[RateLimitItem] = parse_many(limit)
        self.limiter = MovingWindowRateLimiter(storage)

    def hit(self, address: str) -> int | None:
        """Count one login attempt from ``address``; None if allowed, else the seconds until the next one is."""
        try:
            for item in self.items:
                if not self.limiter.hit(item, "login", address):
                    stats = self.limiter.get_window_stats(item, "login", address)
                    return max(1, math.ceil(stats.reset_time - time.time()))
        except Exception as exc:  # noqa: BLE001 - a counter store outage must not lock everyone out
            log.warning("login rate limit unavailable (%s: %s); allowing the attempt", type(exc).__name__, exc)
        return None


def init_app(app: Flask) -> None:
    settings = app.extensions["grader"].settings
    limit = str(app.config.get("LOGIN_RATE_LIMIT") or DEFAULT_LIMIT)
    broker = settings.broker_uri
    if broker.startswith(("redis://", "rediss://")):
        storage = storage_from_string(broker, key_prefix=f"{settings.broker_prefix}grader-login",
                                      socket_connect_timeout=2, socket_timeout=2)
    else:
        storage = storage_from_string("memory://")
    assert isinstance(storage, Storage)  # the synchronous kind, for these URIs
    app.extensions["grader_login_throttle"] = LoginThrottle(limit, storage)


def throttle() -> LoginThrottle:
    return current_app.extensions["grader_login_throttle"]  # type: ignore[no-any-return]
