"""The gradebook: one row per student, one score per assignment, by each assignment's policy.

For each graded submission the *adjusted* score is its score times the late
factor ``max(0, 1 - late_penalty_per_day * penalised days)``, where the days are
the started days after the student's own deadline (the assignment's, or their
extension's) that the term's late-day budget did not cover (the rule is
:func:`grader.policy.charge_late_days`). Policy ``best`` counts the highest
adjusted score, ``last`` the most recent graded submission (late or not).
Submissions that ended in ``error`` (the grader could not run them) do not
count. Only students appear.
"""

from __future__ import annotations

import csv
import io
import re
from itertools import groupby
from operator import itemgetter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import DateTime, select, type_coerce
from sqlalchemy.orm import Session

from grader import audit, catalog, deadlines
from grader.config import Settings
from grader.errors import Invalid, NotFound
from grader.models import CourseSetting, Extension, Submission, User, utcnow
from grader.policy import charge_late_days


@dataclass
class Grade:
    score: float
    raw_score: float
    max_score: float
    submission_id: int
    late_days: int  # started days after the student's own deadline
    submissions: int
    late_days_used: int = 0  # of those, covered by the late-day budget (not penalised)

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "raw_score": self.raw_score, "max_score": self.max_score,
                "submission_id": self.submission_id, "late_days": self.late_days,
                "late_days_used": self.late_days_used, "submissions": self.submissions}


@dataclass
class StudentRow:
    email: str
    name: str
    grades: dict[str, Grade | None] = field(default_factory=dict)
    section: str = ""
    late_days_used: int = 0  # the term's free late days spent, over every assignment

    @property
    def total(self) -> float:
        return round(sum(g.score for g in self.grades.values() if g is not None), 4)


@dataclass
class Gradebook:
    assignments: list[catalog.CourseAssignment]
    students: list[StudentRow]
    late_day_budget: int | None = None  # the term's free late days per student; None: no budget

    def as_dict(self) -> dict[str, Any]:
        return {
            "assignments": [a.as_dict() for a in self.assignments],
            "late_day_budget": self.late_day_budget,
            "students": [{"email": s.email, "name": s.name, "total": s.total, "late_days_used": s.late_days_used,
                          "grades": {aid: (g.as_dict() if g else None) for aid, g in s.grades.items()}}
                         for s in self.students],
        }

    def to_csv(self) -> str:
        ids = [a.id for a in self.assignments]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        budget = self.late_day_budget is not None  # the late days used columns only mean something with a budget
        writer.writerow(["email", "name", *ids, "total", *(f"{aid}_submission" for aid in ids),
                         *(f"{aid}_late_days" for aid in ids),
                         *((*(f"{aid}_late_days_used" for aid in ids), "late_days_used") if budget else ())])
        for s in self.students:
            grades = [s.grades.get(aid) for aid in ids]
            writer.writerow([csv_text(s.email), csv_text(s.name), *(_num(g.score) if g else "" for g in grades),
                             _num(s.total),
                             *(g.submission_id if g else "" for g in grades),
                             *(g.late_days if g else "" for g in grades),
                             *((*(g.late_days_used if g else "" for g in grades), s.late_days_used)
                               if budget else ())])
        return out.getvalue()

    def to_canvas_csv(self, canvas_ids: dict[str, str] | None = None) -> str:
        """The gradebook as Canvas's gradebook import takes it as it is (Grades > Import).

        The five columns Canvas identifies a student by (Student, ID, SIS User ID, SIS Login ID, Section), then
        one column per assignment with the counted score: named ``Title (canvas id)`` when the Canvas
        assignment's id is known (Canvas updates that assignment), else ``Title`` (Canvas creates an assignment
        of that name on the first import). The second row, ``Points Possible``, gives each assignment's points.
        The student is matched by SIS Login ID, the e-mail here; ID and SIS User ID (Canvas's own numbers) are
        left empty, and Section is the roster's. A student without a counted score has an empty cell, which
        Canvas leaves as it is."""
        canvas_ids = canvas_ids or {}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*CANVAS_COLUMNS, *(canvas_column(a.spec.title, canvas_ids.get(a.id))
                                            for a in self.assignments)])
        writer.writerow(["    Points Possible", "", "", "", "", *(_num(a.spec.max_score) for a in self.assignments)])
        for s in self.students:
            grades = [s.grades.get(a.id) for a in self.assignments]
            writer.writerow([csv_text(s.name or s.email), "", "", csv_text(s.email), csv_text(s.section),
                             *(_num(g.score) if g else "" for g in grades)])
        return out.getvalue()


CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
_TRAILING_ID = re.compile(r"\s*\((\d+)\)\s*$")


def canvas_column(title: str, canvas_id: str | None) -> str:
    """An assignment's column header for Canvas: ``Title (12345)`` with the Canvas assignment's id. A title that
    itself ends in a number in parentheses gets square brackets, so Canvas never reads it as an id."""
    title = _TRAILING_ID.sub(lambda m: f" [{m.group(1)}]", title.strip())
    return f"{title} ({canvas_id})" if canvas_id else title


CANVAS_IDS_KEY = "canvas_assignment_ids"


def canvas_ids(session: Session) -> dict[str, str]:
    """The Canvas assignment id of each assignment that has one (the course setting ``canvas_assignment_ids``)."""
    row = session.get(CourseSetting, CANVAS_IDS_KEY)
    return dict(row.value) if row is not None and isinstance(row.value, dict) else {}


def set_canvas_ids(session: Session, settings: Settings, actor: User | str, changes: dict[str, str | None]
                   ) -> dict[str, str]:
    """Record (or, with None, forget) Canvas assignment ids; audited. Returns the ids now known."""
    known = {a.id for a in catalog.all_assignments(session, settings)}
    ids = canvas_ids(session)
    before = dict(ids)
    for aid, value in changes.items():
        if aid not in known:
            raise NotFound(f"no assignment {aid!r} (known: {', '.join(sorted(known))})")
        if value is None:
            ids.pop(aid, None)
        elif not re.fullmatch(r"[0-9]{1,20}", value):
            raise Invalid(f"a Canvas assignment id is a number (the one in the assignment's Canvas URL), "
                          f"not {value!r}")
        else:
            ids[aid] = value
    row = session.get(CourseSetting, CANVAS_IDS_KEY)
    if row is None:
        session.add(CourseSetting(key=CANVAS_IDS_KEY, value=ids, updated_at=utcnow(),
                                  updated_by=actor.id if isinstance(actor, User) else None))
    else:
        row.value, row.updated_at = ids, utcnow()
        row.updated_by = actor.id if isinstance(actor, User) else None
    audit.record(session, actor, "policy.canvas_ids", "course", before=before, after=ids)
    session.flush()
    return ids


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_text(value: str) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula (``=``, ``+``, ``-``, ``@``,
    a tab or a line break, or their full-width forms) gets a leading apostrophe (OWASP's CSV injection
    advice); line breaks inside become spaces (a bare CR would otherwise split the row)."""
    if value.startswith(_FORMULA_STARTS):
        value = "'" + value
    return value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def build(session: Session, settings: Settings, *, user_id: int | None = None) -> Gradebook:
    """The gradebook in four statements (assignments, the late-day budget, students, graded submissions with
    their extensions), whatever the course size; with ``user_id``, that one student's row only."""
    assignments = catalog.all_assignments(session, settings)
    by_id = {a.id: a for a in assignments}
    budget = deadlines.late_day_budget(session)
    # Plain rows through the session's connection: a course's tens of thousands of submissions need no ORM
    # objects. Students are joined rather than listed in an IN (...) of thousands of bound parameters.
    conn = session.connection()
    students_query = (select(User.id, User.email, User.name, User.section)
                      .where(User.role == "student").order_by(User.email))
    # Each row starts as an Attempt does (id, time, raw score, max score), so the rule reads the rows as they are;
    # grouped by student and assignment, oldest first. The times are taken as the driver returns them:
    # PostgreSQL's are already aware, so the 60,000 rows skip UTCDateTime's conversion (SQLite's are made aware).
    rows_query = (select(Submission.id, type_coerce(Submission.created_at, _AS_RETURNED), Submission.score,
                         Submission.max_score, Submission.user_id, Submission.assignment_id,
                         type_coerce(Extension.deadline, _AS_RETURNED),
                         type_coerce(Extension.hard_deadline, _AS_RETURNED))
                  .join(User, User.id == Submission.user_id)
                  .outerjoin(Extension, (Extension.user_id == Submission.user_id)
                             & (Extension.assignment_id == Submission.assignment_id))
                  .where(Submission.status == "graded", User.role == "student")
                  .order_by(Submission.user_id, Submission.assignment_id, Submission.created_at, Submission.id))
    if user_id is not None:
        students_query = students_query.where(User.id == user_id)
        rows_query = rows_query.where(Submission.user_id == user_id)
    students = {uid: StudentRow(email, name, {a.id: None for a in assignments}, section or "")
                for uid, email, name, section in conn.execute(students_query)}
    rows: Sequence[Any] = conn.execute(rows_query).all()
    if conn.dialect.name == "sqlite":  # naive UTC times
        rows = [(r[0], _aware(r[1]), *r[2:6], _aware(r[6]), _aware(r[7])) for r in rows]
    charge = budget or 0
    for uid, mine in groupby(rows, key=_USER):
        student = students.get(uid)
        if student is None:
            continue  # the student arrived after the students' statement
        term = []
        for aid, group in groupby(mine, key=_ASSIGNMENT):
            entry = by_id.get(aid)
            if entry is None:
                continue  # the assignment's folder was removed
            tried = list(group)
            first = tried[0]
            policy = entry.policy if first[6] is None else entry.policy.extended(first[6], first[7])
            term.append((aid, policy, tried))
        counted, student.late_days_used = charge_late_days(term, charge)
        for aid, policy, tried in term:
            chosen = counted[aid]
            if chosen is not None:
                student.grades[aid] = Grade(chosen.score, chosen.raw_score,
                                            chosen.max_score or by_id[aid].spec.max_score,
                                            chosen.submission_id, chosen.late_days, len(tried), chosen.late_days_used)
    return Gradebook(assignments, list(students.values()), budget)


@dataclass
class LateDays:
    """One student's late days, as their assignment page shows them."""

    budget: int
    used: int  # spent over the term by the counted submissions
    grades: dict[str, Grade | None]  # the counted submission of each assignment (its late days, used and not)
    available: dict[str, int]  # the free days left when each assignment is charged (deadline order)

    @property
    def left(self) -> int:
        return self.budget - self.used


def late_days_of(session: Session, settings: Settings, user_id: int) -> LateDays | None:
    """The student's late-day account (the same computation as their gradebook row), or None without a budget."""
    book = build(session, settings, user_id=user_id)
    if book.late_day_budget is None or not book.students:
        return None
    row = book.students[0]
    mine = deadlines.extensions_of(session, user_id)
    order = sorted(book.assignments, key=lambda a: (deadlines.apply(a.policy, mine.get(a.id)).deadline
                                                     or _NEVER, a.id))
    left, available = book.late_day_budget, {}
    for entry in order:
        available[entry.id] = left
        grade = row.grades.get(entry.id)
        left -= grade.late_days_used if grade else 0
    return LateDays(book.late_day_budget, row.late_days_used, row.grades, available)


_NEVER = datetime.max.replace(tzinfo=timezone.utc)
_AS_RETURNED = DateTime(timezone=True)
_USER, _ASSIGNMENT = itemgetter(4), itemgetter(5)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _num(value: float) -> str:
    return f"{value:g}"
