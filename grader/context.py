"""What one process of the service holds: settings, database, Celery app; and the per-request session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from grader.config import Settings
from grader.db import Database

if TYPE_CHECKING:
    from celery import Celery


@dataclass
class GraderState:
    settings: Settings
    db: Database
    celery: "Celery | None" = None

    @property
    def publish(self) -> Callable[[int], None]:
        """Queues the grading of a submission id (see :func:`worker.celery_app.make_publisher`)."""
        from worker.celery_app import make_publisher

        assert self.celery is not None, "celery_init_app(app) was not called"
        return make_publisher(self.celery, self.settings)


def state() -> GraderState:
    return current_app.extensions["grader"]  # type: ignore[no-any-return]


def db_session() -> Session:
    """The request's database session (closed when the request ends)."""
    if "db_session" not in g:
        g.db_session = state().db.sessionmaker()
    return g.db_session  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close_session(_exc: Any) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
