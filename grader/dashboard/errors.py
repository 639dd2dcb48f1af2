"""Error pages for the dashboard: a readable page with the right status code, never a stack trace.

Registered on the page blueprints only; the JSON API keeps its JSON errors.
Handlers are registered for each HTTP status code, because the app's own
code-specific handlers (the API's 413) would otherwise be found first.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, default_exceptions

from grader.db import DatabaseUnavailable, is_connection_error
from grader.errors import ServiceError

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not right now",
    413: "File too large",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    return f"{round(n / 1024)} KiB"


def error_page(status: int, message: str, *, retry_after: int | None = None, title: str | None = None,
               headers: dict[str, str] | None = None) -> Any:
    """The error template with ``status`` (and ``Retry-After``)."""
    from grader.dashboard.account import current_user

    try:
        user = current_user()
    except Exception:  # noqa: BLE001 - the database may be what failed
        user = None
    body = render_template("error.html", status=status, title=title or TITLES.get(status, "Error"),
                           message=message, retry_after=retry_after, user=user)
    response = current_app.make_response((body, status))
    for key, value in (headers or {}).items():
        response.headers[key] = value
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after)))
    return response


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")}
    retry = headers.pop("Retry-After", None)
    if isinstance(exc, CSRFError):
        return error_page(400, "This form was not sent from a page of this site, or the page is too old. "
                               "Go back, reload the page, and try again.", title="Form expired")
    if isinstance(exc, RequestEntityTooLarge) or status == 413:
        from worker.engine import MAX_FILE_BYTES

        limit = int(current_app.config.get("MAX_CONTENT_LENGTH") or 0)
        return error_page(413, f"The upload is too large: each file may be at most {_size(MAX_FILE_BYTES)}"
                               + (f", and everything sent at once at most {_size(limit)}" if limit else "")
                               + ". Go back and choose a smaller file (the starter file is only a few KiB).")
    # A description given with abort(code, "...") is meant for the reader; werkzeug's defaults are not.
    custom = exc.description if exc.description and exc.description != type(exc).description else None
    if status == 401:
        message = "You need to log in to do this."
    elif status == 404:
        message = "There is no such page, or it is not yours to see."
    elif status == 403:
        message = custom or "This page is for instructors."
    elif status == 405:
        message = "This address does not accept that kind of request."
    else:
        message = custom or TITLES.get(status, "Error")
    return error_page(status, message, retry_after=int(retry) if retry and retry.isdigit() else None,
                      headers=headers)


def _service_error(exc: ServiceError) -> Any:
    return error_page(exc.status, exc.message or TITLES.get(exc.status, "Error"), retry_after=exc.retry_after)


def _database_error(exc: Exception) -> Any:
    if isinstance(exc, DBAPIError) and not is_connection_error(exc):
        return _unexpected(exc)
    return error_page(503, "The database cannot be reached right now. Nothing was changed; "
                           "please try again in a few seconds.", retry_after=5)


def _unexpected(exc: Exception) -> Any:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(500, "The page failed to load because of an error in the grader. "
                           "It has been logged; please try again, or tell the course staff.")


def attach(bp: Blueprint) -> None:
    """Give ``bp`` HTML error pages (call before the blueprint is first registered)."""
    for code in default_exceptions:
        if code >= 400:
            bp.register_error_handler(code, _http_error)
    bp.register_error_handler(ServiceError, _service_error)
    bp.register_error_handler(DatabaseUnavailable, _database_error)
    bp.register_error_handler(DBAPIError, _database_error)
    bp.register_error_handler(Exception, _unexpected)
