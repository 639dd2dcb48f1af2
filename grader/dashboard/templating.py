"""Jinja filters and the values every page gets (the user, the queue banner)."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from typing import Any

from flask import Flask, current_app, g, request
from markupsafe import Markup, escape

from worker import __version__

log = logging.getLogger(__name__)


def when(value: datetime | None, *, seconds: bool = False) -> Markup:
    """A ``<time>`` element in UTC; the page's script rewrites it in the reader's time zone."""
    if value is None:
        return Markup("—")
    value = value.astimezone(timezone.utc)
    text = value.strftime("%a %d %b %Y, %H:%M" + (":%S" if seconds else "")) + " UTC"
    extra = " data-seconds" if seconds else ""
    return Markup(f'<time datetime="{escape(value.isoformat())}" data-local{extra}>{escape(text)}</time>')


def relative(value: datetime | None, now: datetime | None = None) -> str:
    """"in 3 days", "5 minutes ago"."""
    if value is None:
        return ""
    now = now or datetime.now(timezone.utc)
    seconds = (value - now).total_seconds()
    span = duration(abs(seconds))
    return f"in {span}" if seconds > 0 else f"{span} ago"


def duration(seconds: float | None) -> str:
    """A rounded, human length of time: "45 s", "3 minutes", "2 hours", "4 days"."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{round(seconds)} s"  # pragma: no cover


def points(value: float | None) -> str:
    """Points without a useless ".0" (17.5, 20, 3.25)."""
    if value is None:
        return "—"
    return f"{round(float(value), 2):g}"


def fromiso(value: str | datetime | None) -> datetime | None:
    """The API's ISO timestamps (``submission_dict``) back to datetimes, for :func:`when`."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def sci(value: float | None) -> str:
    """An error or a tolerance: 1e-7, 0.0889, inf."""
    from grader.dashboard.charts import fmt

    return "—" if value is None else fmt(float(value))


def percent(score: float | None, max_score: float | None) -> str:
    if score is None or not max_score:
        return ""
    return f"{100.0 * score / max_score:.0f}%"


def _page_context() -> dict[str, Any]:
    from grader.dashboard.account import current_user

    external = current_app.extensions["grader"].settings.external_url.rstrip("/")
    values: dict[str, Any] = {"current_user": None, "queue": None, "version": __version__,
                              "site_url": external or request.host_url.rstrip("/")}
    if request.blueprint not in PAGE_BLUEPRINTS:
        return values
    try:
        user = current_user()
        values["current_user"] = user
        if user is not None:
            values["queue"] = queue_banner()
    except Exception as exc:  # noqa: BLE001 - an error page must render even when the database is down
        log.warning("page context unavailable: %s: %s", type(exc).__name__, exc)
    return values


def queue_banner() -> Any:
    """The queue (once per request), for the banner: no worker, or a long wait."""
    if "queue_info" not in g:
        from grader.context import db_session, state
        from grader.dashboard.queries import queue_info

        g.queue_info = queue_info(db_session(), state().settings)
    return g.queue_info


PAGE_BLUEPRINTS = ("account", "student", "instructor")
PAGE_BLUEPRINTS += ("audit",)
PAGE_BLUEPRINTS += ("roster",)
PAGE_BLUEPRINTS += ("similarity",)
PAGE_BLUEPRINTS += ("extensions",)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(when=when, relative=relative, duration=duration, points=points, percent=percent,
                                 fromiso=fromiso, sci=sci)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.context_processor(_page_context)
