"""The submission service: plain functions used by the API, the web pages, the CLI and the worker.

A submission's life (DESIGN.md's reliability model):

1. :func:`submit` validates the files with the engine's own rules, applies the
   assignment's policy (hard deadline, submissions per hour, cool-down), and
   commits the row as ``queued`` with its files; only then :func:`enqueue`
   publishes a message carrying the id. If the broker is down the row stays
   ``queued`` with ``enqueued_at`` NULL and the sweeper publishes it later.
2. The worker :func:`claim`\\ s the row with one conditional UPDATE (a duplicate
   message finds nothing to claim), grades, and :func:`finish`\\ es: report,
   test results and status in one transaction, only if it still holds the lease.
3. :func:`sweep` (periodic) re-queues rows whose lease expired and rows that
   never left ``queued``, and ends with ``error`` after ``max_attempts``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol, Sequence, TypeVar

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from grader import archives, catalog
from grader.config import Settings
from grader.db import retrying
from grader.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, ServiceError, TooLarge
from grader.models import Report, Submission, SubmissionFile, TestResult, User, WorkerHeartbeat, utcnow
from worker.engine import MAX_FILE_BYTES, SubmissionRejected, prepare_files

log = logging.getLogger(__name__)

ServiceErrorT = TypeVar("ServiceErrorT", bound=ServiceError)

#: Publishes the queue message for one submission id; raises when the broker cannot be reached.
Publisher = Callable[[int], None]


class RejectionLimit(Protocol):
    """Counts a student's uploads that were refused as ungradable (the web app's limits storage)."""

    def retry_after(self, key: str) -> int | None: ...

    def hit(self, key: str) -> None: ...


# --------------------------------------------------------------------------- submitting


def validate_files(entry: catalog.CourseAssignment, uploads: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    """The uploaded (filename, content) pairs as the engine will grade them, or a clear error."""
    expected = ", ".join(entry.spec.files)
    if not uploads:
        raise Invalid(f"no file uploaded: send {expected} in a form field named 'file'")
    files: dict[str, bytes] = {}
    for filename, data in uploads:
        if not filename:
            raise Invalid(f"an uploaded file has no name; upload {expected}")
        if filename in files:
            raise Invalid(f"{filename} was uploaded twice")
        if len(data) > MAX_FILE_BYTES:
            from grader.render import human_size

            raise TooLarge(f"{filename} is {human_size(len(data))}; a submitted file may be at most "
                           f"{human_size(MAX_FILE_BYTES)}")
        files[filename] = data
    try:
        prepare_files(entry.spec, files)
    except SubmissionRejected as exc:
        raise Invalid(str(exc)) from None
    return files


def notebook_hints(settings: Settings) -> dict[str, list[str]]:
    """Each course notebook (the ``notebooks`` of the course's assignment.toml files) -> the files it calls."""
    from worker.assignments import AssignmentError, UnknownAssignment, get_assignment, list_assignment_ids

    specs = []
    for aid in list_assignment_ids(settings.assignments_dir):
        try:
            specs.append(get_assignment(aid, settings.assignments_dir))
        except (AssignmentError, UnknownAssignment):
            continue  # a broken folder must not hide the message
    return archives.notebook_hints(specs)


def refuse_notebooks(entry: catalog.CourseAssignment, uploads: Sequence[tuple[str, bytes]],
                     settings: Settings | None = None) -> None:
    """:class:`Invalid` naming the file to upload instead when an upload is a notebook (``.ipynb``, or notebook
    JSON under a ``.py`` name). Checked before any limit, and counted against none: no row, no rate-limit hit.
    With ``settings``, the message names the files of whichever of the course's assignments the notebook calls."""
    for filename, data in uploads:
        if archives.is_notebook(filename or "", data):
            hints = notebook_hints(settings) if settings is not None else archives.notebook_hints([entry.spec])
            raise Invalid(archives.notebook_message(filename or "the file", entry.spec.files, hints=hints))


def check_policy(session: Session, entry: catalog.CourseAssignment, user_id: int, now: datetime) -> None:
    """Hard deadline, submissions per hour and cool-down (students only; instructors are not limited)."""
    from grader.deadlines import policy_for

    policy = policy_for(session, entry, user_id)  # the student's own hard deadline if they have an extension
    if policy.closed(now):
        assert policy.hard_deadline is not None
        raise Forbidden(f"the hard deadline of {entry.id} ({policy.hard_deadline.isoformat()}) has passed; "
                        "submissions are closed")
    mine = and_(Submission.user_id == user_id, Submission.assignment_id == entry.id)
    if policy.cooldown_seconds > 0:
        last = session.scalar(select(func.max(Submission.created_at)).where(mine))
        if last is not None:
            last = _aware(last)
            wait = last + timedelta(seconds=policy.cooldown_seconds) - now
            if wait > timedelta(0):
                seconds = _ceil_seconds(wait)
                raise RateLimited(f"please wait {seconds} s before submitting {entry.id} again "
                                  f"(one submission every {policy.cooldown_seconds:g} s)", retry_after=seconds)
    if policy.max_submissions_per_hour > 0:
        window = now - timedelta(hours=1)
        recent = session.scalars(select(Submission.created_at).where(mine, Submission.created_at > window)
                                 .order_by(Submission.created_at)).all()
        if len(recent) >= policy.max_submissions_per_hour:
            oldest = _aware(recent[len(recent) - policy.max_submissions_per_hour])
            seconds = _ceil_seconds(oldest + timedelta(hours=1) - now)
            raise RateLimited(f"at most {policy.max_submissions_per_hour} submissions of {entry.id} per hour; "
                              f"the next one is accepted in {seconds} s", retry_after=seconds)


def submit(session: Session, settings: Settings, user: User, assignment_id: str,
           uploads: Sequence[tuple[str, bytes]], publish: Publisher | None, *, now: datetime | None = None,
           rejections: RejectionLimit | None = None) -> Submission:
    """Validate, store (committed) and queue a submission; returns it with status ``queued``.

    The limits come first (hard deadline, rate, cool-down, and ``rejections``: uploads refused as
    ungradable, counted against their own looser limit), so a request over a limit costs no compilation.
    """
    user_id, instructor = user.id, user.is_staff  # course staff (testing the assignment) are not limited
    checked: dict[str, bytes] | None = None
    refuse_notebooks(catalog.get(session, settings, assignment_id), uploads, settings)  # free: counted nowhere
    if not instructor:
        entry = catalog.get(session, settings, assignment_id)
        try:
            check_policy(session, entry, user_id, now or utcnow())
        finally:
            session.rollback()  # a read; the check is repeated under the lock below
        wait = rejections.retry_after(f"{user_id}") if rejections is not None else None
        if wait is not None:
            raise RateLimited(f"too many uploads that could not be graded; fix the file with `grader check` "
                              f"and submit again in {wait} s", retry_after=wait)
        try:
            checked = validate_files(entry, uploads)
        except (Invalid, TooLarge):
            if rejections is not None:
                rejections.hit(f"{user_id}")
            raise

    def transaction() -> int:
        try:
            at = now or utcnow()
            entry = catalog.get(session, settings, assignment_id)
            files = checked if checked is not None else validate_files(entry, uploads)
            # Lock the student's row so two simultaneous uploads cannot both slip under the limit.
            session.execute(select(User.id).where(User.id == user_id).with_for_update())
            if not instructor:
                check_policy(session, entry, user_id, at)
            submission = Submission(user_id=user_id, assignment_id=entry.id, status="queued", attempts=0,
                                    created_at=at)
            for filename, data in files.items():
                submission.files.append(SubmissionFile(filename=filename, content=data, size=len(data),
                                                       sha256=hashlib.sha256(data).hexdigest()))
            session.add(submission)
            session.commit()
            return submission.id
        except BaseException:
            session.rollback()
            raise

    submission_id = retrying(transaction)
    if publish is not None:
        enqueue(session, publish, submission_id)
    return load_submission(session, submission_id)


def submit_archive(session: Session, settings: Settings, user: User, filename: str, data: bytes,
                   publish: Publisher | None, *, now: datetime | None = None,
                   rejections: RejectionLimit | None = None,
                   dry_run: bool = False) -> tuple[list[Submission], archives.Plan]:
    """The whole assignment as one zip: one submission per assignment found, each exactly as a single upload
    of its files would be (same validation, same limits, same row), or nothing at all.

    Everything is decided before anything is stored: the archive's safety (:func:`archives.plan`), then for
    every assignment found its limits and its files. Any refusal refuses the whole archive, naming the
    assignment; the rows are committed together, then queued. Returns the submissions and the plan
    (found, ignored, missing). With ``dry_run`` every check is made (and counted) the same way, and nothing
    is stored: the plan says what would be submitted."""
    user_id, instructor = user.id, user.is_staff  # course staff (testing the assignment) are not limited
    name = filename or "the archive"
    entries = {e.id: e for e in catalog.all_assignments(session, settings)}
    session.commit()  # the assignment rows are synced; nothing else is written before the final transaction

    def counted(exc: ServiceErrorT) -> ServiceErrorT:
        if rejections is not None and not instructor:
            rejections.hit(f"{user_id}")
        return exc

    # A notebook (or one .py file) sent as the archive: told what to upload, counted nowhere, even over the limits.
    if archives.is_notebook(name, data) or name.lower().endswith(".py"):
        why = ""
        if archives.is_notebook(name, data):
            why = f" ({archives.notebook_message(name, ['the .py files'], hints=notebook_hints(settings))})"
        raise Invalid(f"{name} is not an archive: upload the zip that collectSubmission.sh makes, or hand in one "
                      f"assignment's file on its own page{why}")
    if not instructor and rejections is not None:
        wait = rejections.retry_after(f"{user_id}")
        if wait is not None:
            raise RateLimited(f"too many uploads that could not be graded; fix the files with `grader check` "
                              f"and submit again in {wait} s", retry_after=wait)
    try:
        plan = archives.plan(data, name, [(aid, e.spec.files) for aid, e in entries.items()], MAX_FILE_BYTES,
                             provided=[p for e in entries.values() for p in getattr(e.spec, "provided", ())])
    except (Invalid, TooLarge) as exc:
        raise counted(exc) from None
    if not plan.found:
        expected = "; ".join(f"{aid}: {', '.join(e.spec.files)}" for aid, e in entries.items())
        skipped = [i["path"] for i in plan.ignored][:5]
        raise Invalid(f"{name} holds no file of any assignment (looked for {expected}, e.g. "
                      f"cs231n/classifiers/linear_svm.py)" + (f"; it has {', '.join(skipped)}" if skipped else "")
                      + "; nothing was submitted")
    at = now or utcnow()
    checked: dict[str, dict[str, bytes]] = {}
    for item in plan.found:
        entry = entries[item.assignment]
        if not instructor:
            try:
                check_policy(session, entry, user_id, at)
            finally:
                session.rollback()
        try:
            checked[item.assignment] = validate_files(entry, list(item.files.items()))
        except (Invalid, TooLarge) as exc:
            raise counted(type(exc)(f"{item.assignment} ({', '.join(item.paths)}): {exc.message}; "
                                    "nothing in the archive was submitted")) from None
    if dry_run:
        return [], plan

    def transaction() -> list[int]:
        try:
            session.execute(select(User.id).where(User.id == user_id).with_for_update())
            rows = []
            for item in plan.found:
                entry = catalog.get(session, settings, item.assignment)
                if not instructor:
                    check_policy(session, entry, user_id, at)
                submission = Submission(user_id=user_id, assignment_id=entry.id, status="queued", attempts=0,
                                        created_at=at)
                for stored, content in checked[item.assignment].items():
                    submission.files.append(SubmissionFile(filename=stored, content=content, size=len(content),
                                                           sha256=hashlib.sha256(content).hexdigest()))
                session.add(submission)
                rows.append(submission)
            session.flush()
            ids = [row.id for row in rows]
            session.commit()
            return ids
        except BaseException:
            session.rollback()
            raise

    ids = retrying(transaction)
    if publish is not None:
        for sid in ids:
            enqueue(session, publish, sid)
    return [load_submission(session, sid) for sid in ids], plan


def enqueue(session: Session, publish: Publisher, submission_id: int, *, now: datetime | None = None) -> bool:
    """Publish the message for a committed ``queued`` row; False (row stays unpublished) if the broker is down."""
    try:
        publish(submission_id)
    except Exception as exc:  # noqa: BLE001 - any broker failure leaves the row for the sweeper
        log.warning("could not queue submission %s (the sweeper will retry): %s: %s",
                    submission_id, type(exc).__name__, exc)
        return False
    try:
        session.execute(update(Submission).where(Submission.id == submission_id, Submission.status == "queued")
                        .values(enqueued_at=now or utcnow()))
        session.commit()
    except Exception as exc:  # noqa: BLE001 - the message is out; a missing timestamp only means a re-publish
        session.rollback()
        log.warning("queued submission %s but could not record it: %s", submission_id, exc)
    return True


#: Who regrades: a user (pages, API), or a label for what acted without one (``"cli:<login>"``).
Actor = User | str | None


def _requeue(session: Session, submission_id: int) -> bool:
    """Put a finished submission back in the queue (not committed); False if it is not finished."""
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.status.in_(("graded", "error")))
        .values(status="queued", attempts=0, error=None, enqueued_at=None, lease_expires=None,
                started_at=None, finished_at=None, worker=None))
    return result.rowcount == 1  # type: ignore[attr-defined]


def regrade(session: Session, submission_id: int, publish: Publisher | None, *, actor: Actor = None) -> Submission:
    """Grade a submission again (its earlier reports are kept). :class:`Conflict` while it is being graded.

    The regrade is recorded in the audit log (``regrade``, by ``actor``) in the transaction that re-queues it."""
    from grader import audit

    requeued = _requeue(session, submission_id)
    if requeued:
        row = session.execute(select(Submission.assignment_id, User.email).join(User, User.id == Submission.user_id)
                              .where(Submission.id == submission_id)).one()
        audit.record(session, actor or "system", "regrade", f"submission {submission_id}",
                     assignment=row.assignment_id, student=row.email)
    session.commit()
    if not requeued:
        submission = session.get(Submission, submission_id)
        if submission is None:
            raise NotFound(f"no submission {submission_id}")
        if submission.status == "running":
            raise Conflict(f"submission {submission_id} is running; it can be regraded once it is done")
        # Still queued: publishing it again is harmless (the claim ignores duplicates) and unsticks it.
    if publish is not None:
        enqueue(session, publish, submission_id)
    return load_submission(session, submission_id)


def regrade_all(session: Session, settings: Settings, assignment_id: str, publish: Publisher | None, *,
                actor: Actor = None) -> list[int]:
    """Regrade every finished submission of an assignment; returns their ids.

    They are re-queued in one transaction with one audit entry (``regrade_all``: the assignment and the count),
    then published."""
    from grader import audit

    entry = catalog.get(session, settings, assignment_id)
    ids = list(session.scalars(select(Submission.id).where(Submission.assignment_id == entry.id,
                                                           Submission.status.in_(("graded", "error")))
                               .order_by(Submission.id)))
    try:
        done = [sid for sid in ids if _requeue(session, sid)]  # one started again in the meantime is skipped
        if done:
            audit.record(session, actor or "system", "regrade_all", f"assignment {entry.id}",
                         assignment=entry.id, submissions=len(done), first=done[0], last=done[-1])
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if publish is not None:
        for sid in done:
            enqueue(session, publish, sid)
    return done


# --------------------------------------------------------------------------- reading


def load_submission(session: Session, submission_id: int) -> Submission:
    submission = session.scalar(select(Submission).where(Submission.id == submission_id)
                                .options(selectinload(Submission.reports), selectinload(Submission.user))
                                .execution_options(populate_existing=True))
    if submission is None:
        raise NotFound(f"no submission {submission_id}")
    return submission


def get_submission(session: Session, viewer: User, submission_id: int) -> Submission:
    """A submission the viewer may see; someone else's is "not found" (its existence is not revealed)."""
    submission = session.get(Submission, submission_id)
    if submission is None or (submission.user_id != viewer.id and not viewer.is_staff):
        raise NotFound(f"no submission {submission_id}")
    return load_submission(session, submission_id)


def list_submissions(session: Session, viewer: User, *, assignment_id: str | None = None,
                     user_email: str | None = None, limit: int = 200) -> list[Submission]:
    """The viewer's own submissions, newest first (course staff may ask for a student's with ``user_email``)."""
    query = select(Submission).options(selectinload(Submission.reports), selectinload(Submission.user))
    if user_email and viewer.is_staff:
        query = query.join(User).where(User.email == user_email.strip().lower())
    else:
        query = query.where(Submission.user_id == viewer.id)
    if assignment_id:
        query = query.where(Submission.assignment_id == assignment_id)
    return list(session.scalars(query.order_by(Submission.id.desc()).limit(limit)))


def queue_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Submission.status, func.count()).group_by(Submission.status)).all()
    counts = {status: 0 for status in ("queued", "running", "graded", "error")}
    counts.update({status: n for status, n in rows})
    return counts


def live_workers(session: Session, settings: Settings, now: datetime | None = None) -> list[WorkerHeartbeat]:
    """Workers whose heartbeat is recent (three missed beats and a worker counts as gone)."""
    now = now or utcnow()
    horizon = now - timedelta(seconds=3 * settings.heartbeat_seconds)
    return list(session.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.last_seen >= horizon)))


def worker_alive(session: Session, settings: Settings, now: datetime | None = None) -> bool:
    return bool(live_workers(session, settings, now))


# --------------------------------------------------------------------------- the worker's side


@dataclass(frozen=True)
class Claim:
    submission_id: int
    attempt: int
    assignment_id: str
    files: dict[str, bytes]


def claim(session: Session, settings: Settings, submission_id: int, worker: str, *,
          now: datetime | None = None) -> Claim | None:
    """Atomically take the row for grading; None when it is not claimable (graded, or leased to another worker)."""
    now = now or utcnow()
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id,
               Submission.attempts < settings.max_attempts,
               or_(Submission.status == "queued",
                   and_(Submission.status == "running", Submission.lease_expires < now)))
        .values(status="running", attempts=Submission.attempts + 1, started_at=now, worker=worker[:255],
                lease_expires=now + timedelta(seconds=settings.lease_seconds))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return None
    row = session.execute(select(Submission.attempts, Submission.assignment_id)
                          .where(Submission.id == submission_id)).one()
    files = {f.filename: f.content for f in session.scalars(
        select(SubmissionFile).where(SubmissionFile.submission_id == submission_id))}
    session.commit()
    return Claim(submission_id, row.attempts, row.assignment_id, files)


# Fair queue. Messages are FIFO, but a message is only a ticket to grade *one* waiting submission: the task
# claims the fairest one (:func:`claim_next`), not necessarily the id it carries. A queued submission's rank
# is its place among its student's submissions in the current backlog (queued, running, or started since the
# oldest queued one was made); lower ranks go first, then older ones. So a student's second submission waits
# behind every other student's first, even once their first is graded, and a burst from one student cannot
# hold the workers. Every message still claims at most one row with the same conditional UPDATE
# (:func:`claim`), and every waiting row has a message out (its own, or the one of a row graded in its
# place), so nothing is lost or graded twice; retries (attempts > 0) keep their own delayed message.
FAIR_CANDIDATES = 5


#: How far back gradings count against a student in the fair order, whatever the oldest queued row.
FAIR_HORIZON = timedelta(hours=1)


def _fair_ranking(session: Session) -> Any:
    """A subquery of the queued rows with their place in the fair order: ``rank`` then ``id``."""
    oldest = session.scalar(select(func.min(Submission.created_at)).where(Submission.status == "queued"))
    backlog_start = max(_aware(oldest), utcnow() - FAIR_HORIZON) if oldest is not None else utcnow()
    counted = (select(Submission.id, Submission.status, Submission.attempts,
                      func.row_number().over(partition_by=Submission.user_id, order_by=Submission.id).label("rank"))
               .where(or_(Submission.status.in_(("queued", "running")), Submission.started_at >= backlog_start))
               .subquery("counted"))
    return (select(counted.c.id, counted.c.attempts, counted.c.rank).where(counted.c.status == "queued")
            .subquery("ranked"))


def fair_candidates(session: Session, limit: int = FAIR_CANDIDATES) -> list[int]:
    """The first waiting (never attempted) submissions in the fair order."""
    ranked = _fair_ranking(session)
    return list(session.scalars(select(ranked.c.id).where(ranked.c.attempts == 0)
                                .order_by(ranked.c.rank, ranked.c.id).limit(limit)))


def queue_position(session: Session, submission_id: int) -> int:
    """How many queued submissions come before this one in the fair order (0 when it is next or not queued)."""
    ranked = _fair_ranking(session)
    mine = select(ranked.c.rank).where(ranked.c.id == submission_id).scalar_subquery()
    ahead = session.scalar(select(func.count()).select_from(ranked).where(
        or_(ranked.c.rank < mine, and_(ranked.c.rank == mine, ranked.c.id < submission_id))))
    return int(ahead or 0)


def claim_next(session: Session, settings: Settings, submission_id: int, worker: str, *,
               now: datetime | None = None) -> Claim | None:
    """What a queue message claims: the fairest waiting submission, else the message's own row (which may
    be a retry, or a running row whose lease expired). None when there is nothing to do.

    A retry (a queued row with attempts > 0) is claimed by its own message first: retries are not in the
    pool the fair order shares out, so no other message would take it.
    """
    now = now or utcnow()
    own = session.execute(select(Submission.status, Submission.attempts)
                          .where(Submission.id == submission_id)).first()
    if own is not None and own.status == "queued" and own.attempts > 0:
        session.rollback()
        taken = claim(session, settings, submission_id, worker, now=now)
        if taken is not None:
            return taken
    candidates = fair_candidates(session)
    session.rollback()  # end the read; each claim is its own transaction
    for candidate in candidates:
        taken = claim(session, settings, candidate, worker, now=now)
        if taken is not None:
            if candidate != submission_id:
                _hand_over_message(session, candidate, submission_id)
            return taken
    return claim(session, settings, submission_id, worker, now=now)


def _hand_over_message(session: Session, taken: int, waiting: int) -> None:
    """The message of ``waiting`` graded ``taken``; ``taken``'s own message (if it has one out) now serves
    ``waiting``. So ``waiting`` takes over ``taken``'s ``enqueued_at``: NULL (``taken`` had none, the
    broker was down) lets the next sweep publish one for it, instead of the lost-message timeout."""
    try:
        published = session.scalar(select(Submission.enqueued_at).where(Submission.id == taken))
        session.execute(update(Submission).where(Submission.id == waiting, Submission.status == "queued",
                                                 Submission.attempts == 0)
                        .values(enqueued_at=published).execution_options(synchronize_session=False))
        session.commit()
    except Exception as exc:  # noqa: BLE001 - at worst the sweeper's lost-message timeout publishes it
        session.rollback()
        log.warning("could not hand the message of submission %s over: %s", waiting, exc)


def _owned(submission_id: int, attempt: int) -> Any:
    return and_(Submission.id == submission_id, Submission.status == "running", Submission.attempts == attempt)


def finish(session: Session, claim: Claim, report: dict[str, Any], *, now: datetime | None = None) -> bool:
    """Store the report and its test results and set the final status, in one transaction.

    Does nothing (returns False) if the lease was lost meanwhile: the sweeper
    gave the row to another worker, whose result will count instead.
    """
    now = now or utcnow()
    status = "graded" if report.get("status") == "graded" else "error"
    result = session.execute(
        update(Submission).where(_owned(claim.submission_id, claim.attempt))
        .values(status=status, finished_at=now, lease_expires=None, score=float(report.get("score", 0.0)),
                max_score=float(report.get("max_score", 0.0)),
                error=None if status == "graded" else str(report.get("error") or report.get("output") or "")[:4000])
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.add(_report_row(claim.submission_id, report, now))
    session.commit()
    return True


def _report_row(submission_id: int, report: dict[str, Any], now: datetime) -> Report:
    row = Report(submission_id=submission_id, created_at=now, status=str(report.get("status", "error")),
                 score=float(report.get("score", 0.0)), max_score=float(report.get("max_score", 0.0)),
                 seed=report.get("seed"), grader_version=str(report.get("grader_version", "")), data=report)
    for test in report.get("tests", []):
        row.results.append(TestResult(test_id=str(test.get("id") or test["name"])[:100], name=str(test["name"])[:500],
                                      score=float(test["score"]), max_score=float(test["max_score"]),
                                      status=str(test["status"]), visibility=str(test.get("visibility", "visible")),
                                      output=str(test.get("output", "")), details=test.get("details") or {}))
    return row


def fail(session: Session, claim: Claim, reason: str, *, now: datetime | None = None) -> bool:
    """End a claimed row in ``error`` with ``reason`` at once (no retry): for a failure whose cause is in
    the data itself, such as a report the database refuses, which another attempt would only repeat.
    Returns False if the lease was already lost."""
    now = now or utcnow()
    result = session.execute(update(Submission).where(_owned(claim.submission_id, claim.attempt))
                             .values(status="error", finished_at=now, lease_expires=None, error=reason[:4000])
                             .execution_options(synchronize_session=False))
    session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def release(session: Session, settings: Settings, claim: Claim, reason: str, *,
            now: datetime | None = None) -> str:
    """Give a claimed row back after a failure that was not the student's: ``queued`` again, or ``error``
    once ``max_attempts`` are used up. Returns the new status ("" if the lease was already lost)."""
    now = now or utcnow()
    if claim.attempt >= settings.max_attempts:
        values: dict[str, Any] = dict(status="error", finished_at=now, lease_expires=None,
                                      error=f"grading failed {claim.attempt} times: {reason}"[:4000])
    else:
        values = dict(status="queued", lease_expires=None, enqueued_at=None, error=None)
    result = session.execute(update(Submission).where(_owned(claim.submission_id, claim.attempt)).values(**values)
                             .execution_options(synchronize_session=False))
    session.commit()
    return str(values["status"]) if result.rowcount == 1 else ""  # type: ignore[attr-defined]


@dataclass
class SweepResult:
    requeued: list[int]
    published: list[int]
    failed: list[int]

    def as_dict(self) -> dict[str, list[int]]:
        return {"requeued": self.requeued, "published": self.published, "failed": self.failed}


def sweep(session: Session, settings: Settings, publish: Publisher | None, *, now: datetime | None = None,
          batch: int = 500) -> SweepResult:
    """Recover what a lost worker, message or broker left behind (run every ``sweep_seconds``).

    - ``running`` with an expired lease: the worker died or hung. Back to
      ``queued`` (and published), or ``error`` after ``max_attempts``.
    - ``queued`` and never published (broker down at submit), or published
      longer than ``queued_timeout_seconds`` ago (message lost): published again.
      A duplicate message is harmless, the claim makes it a no-op.
    """
    now = now or utcnow()
    out = SweepResult([], [], [])
    expired = session.execute(select(Submission.id, Submission.attempts)
                              .where(Submission.status == "running", Submission.lease_expires < now)
                              .order_by(Submission.id).limit(batch)).all()
    for sid, attempts in expired:
        stale = and_(Submission.id == sid, Submission.status == "running", Submission.lease_expires < now,
                     Submission.attempts == attempts)
        if attempts >= settings.max_attempts:
            values: dict[str, Any] = dict(
                status="error", finished_at=now, lease_expires=None,
                error=f"grading was interrupted {attempts} time{'s' if attempts != 1 else ''} "
                      "(worker lost or timed out); please tell the course staff")
            target = out.failed
        else:
            values = dict(status="queued", lease_expires=None, enqueued_at=None)
            target = out.requeued
        if session.execute(update(Submission).where(stale).values(**values)
                           .execution_options(synchronize_session=False)).rowcount == 1:  # type: ignore[attr-defined]
            target.append(sid)
        session.commit()
    if out.requeued or out.failed:
        log.warning("sweeper: re-queued %s, gave up on %s (expired leases)", out.requeued, out.failed)

    if publish is None:
        return out
    horizon = now - timedelta(seconds=settings.queued_timeout_seconds)
    stuck = list(session.scalars(select(Submission.id)
                                 .where(Submission.status == "queued",
                                        or_(Submission.enqueued_at.is_(None), Submission.enqueued_at < horizon))
                                 .order_by(Submission.id).limit(batch)))
    for sid in stuck:
        if not enqueue(session, publish, sid, now=now):
            break  # the broker is down: the next sweep tries again
        out.published.append(sid)
    if out.published:
        log.info("sweeper: published %d queued submissions: %s", len(out.published), out.published[:20])
    return out


def beat(session: Session, hostname: str, pid: int, concurrency: int, version: str, *,
         now: datetime | None = None) -> None:
    """Record that the worker ``hostname`` is alive."""
    now = now or utcnow()
    row = session.get(WorkerHeartbeat, hostname)
    if row is None:
        session.add(WorkerHeartbeat(hostname=hostname, pid=pid, started_at=now, last_seen=now,
                                    concurrency=concurrency, version=version))
    else:
        row.pid, row.last_seen, row.concurrency, row.version = pid, now, concurrency, version
    session.commit()


def forget_worker(session: Session, hostname: str) -> None:
    row = session.get(WorkerHeartbeat, hostname)
    if row is not None:
        session.delete(row)
        session.commit()


# --------------------------------------------------------------------------- helpers


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _ceil_seconds(delta: timedelta) -> int:
    return max(1, int(-(-delta.total_seconds() // 1)))
