"""Read-only queries the pages need beyond the service layer: queue waits, regrade progress, statistics.

Plain functions over the models, like :mod:`grader.submissions`; nothing here
writes. (Candidates for the service layer once the API wants them too.)
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
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


@dataclass
class TestOutcome:
    """One test over the students' counted submissions."""

    test_id: str
    name: str
    visibility: str
    points: float
    passed: int = 0
    partial: int = 0  # some of its points, not all
    failed: int = 0  # none of its points
    crashed: int = 0  # the student's code raised or timed out in it

    @property
    def ran(self) -> int:
        return self.passed + self.partial + self.failed + self.crashed


@dataclass(frozen=True)
class StudentRef:
    email: str
    name: str
    submission_id: int  # the counted submission


@dataclass
class MistakeCount:
    """A catalogued mistake (worker/checks/diagnosis.py) the checks recognised in counted submissions."""

    id: str
    message: str  # the hint the students were given for it
    tests: list[str] = field(default_factory=list)  # names of the tests where it was recognised
    students: list[StudentRef] = field(default_factory=list)


@dataclass
class HintCount:
    """A hint given in counted submissions without a catalogued mistake behind it."""

    text: str
    students: list[StudentRef] = field(default_factory=list)


@dataclass(frozen=True)
class TimeBin:
    start: datetime
    end: datetime
    count: int


@dataclass
class Timeline:
    """Every submission of the assignment (all students, all attempts) counted per hour, day or week."""

    bins: list[TimeBin]
    unit: str  # "hour", "3 hours", "6 hours", "12 hours", "day" or "week"
    deadline: datetime | None
    total: int
    late: int  # made after the deadline


@dataclass
class AssignmentStats:
    """Everything on one basis: each student's counted submission (the gradebook's: policy and late penalty
    applied, a submission the grader could not run never counts), read in its newest report."""

    assignment: catalog.CourseAssignment
    students: int
    submitted: int  # students with a counted (graded) submission
    submissions: dict[str, int]  # every submission of the assignment, by status
    scores: list[float]  # each student's counted (adjusted) score, as in the gradebook
    histogram: list[int] = field(default_factory=list)
    bin_labels: list[str] = field(default_factory=list)
    tests: list[TestOutcome] = field(default_factory=list)
    mistakes: list[MistakeCount] = field(default_factory=list)
    hints: list[HintCount] = field(default_factory=list)
    timeline: Timeline | None = None

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


def assignment_stats(session: Session, settings: Settings, assignment_id: str, *, top: int = 20,
                     now: datetime | None = None) -> AssignmentStats:
    entry = catalog.get(session, settings, assignment_id)
    book = gradebook.build(session, settings)
    counted = {s.grades[entry.id].submission_id: StudentRef(s.email, s.name, s.grades[entry.id].submission_id)
               for s in book.students if s.grades.get(entry.id) is not None}
    scores = [g.score for g in (s.grades.get(entry.id) for s in book.students) if g is not None]
    by_status = dict(session.execute(select(Submission.status, func.count())
                                     .where(Submission.assignment_id == entry.id)
                                     .group_by(Submission.status)).all())
    stats = AssignmentStats(assignment=entry, students=len(book.students), submitted=len(counted),
                            submissions={s: int(by_status.get(s, 0)) for s in ("queued", "running", "graded", "error")},
                            scores=scores)
    stats.histogram, stats.bin_labels = histogram(scores, entry.spec.max_score)
    stats.tests, stats.mistakes, stats.hints = _outcomes(session, entry, counted, top)
    stats.timeline = timeline(session, entry.id, entry.policy.deadline)
    return stats


def _newest_reports(session: Session, submission_ids: Sequence[int]) -> dict[int, int]:
    """report id -> submission id, for the newest report of each submission (the one shown after a regrade)."""
    out: dict[int, int] = {}
    for chunk in _chunks(submission_ids, 500):
        for sid, rid in session.execute(select(Report.submission_id, func.max(Report.id))
                                        .where(Report.submission_id.in_(chunk)).group_by(Report.submission_id)):
            out[int(rid)] = int(sid)
    return out


_ALSO = " (It also equals what you get when you "


def _outcomes(session: Session, entry: catalog.CourseAssignment, counted: dict[int, StudentRef], top: int
              ) -> tuple[list[TestOutcome], list[MistakeCount], list[HintCount]]:
    tests = {t.id: TestOutcome(t.id, t.name, t.visibility, t.points) for t in entry.spec.tests}
    reports = _newest_reports(session, sorted(counted))
    names = {t.id: t.name for t in entry.spec.tests}
    # Per student: the mistake lists of their failing tests (with the test), and their other hints.
    diagnosed: dict[int, list[tuple[str, list[str]]]] = {}
    other_hints: dict[str, set[int]] = {}
    messages: dict[str, Counter[str]] = {}
    for chunk in _chunks(sorted(reports), 500):
        rows = session.execute(select(TestResult.report_id, TestResult.test_id, TestResult.status, TestResult.score,
                                      TestResult.max_score).where(TestResult.report_id.in_(chunk))).all()
        for rid, test_id, status, score, max_score in rows:
            outcome = tests.get(test_id)
            if outcome is None:
                continue  # a test the assignment no longer has
            if status == "passed":
                outcome.passed += 1
            elif status == "error":
                outcome.crashed += 1
            elif (score or 0) > 0:
                outcome.partial += 1
            else:
                outcome.failed += 1
        rows = session.execute(select(TestResult.report_id, TestResult.test_id, TestResult.details)
                               .where(TestResult.report_id.in_(chunk), TestResult.status != "passed")).all()
        for rid, test_id, details in rows:
            if not isinstance(details, dict) or test_id not in tests:
                continue
            sid = reports[rid]
            hint = details.get("hint")
            hint = str(hint).strip() if hint else ""
            ids = [str(m) for m in details.get("mistakes") or [] if isinstance(m, str)]
            if ids:
                diagnosed.setdefault(sid, []).append((test_id, ids))
                if hint:
                    # The hint names its first mistake; the others it mentions only as also possible.
                    text = hint.split(_ALSO)[0].strip()
                    messages.setdefault(ids[0], Counter())[text] += 3 if len(ids) == 1 else 1
            elif hint:
                other_hints.setdefault(hint, set()).add(sid)
    found: dict[str, MistakeCount] = {}
    for sid, lists in diagnosed.items():
        for mistake, test_ids in explain(lists).items():
            item = found.setdefault(mistake, MistakeCount(mistake, ""))
            item.students.append(counted[sid])
            for test_id in test_ids:
                if names[test_id] not in item.tests:
                    item.tests.append(names[test_id])
    for mistake, item in found.items():
        item.message = messages[mistake].most_common(1)[0][0] if mistake in messages else ""
        item.students.sort(key=lambda s: s.email)
        item.tests.sort(key=list(names.values()).index)
    mistakes = sorted(found.values(), key=lambda m: (-len(m.students), m.id))[:top]
    hints = sorted((HintCount(text, sorted((counted[s] for s in sids), key=lambda s: s.email))
                    for text, sids in other_hints.items()), key=lambda h: (-len(h.students), h.text))[:top]
    return list(tests.values()), mistakes, hints


def explain(lists: Sequence[tuple[str, list[str]]]) -> dict[str, list[str]]:
    """The fewest catalogued mistakes that explain every diagnosed test of one submission.

    Each failing test lists the catalogued mistakes that reproduce its numbers, the most likely first
    (``details.mistakes``); one mistake often fits several tests, and a test may fit several mistakes (a
    gradient ``reg*W`` is both "the 2016 half-reg convention" and "a missing factor 2" until the loss tells
    them apart). Greedily, the mistake that fits the most tests is taken (on a tie, the one named first
    more often), until every test is explained. Returns mistake id -> the test ids it explains.
    """
    remaining = list(lists)
    chosen: dict[str, list[str]] = {}
    while remaining:
        fits: Counter[str] = Counter()
        rank: Counter[str] = Counter()
        for _test, ids in remaining:
            for position, mistake in enumerate(dict.fromkeys(ids)):
                fits[mistake] += 1
                rank[mistake] += position
        best = min(fits, key=lambda m: (-fits[m], rank[m], m))
        chosen[best] = [test for test, ids in remaining if best in ids]
        remaining = [(test, ids) for test, ids in remaining if best not in ids]
    return chosen


#: Bin widths for the submissions over time, narrowest first: the first giving at most MAX_TIME_BINS bins wins.
TIME_UNITS = (("hour", timedelta(hours=1)), ("3 hours", timedelta(hours=3)), ("6 hours", timedelta(hours=6)),
              ("12 hours", timedelta(hours=12)), ("day", timedelta(days=1)), ("week", timedelta(weeks=1)))
MAX_TIME_BINS = 48


def timeline(session: Session, assignment_id: str, deadline: datetime | None) -> Timeline | None:
    """Every student submission of the assignment counted per time bin, over a span that includes the deadline;
    None without submissions."""
    times = [t for (t,) in session.execute(select(Submission.created_at).join(User, User.id == Submission.user_id)
                                            .where(Submission.assignment_id == assignment_id,
                                                   User.role == "student"))]
    if not times:
        return None
    first, last = min(times), max(times)
    if deadline is not None:
        first, last = min(first, deadline), max(last, deadline)
    unit, width = TIME_UNITS[-1]
    for name, size in TIME_UNITS:
        if (last - first) / size < MAX_TIME_BINS:
            unit, width = name, size
            break
    # Bins start at whole hours (days, weeks: midnight UTC), so their labels are round.
    start = first.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    if width >= timedelta(days=1):
        start = start.replace(hour=0)
    elif width > timedelta(hours=1):
        start = start.replace(hour=start.hour - start.hour % int(width.total_seconds() // 3600))
    count = int((last - start) // width) + 1
    counts = [0] * count
    for t in times:
        counts[min(count - 1, int((t - start) // width))] += 1
    bins = [TimeBin(start + k * width, start + (k + 1) * width, n) for k, n in enumerate(counts)]
    late = sum(1 for t in times if deadline is not None and t > deadline)
    return Timeline(bins, unit, deadline, len(times), late)


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def now() -> datetime:
    return utcnow()
