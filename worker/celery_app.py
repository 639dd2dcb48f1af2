"""Celery wired the Flask way: ``celery_init_app(app)`` builds the Celery app from the grader's settings.

Task bodies run inside the Flask app context (``FlaskTask``), so they reach
the database through ``current_app`` like a request does. Tasks are sent by
name (:data:`GRADE_TASK`, :data:`SWEEP_TASK`) with only ids as arguments, so
the web process never imports the task module. The worker command points at
:mod:`worker.make_celery`.
"""

from __future__ import annotations

from typing import Any, Callable

from celery import Celery, Task
from flask import Flask

from grader.config import Settings

GRADE_TASK = "grader.grade_submission"
SWEEP_TASK = "grader.sweep"
LTI_PASSBACK_TASK = "grader.lti_passback"  # a student's counted scores to the LMS (grader/lti.py)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings implementing DESIGN.md's reliability model."""
    broker = settings.broker_uri
    config: dict[str, Any] = {
        "broker_url": broker,
        "task_ignore_result": True,  # results live in the database, not in a result backend
        "result_backend": None,
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        # Acknowledge after the task ran, so a message whose worker died is delivered again, and take
        # one message at a time, so a busy worker does not sit on jobs an idle one could run.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        # A broker that restarts or blips must not kill the gradings in progress: each one holds its
        # claim in the database and stores its report there, so letting it finish costs nothing, while
        # cancelling it (Celery's option) would waste the work, burn an attempt and leave the row to wait
        # for its lease. The message it cannot acknowledge is a duplicate at worst (the claim ignores it).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        # Publishing at submit time: fail fast when the broker is down (the row is safe; the sweeper
        # publishes it later) instead of keeping the student's request waiting.
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.3,
                                      "interval_max": 0.5},
        "worker_send_task_events": False,
        "worker_hijack_root_logger": False,
        "include": ["worker.tasks"],
        "beat_schedule": {
            "grader-sweep": {
                "task": SWEEP_TASK,
                "schedule": settings.sweep_seconds,
                # A sweep nobody ran in time is useless; do not let them pile up while workers are down.
                "options": {"queue": settings.queue, "expires": max(settings.sweep_seconds, 1.0)},
            },
        },
    }
    if broker.startswith("filesystem:"):
        folder = settings.broker_dir
        for sub in ("queue", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        config["broker_transport"] = "worker.broker:Transport"
        config["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            # The filesystem transport looks for new messages every second by default: a report that takes
            # 0.3 s to grade then reaches the student after a second. 50 ms costs an idle worker about 1% of a
            # core (measured), and only the embedded default uses this transport.
            "polling_interval": 0.05,
        }
    elif broker.startswith(("redis:", "rediss:")):
        config["broker_transport_options"] = {
            # Redis re-delivers an unacknowledged message after this long. It must exceed the longest
            # grading (the lease) or a job still running would be handed out twice.
            "visibility_timeout": int(max(3600, 2 * settings.lease_seconds)),
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
            "retry_on_timeout": True,
        }
        if settings.broker_prefix:
            config["broker_transport_options"]["global_keyprefix"] = settings.broker_prefix
    return config


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for ``app``; stored in ``app.extensions["celery"]``."""
    settings: Settings = app.extensions["grader"].settings

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(settings))
    celery_app.set_default()
    celery_app.flask_app = app  # for signal handlers, which run outside any task
    app.extensions["celery"] = celery_app
    return celery_app


def make_publisher(celery_app: Celery, settings: Settings, *, countdown: float | None = None
                   ) -> Callable[[int], None]:
    """A function that queues the grading of one submission id (raises if the broker is unreachable)."""

    def publish(submission_id: int) -> None:
        celery_app.send_task(GRADE_TASK, args=[int(submission_id)], queue=settings.queue, countdown=countdown)

    return publish
