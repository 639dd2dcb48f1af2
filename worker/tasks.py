"""The Celery tasks: grade one submission, sweep what was left behind; and the worker's heartbeat.

Tasks take ids only and have stable names (renaming one would strand the
messages already queued under the old name). Each worker process creates ONE
sandbox launcher (:func:`worker.sandbox.default_launcher`) when it starts and
reuses it for every job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from celery import shared_task, signals
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from grader import submissions
from grader.context import GraderState
from grader.db import DatabaseUnavailable, retrying
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, StatementError
from worker import __version__
from worker.assignments import AssignmentError, get_assignment
from worker.celery_app import GRADE_TASK, LTI_PASSBACK_TASK, SWEEP_TASK, make_publisher
from worker.engine import grade
from worker.sandbox import Launcher, default_launcher
from worker.sandbox.sanitize import safe_text

log = logging.getLogger(__name__)


def _state() -> GraderState:
    return current_app.extensions["grader"]  # type: ignore[no-any-return]


def _retry_delay(attempt: int) -> float:
    return float(min(60, 5 * 2 ** (attempt - 1)))


@shared_task(name=GRADE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(DatabaseUnavailable,), retry_backoff=2, retry_backoff_max=60, max_retries=10)
def grade_submission(self: Any, submission_id: int) -> str:
    """Claim, grade and store one submission. Returns what happened (for the worker's log)."""
    state = _state()
    settings = state.settings
    worker_name = getattr(self.request, "hostname", None) or socket.gethostname()

    def take() -> submissions.Claim | None:
        with state.db.session() as session:
            return submissions.claim_next(session, settings, int(submission_id), worker_name)  # fair queue

    try:
        sandbox: Launcher = default_launcher()  # one per process, created on first use and reused
    except Exception as exc:  # noqa: BLE001 - the sandbox cannot start here: an operator problem
        # Before claiming, so no attempt is used up; the message comes back after a pause.
        log.error("submission %s: the sandbox is unavailable (%s); see `grader doctor`", submission_id, exc)
        raise self.retry(countdown=60, max_retries=None) from None
    claim = retrying(take)
    if claim is None:
        log.info("submission %s: nothing to claim (already graded, or being graded elsewhere)", submission_id)
        return "skipped"
    if claim.submission_id != int(submission_id):
        log.info("message for submission %s: submission %s is fairer, grading it first",
                 submission_id, claim.submission_id)
    log.info("submission %s: grading %s, attempt %d", claim.submission_id, claim.assignment_id, claim.attempt)
    try:
        assignment = get_assignment(claim.assignment_id, settings.assignments_dir)
        report = grade(assignment, claim.files, launcher=sandbox)
    except SoftTimeLimitExceeded:
        return _give_back(state, claim, f"grading took longer than {settings.task_soft_time_limit:g} s")
    except AssignmentError as exc:
        return _give_back(state, claim, f"the assignment could not be loaded: {exc}")
    except Exception as exc:  # noqa: BLE001 - anything else is the grader's fault, never the student's
        log.exception("submission %s: grading crashed", claim.submission_id)
        return _give_back(state, claim, f"{type(exc).__name__}: {exc}")
    if report.get("status") == "error" and report.get("error_kind") == "infrastructure":
        return _give_back(state, claim, str(report.get("error", "the sandbox failed")))

    stored = store_report(state, claim, report)
    if stored is None:
        return "error (report refused by the database)"
    if not stored:
        log.warning("submission %s: lease lost before the report was stored; another attempt owns it",
                    claim.submission_id)
        return "lease lost"
    log.info("submission %s: %s, %.4g / %.4g", claim.submission_id, report.get("status"),
             report.get("score", 0.0), report.get("max_score", 0.0))
    _after_grading(state, claim.submission_id)
    return str(report.get("status"))


def _after_grading(state: GraderState, submission_id: int) -> None:
    """A stored report may change the student's counted scores: queue their LMS passback (LTI), if they have
    one. Never fails the grading (the passback is its own task, retried; `grader lti sync` resends)."""
    try:
        from grader import lti
        from grader.models import Submission

        with state.db.session() as session:
            user_id = session.scalar(select(Submission.user_id).where(Submission.id == submission_id))
        if user_id is not None:
            lti.queue_passback(state, user_id)
    except Exception as exc:  # noqa: BLE001
        log.warning("submission %s: could not queue the LMS passback: %s", submission_id, exc)


@shared_task(name=LTI_PASSBACK_TASK, bind=True, acks_late=True, ignore_result=True)
def lti_passback(self: Any, user_id: int) -> str:
    """Send a student's counted scores to the LMS line items they have (LTI 1.3 Assignment and Grade
    Services). Scores the LMS cannot take now (unreachable, 5xx, 429) are retried with a growing delay; the
    score is computed again on each try, so a retry never sends an outdated one."""
    from grader import lti

    state = _state()
    try:
        result = lti.send_scores(state.db, state.settings, user_id=int(user_id))
    except DatabaseUnavailable as exc:
        raise self.retry(countdown=lti.retry_delay(self.request.retries), max_retries=lti.PASSBACK_RETRIES,
                         exc=exc) from None
    if result.retry:
        if self.request.retries >= lti.PASSBACK_RETRIES:
            log.error("LTI passback of user %s: giving up after %d tries (`grader lti sync` resends): %s",
                      user_id, self.request.retries + 1, result.retry)
            return f"gave up: {result.summary()}"
        log.warning("LTI passback of user %s: retry %d in %.3g s: %s", user_id, self.request.retries + 1,
                    lti.retry_delay(self.request.retries), result.retry)
        raise self.retry(countdown=lti.retry_delay(self.request.retries), max_retries=lti.PASSBACK_RETRIES)
    log.info("LTI passback of user %s: %s", user_id, result.summary())
    return result.summary()


def store_report(state: GraderState, claim: submissions.Claim, report: dict[str, Any]) -> bool | None:
    """Store the report (retrying while the database is unreachable). True: stored; False: the lease was
    lost; None: the database refused the report itself (a reason in the data, which a retry would only
    repeat), so the submission ended in ``error`` with that reason at once."""

    def store() -> bool:
        with state.db.session() as session:
            return submissions.finish(session, claim, report)

    try:
        return retrying(store, attempts=6, first_delay=0.5)
    except DatabaseUnavailable:
        raise  # the database is down: Celery retries the task, the lease keeps the row
    except (DBAPIError, StatementError, ValueError, TypeError, OverflowError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = safe_text(f"the grading report could not be stored: {type(exc).__name__}: "
                           f"{detail[0] if detail else ''}", 1000)
        log.error("submission %s: %s", claim.submission_id, reason)

        def fail() -> bool:
            with state.db.session() as session:
                return submissions.fail(session, claim, reason)

        retrying(fail)
        return None


def _give_back(state: GraderState, claim: submissions.Claim, reason: str) -> str:
    """A failure that is not the student's: queue the submission again after a pause, or give up."""
    log.warning("submission %s: attempt %d failed: %s", claim.submission_id, claim.attempt, reason)

    def release() -> str:
        with state.db.session() as session:
            return submissions.release(session, state.settings, claim, reason)

    status = retrying(release)
    if status == "queued":
        publish = make_publisher(state.celery, state.settings, countdown=_retry_delay(claim.attempt))
        with state.db.session() as session:
            submissions.enqueue(session, publish, claim.submission_id)
    return f"released ({status or 'lease lost'})"


@shared_task(name=SWEEP_TASK, ignore_result=True)
def sweep() -> dict[str, list[int]]:
    """Re-queue expired leases and stuck ``queued`` rows (run by beat every ``GRADER_SWEEP_SECONDS``)."""
    state = _state()
    with state.db.session() as session:
        return submissions.sweep(session, state.settings, state.publish).as_dict()


# --------------------------------------------------------------------------- worker process life


class Heartbeat(threading.Thread):
    """Writes this worker's row in ``worker_heartbeats`` every ``heartbeat_seconds`` until stopped.

    It runs in the worker's main process, which stays alive when its pool cannot run tasks (a pool process
    that never starts; or, with billiard's threaded pool (the filesystem broker), a pool process the hard time
    limit killed while it held the lock of the queues all pool processes share: the next one blocks on it with
    the task it took). So the beat also watches the pool: while a task this worker received has not started for
    ``worker_stall_seconds``, it stops beating and removes its row (the worker is not "alive" for the API or
    ``grader submit --wait``), and logs why; it beats again once the pool takes tasks.
    """

    def __init__(self, state: GraderState, hostname: str, concurrency: int) -> None:
        super().__init__(name="grader-heartbeat", daemon=True)
        self.state, self.hostname, self.concurrency = state, hostname, concurrency
        self.stopped = threading.Event()
        self.waiting_since: dict[str, float] = {}  # task id -> when the beat first saw it received, not started
        self.stalled = False

    def beat_once(self) -> None:
        with self.state.db.session() as session:
            submissions.beat(session, self.hostname, os.getpid(), self.concurrency, __version__)

    def stalled_tasks(self, now: float | None = None) -> list[tuple[str, float]]:
        """The tasks received and not started for longer than ``worker_stall_seconds``: (id, seconds)."""
        from celery.worker import state as worker_state

        now = time.monotonic() if now is None else now
        try:  # weak sets the consumer changes in the main thread: a copy can meet a change, then try next beat
            active = {request.id for request in list(worker_state.active_requests)}
            waiting = {request.id for request in list(worker_state.reserved_requests)} - active
        except RuntimeError:
            waiting = set(self.waiting_since)
        self.waiting_since = {task_id: self.waiting_since.get(task_id, now) for task_id in waiting}
        limit = self.state.settings.worker_stall_seconds
        return sorted(((task_id, now - since) for task_id, since in self.waiting_since.items()
                       if now - since > limit), key=lambda item: -item[1])

    def check_pool(self) -> bool:
        """True when the pool runs the tasks it is given; logs the change when it stops or resumes."""
        stalled = self.stalled_tasks()
        if stalled and not self.stalled:
            log.error("the pool has not started %d received task(s) for %.0f s (%s): this worker stops its "
                      "heartbeat and no longer counts as running; restart it (its submissions are recovered "
                      "by the sweeper)", len(stalled), stalled[0][1], ", ".join(task_id for task_id, _ in stalled))
            try:
                with self.state.db.session() as session:
                    submissions.forget_worker(session, self.hostname)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not remove the heartbeat row: %s", exc)
        elif not stalled and self.stalled:
            log.warning("the pool takes tasks again: heartbeat resumed")
        self.stalled = bool(stalled)
        return not stalled

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                if self.check_pool():
                    self.beat_once()
            except Exception as exc:  # noqa: BLE001 - keep beating once the database is back
                log.warning("heartbeat failed: %s", exc)
            self.stopped.wait(self.state.settings.heartbeat_seconds)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)  # a beat in flight would otherwise write the row again after it is removed
        try:
            with self.state.db.session() as session:
                submissions.forget_worker(session, self.hostname)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not remove the heartbeat row: %s", exc)


_heartbeat: Heartbeat | None = None


def _state_outside_task() -> GraderState | None:
    """The grader state in a signal handler (no app context there): the Flask app hangs off the Celery app."""
    from celery import current_app as celery_current

    flask_app = getattr(celery_current, "flask_app", None)
    return flask_app.extensions["grader"] if flask_app is not None else None


@signals.worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    state = _state_outside_task()
    if state is not None:
        state.db.dispose()  # connections inherited from the parent must not be shared
    try:
        default_launcher()  # start the sandbox now rather than during the first job
    except Exception as exc:  # noqa: BLE001 - reported again, with a retry, when a job needs it
        log.error("the sandbox could not start in this worker process: %s", exc)


@signals.worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    global _heartbeat
    state = _state_outside_task()
    if state is None:
        return
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    concurrency = int(getattr(getattr(sender, "controller", None), "concurrency", 0) or 1)
    _heartbeat = Heartbeat(state, hostname, concurrency)
    _heartbeat.start()
    # Recover at once what a previous crash left behind instead of waiting for the first beat.
    try:
        sender.app.send_task(SWEEP_TASK, queue=state.settings.queue)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not queue the start-up sweep: %s", exc)


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
