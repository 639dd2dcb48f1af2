"""Read-only queries the pages need beyond the service layer: queue waits, regrade progress, statistics.

Plain functions over the models, like :mod:`grader.submissions`; nothing here
writes. (Candidates for the service layer once the API wants them too.)
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from grader import catalog, gradebook, submissions
from grader.config import Settings
from grader.models import Report, Submission, TestResult, User, utcnow

#: A wait longer than this (for a submission made now) gets the "the queue is long" banner.
LONG_WAIT_SECONDS = 120.0
#: The grading time assumed before anything was graded.
DEFAULT_GRADING_SECONDS = 15.0


@dataclass(frozen=True)
class QueueInfo:
    """The queue as a student sees it: how many wait, how many workers, how long a grading takes."""

    queued: int
    running: int
    workers: int
    capacity: int  # gradings at a time, over all live workers
    average_seconds: float

    @property
    def worker_alive(self) -> bool:
        return self.workers > 0

    def wait_for(self, ahead: int) -> float | None:
        """Expected seconds until a submission with ``ahead`` queued submissions before it is graded.

        None when no worker is running (the wait is unbounded until one starts).
        """
        if not self.capacity:
            return None
        rounds = (max(0, ahead) + self.running) // self.capacity + 1
        return rounds * self.average_seconds

    @property
    def expected_wait(self) -> float | None:
        """For a submission made now."""
        return self.wait_for(self.queued)

    @property
    def long(self) -> bool:
        wait = self.expected_wait
        return wait is not None and wait > LONG_WAIT_SECONDS


def average_grading_seconds(session: Session, sample: int = 50) -> float:
    """Mean time from claim to report over the most recent gradings."""
    rows = session.execute(select(Submission.started_at, Submission.finished_at)
                           .where(Submission.status == "graded", Submission.finished_at.is_not(None),
                                  Submission.started_at.is_not(None))
                           .order_by(Submission.finished_at.desc()).limit(sample)).all()
    durations = [(finished - started).total_seconds() for started, finished in rows
                 if started is not None and finished is not None and finished >= started]
    if not durations:
        return DEFAULT_GRADING_SECONDS
    return max(1.0, statistics.fmean(durations))


def queue_info(session: Session, settings: Settings, now: datetime | None = None) -> QueueInfo:
    counts = submissions.queue_counts(session)
    workers = submissions.live_workers(session, settings, now)
    return QueueInfo(queued=counts["queued"], running=counts["running"], workers=len(workers),
                     capacity=sum(max(1, w.concurrency) for w in workers),
                     average_seconds=average_grading_seconds(session))


def queued_ahead(session: Session, submission: Submission) -> int:
    """Queued submissions that will be graded before this one, in the fair order the workers follow
    (:func:`grader.submissions.claim_next`: other students' first submissions before one's second)."""
    return submissions.queue_position(session, submission.id)


# --------------------------------------------------------------------------- instructors


@dataclass(frozen=True)
class RegradeProgress:
    total: int
    done: int
    pending: int

    @property
    def finished(self) -> bool:
        return self.pending == 0 or self.done >= self.total


def regrade_progress(session: Session, assignment_id: str, since: datetime, upto: int, total: int
                     ) -> RegradeProgress:
    """Progress of "regrade every submission of an assignment" started at ``since``.

    The batch is the finished submissions with ids up to ``upto`` when it
    started; one is done once it finished again after ``since``.
    """
    batch = (Submission.assignment_id == assignment_id, Submission.id <= upto)
    done = session.scalar(select(func.count()).select_from(Submission)
                          .where(*batch, Submission.status.in_(("graded", "error")),
                                 Submission.finished_at >= since)) or 0
    pending = session.scalar(select(func.count()).select_from(Submission)
                             .where(*batch, Submission.status.in_(("queued", "running")))) or 0
    return RegradeProgress(total=total, done=min(int(done), total), pending=int(pending))


def find_submissions(session: Session, *, assignment_id: str | None = None, email: str | None = None,
                     status: str | None = None, page: int = 1, per_page: int = 50
                     ) -> tuple[list[Submission], int]:
    """Every student's submissions, newest first, filtered; returns one page and the total count."""
    query = select(Submission).join(User)
    if assignment_id:
        query = query.where(Submission.assignment_id == assignment_id)
    if email:
        query = query.where(User.email.contains(email.strip().lower()))
    if status:
        query = query.where(Submission.status == status)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(query.options(selectinload(Submission.user), selectinload(Submission.reports))
                           .order_by(Submission.id.desc()).offset((max(1, page) - 1) * per_page).limit(per_page))
    return list(rows), total


@dataclass(frozen=True)
class FailingTest:
    test_id: str
    name: str
    visibility: str
    failed: int  # students whose latest graded submission fails it
    errors: int  # ... or whose code crashed in it


@dataclass
class AssignmentStats:
    assignment: catalog.CourseAssignment
    students: int
    submitted: int  # students with a graded submission
    submissions: dict[str, int]  # by status
    scores: list[float]  # each student's counted (adjusted) score, as in the gradebook
    histogram: list[int] = field(default_factory=list)
    bin_labels: list[str] = field(default_factory=list)
    failing: list[FailingTest] = field(default_factory=list)
    hints: list[tuple[str, int]] = field(default_factory=list)
    latest_graded: int = 0  # the submissions the failing tests and hints are counted over

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.scores else None


BINS = 10


def histogram(scores: Iterable[float], max_score: float, bins: int = BINS) -> tuple[list[int], list[str]]:
    """Counts of scores in ``bins`` equal bands of the points; a full score goes in the top band."""
    counts = [0] * bins
    for score in scores:
        fraction = score / max_score if max_score > 0 else 0.0
        counts[min(bins - 1, max(0, math.floor(fraction * bins)))] += 1
    width = 100 // bins
    labels = [f"{k * width}–{(k + 1) * width}" for k in range(bins)]
    return counts, labels


def assignment_stats(session: Session, settings: Settings, assignment_id: str, *, top: int = 10
                     ) -> AssignmentStats:
    entry = catalog.get(session, settings, assignment_id)
    book = gradebook.build(session, settings)
    grades = [s.grades.get(entry.id) for s in book.students]
    scores = [g.score for g in grades if g is not None]
    by_status = dict(session.execute(select(Submission.status, func.count())
                                     .where(Submission.assignment_id == entry.id)
                                     .group_by(Submission.status)).all())
    stats = AssignmentStats(assignment=entry, students=len(book.students), submitted=len(scores),
                            submissions={s: int(by_status.get(s, 0)) for s in ("queued", "running", "graded", "error")},
                            scores=scores)
    stats.histogram, stats.bin_labels = histogram(scores, entry.spec.max_score)
    reports = _latest_reports_of_latest_graded(session, entry.id)
    stats.latest_graded = len(reports)
    stats.failing, stats.hints = _failures(session, reports, top)
    return stats


def _latest_reports_of_latest_graded(session: Session, assignment_id: str) -> list[int]:
    """The newest report of each student's newest graded submission (where each student is stuck now)."""
    newest = (select(func.max(Submission.id).label("sid"))
              .join(User, User.id == Submission.user_id)
              .where(Submission.assignment_id == assignment_id, Submission.status == "graded",
                     User.role == "student")
              .group_by(Submission.user_id).subquery())
    return list(session.scalars(select(func.max(Report.id)).where(Report.submission_id.in_(select(newest.c.sid)))
                                .group_by(Report.submission_id)))


def _failures(session: Session, report_ids: Sequence[int], top: int
              ) -> tuple[list[FailingTest], list[tuple[str, int]]]:
    names: dict[str, tuple[str, str]] = {}
    failed: Counter[str] = Counter()
    crashed: Counter[str] = Counter()
    hints: Counter[str] = Counter()
    for chunk in _chunks(report_ids, 500):
        rows = session.execute(select(TestResult.test_id, TestResult.name, TestResult.visibility, TestResult.status,
                                      TestResult.details)
                               .where(TestResult.report_id.in_(chunk), TestResult.status != "passed")).all()
        for test_id, name, visibility, status, details in rows:
            names.setdefault(test_id, (name, visibility))
            (crashed if status == "error" else failed)[test_id] += 1
            hint = details.get("hint") if isinstance(details, dict) else None
            if hint:
                hints[str(hint)] += 1
    failing = [FailingTest(tid, name, visibility, failed[tid], crashed[tid])
               for tid, (name, visibility) in names.items()]
    failing.sort(key=lambda f: (-(f.failed + f.errors), f.name))
    return failing[:top], hints.most_common(top)


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def now() -> datetime:
    return utcnow()
