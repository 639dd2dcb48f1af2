"""The service layer's exceptions, in one place.

Each carries a message meant for the person who made the request; the API
maps them to status codes (``status``), the CLI to one line on stderr.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: the request cannot be done, and the message says why."""

    status = 400

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Invalid(ServiceError):
    """Bad input: a file that cannot be graded, a malformed field."""

    status = 400


class Unauthorized(ServiceError):
    """No, an unknown, an expired or a revoked credential."""

    status = 401


class Forbidden(ServiceError):
    """Authenticated, but not allowed (a student on an instructor route, a submission after the hard deadline)."""

    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """The state does not allow it (an existing user, a regrade of a submission being graded)."""

    status = 409


class TooLarge(ServiceError):
    status = 413


class RateLimited(ServiceError):
    """Too many submissions too fast; ``retry_after`` says when the next one is accepted."""

    status = 429


class LoginLocked(RateLimited):
    pass


class Unavailable(ServiceError):
    """The database is unreachable right now; nothing was stored, the request can be repeated."""

    status = 503
