"""Limits on guessing passwords, for the login page, ``POST /api/v1/tokens`` and password changes.

Counted BEFORE any password is hashed (scrypt is slow on purpose, so an
unthrottled route would let a few connections keep the web processes busy):

- failed attempts per client address (``GRADER_LOGIN_RATE_LIMIT``, default
  ``10/minute;50/hour``): one address guessing, or spraying one password
  over many accounts. Successful logins are not counted, so a campus behind
  one address is not locked out by its own students logging in;
- failed attempts per (account, address) (``GRADER_LOGIN_MAX_FAILURES`` in
  ``GRADER_LOGIN_LOCKOUT_SECONDS``): guessing one account's password. An
  account is never locked for everyone: its owner, from another address,
  logs in as usual. Unknown emails are counted exactly like existing ones,
  so the answers (401, then 429) do not reveal which accounts exist;
- while the whole site sees more than ``GRADER_LOGIN_SPRAY_THRESHOLD``
  failures a minute (spraying from many addresses), each failure counts
  :data:`SPRAY_WEIGHT` times against its address (never against an owner's
  own (account, address) budget, and successes still cost nothing).

Each attempt is reserved before the hash is computed (so parallel requests
cannot slip under a limit together) and given back when it succeeds.
Counters are fixed windows in Redis when the broker is Redis (shared by every
web process), else in this process's memory. If the counter store fails,
attempts go on rather than locking everyone out.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from typing import Callable, TypeVar

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string

from grader.errors import LoginLocked, RateLimited, Unauthorized

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Failed attempts per client address; ``GRADER_LOGIN_RATE_LIMIT`` overrides it.
DEFAULT_LIMIT = "10/minute;50/hour"
ADDRESS_MESSAGE = "Too many login attempts from your network"
ACCOUNT_MESSAGE = "Too many failed logins for this account"


def client_network(address: str) -> str:
    """The unit the limits count: an IPv4 address, or an IPv6 address's /64 (one machine usually has a
    whole /64, so counting single IPv6 addresses would let it pick a fresh one for every attempt)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


#: While the whole site sees more failed logins a minute than ``GRADER_LOGIN_SPRAY_THRESHOLD`` (password
#: spraying from many addresses), each failure counts this many times against its address.
SPRAY_WEIGHT = 5
_GLOBAL = "global-failures/60"


class LoginGuard:
    def __init__(self, limit: str, storage: Storage, *, max_failures: int, lockout_seconds: int,
                 spray_threshold: int = 0) -> None:
        self.items: list[RateLimitItem] = parse_many(limit)
        self.storage = storage
        self.max_failures = max(1, int(max_failures))
        self.lockout_seconds = max(1, int(lockout_seconds))
        self.spray_threshold = int(spray_threshold)

    def under_attack(self) -> bool:
        """More failed logins in the current minute, site-wide, than the spray threshold."""
        return self.spray_threshold > 0 and self.storage.get(_GLOBAL) >= self.spray_threshold

    # ------------------------------------------------------------------ counters

    def _keys(self, email: str, address: str) -> list[tuple[str, int, int, str]]:
        """(key, limit, window seconds, message) for every counter one attempt is charged to."""
        address = client_network(address)
        account = hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]
        keys = [(f"addr/{item.amount}/{item.get_expiry()}/{address}", item.amount, item.get_expiry(),
                 ADDRESS_MESSAGE) for item in self.items]
        keys.append((f"pair/{account}/{address}", self.max_failures, self.lockout_seconds, ACCOUNT_MESSAGE))
        return keys

    def _retry_after(self, key: str) -> int:
        try:
            return max(1, math.ceil(self.storage.get_expiry(key) - time.time()))
        except Exception:  # noqa: BLE001
            return 60

    def reserve(self, email: str, address: str) -> list[tuple[str, int, int]]:
        """Charge one attempt to every counter, or raise 429 (nothing charged for the counter that refused).

        Returns what was charged, for :meth:`refund`.
        """
        charged: list[tuple[str, int, int]] = []
        try:
            weight = SPRAY_WEIGHT if self.under_attack() else 1
            for key, limit, window, message in self._keys(email, address):
                amount = 1 if key.startswith("pair/") else weight  # an owner's own budget never shrinks
                if self.storage.incr(key, window, amount) > limit:
                    self.storage.incr(key, window, -amount)
                    wait = self._retry_after(key)
                    error = (LoginLocked if message == ACCOUNT_MESSAGE else RateLimited)(
                        f"{message}. Please wait and try again.", retry_after=wait)
                    raise error
                charged.append((key, window, amount))
        except RateLimited:
            raise
        except Exception as exc:  # noqa: BLE001 - a counter store outage must not lock everyone out
            log.warning("login limits unavailable (%s: %s); allowing the attempt", type(exc).__name__, exc)
        return charged

    def refund(self, charged: list[tuple[str, int, int]], *, success: bool) -> None:
        """Give back a reserved attempt that did not fail; a success also clears the (account, address) count."""
        try:
            for key, window, amount in charged:
                if success and key.startswith("pair/"):
                    self.storage.clear(key)
                else:
                    amount = min(amount, self.storage.get(key))
                    if amount > 0:
                        self.storage.incr(key, window, -amount)
        except Exception as exc:  # noqa: BLE001
            log.warning("login limits unavailable (%s: %s)", type(exc).__name__, exc)

    # ------------------------------------------------------------------ the one entry point

    def attempt(self, email: str, address: str, check: Callable[[], T]) -> T:
        """Run ``check`` (which hashes the password) if the limits allow it; count it only if it fails
        with :class:`Unauthorized`. Raises 429 (:class:`RateLimited`/:class:`LoginLocked`) before hashing."""
        charged = self.reserve(email, address or "unknown")
        try:
            result = check()
        except Unauthorized:
            try:
                self.storage.incr(_GLOBAL, 60, 1)
            except Exception as exc:  # noqa: BLE001
                log.warning("login limits unavailable (%s: %s)", type(exc).__name__, exc)
            raise  # a failure: it stays counted
        except BaseException:
            self.refund(charged, success=False)
            raise
        self.refund(charged, success=True)
        return result


class UploadRejections:
    """Uploads refused as ungradable (empty, binary, not UTF-8, syntax errors, too large), per student:
    their own limit (``GRADER_MAX_REJECTED_UPLOADS_PER_HOUR``), looser than the submissions' one, since
    rejected uploads never count as submissions but each one costs the web server a compilation."""

    def __init__(self, storage: Storage, per_hour: int) -> None:
        self.storage = storage
        self.limit = int(per_hour)

    def _key(self, key: str) -> str:
        return f"rejected/{self.limit}/{key}"

    def retry_after(self, key: str) -> int | None:
        if self.limit <= 0:
            return None
        try:
            if self.storage.get(self._key(key)) >= self.limit:
                return max(1, math.ceil(self.storage.get_expiry(self._key(key)) - time.time()))
        except Exception as exc:  # noqa: BLE001
            log.warning("upload limits unavailable (%s: %s)", type(exc).__name__, exc)
        return None

    def hit(self, key: str) -> None:
        if self.limit <= 0:
            return
        try:
            self.storage.incr(self._key(key), 3600, 1)
        except Exception as exc:  # noqa: BLE001
            log.warning("upload limits unavailable (%s: %s)", type(exc).__name__, exc)


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
    app.extensions["grader_login_throttle"] = LoginGuard(limit, storage, max_failures=settings.login_max_failures,
                                                         lockout_seconds=settings.login_lockout_seconds,
                                                         spray_threshold=settings.login_spray_threshold)
    app.extensions["grader_upload_rejections"] = UploadRejections(storage, settings.max_rejected_uploads_per_hour)


def upload_rejections() -> UploadRejections:
    return current_app.extensions["grader_upload_rejections"]  # type: ignore[no-any-return]


def guard() -> LoginGuard:
    return current_app.extensions["grader_login_throttle"]  # type: ignore[no-any-return]


throttle = guard  # the old name
