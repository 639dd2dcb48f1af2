"""The gradebook: one row per student, one score per assignment, by each assignment's policy.

For each graded submission the *adjusted* score is its score times the late
factor ``max(0, 1 - late_penalty_per_day * started days after the deadline)``.
Policy ``best`` counts the highest adjusted score, ``last`` the most recent
graded submission (late or not). Submissions that ended in ``error`` (the
grader could not run them) do not count. Only students appear.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import catalog
from grader.config import Settings
from grader.models import Submission, User


@dataclass
class Grade:
    score: float
    raw_score: float
    max_score: float
    submission_id: int
    late_days: int
    submissions: int

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "raw_score": self.raw_score, "max_score": self.max_score,
                "submission_id": self.submission_id, "late_days": self.late_days, "submissions": self.submissions}


@dataclass
class StudentRow:
    email: str
    name: str
    grades: dict[str, Grade | None] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return round(sum(g.score for g in self.grades.values() if g is not None), 4)


@dataclass
class Gradebook:
    assignments: list[catalog.CourseAssignment]
    students: list[StudentRow]

    def as_dict(self) -> dict[str, Any]:
        return {
            "assignments": [a.as_dict() for a in self.assignments],
            "students": [{"email": s.email, "name": s.name, "total": s.total,
                          "grades": {aid: (g.as_dict() if g else None) for aid, g in s.grades.items()}}
                         for s in self.students],
        }

    def to_csv(self) -> str:
        ids = [a.id for a in self.assignments]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["email", "name", *ids, "total", *(f"{aid}_submission" for aid in ids),
                         *(f"{aid}_late_days" for aid in ids)])
        for s in self.students:
            grades = [s.grades.get(aid) for aid in ids]
            writer.writerow([csv_text(s.email), csv_text(s.name), *(_num(g.score) if g else "" for g in grades),
                             _num(s.total),
                             *(g.submission_id if g else "" for g in grades),
                             *(g.late_days if g else "" for g in grades)])
        return out.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_text(value: str) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula (``=``, ``+``, ``-``, ``@``,
    a tab or a line break, or their full-width forms) gets a leading apostrophe (OWASP's CSV injection
    advice); line breaks inside become spaces (a bare CR would otherwise split the row)."""
    if value.startswith(_FORMULA_STARTS):
        value = "'" + value
    return value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def build(session: Session, settings: Settings) -> Gradebook:
    """The gradebook in three statements (assignments, students, graded submissions), whatever the course size."""
    assignments = catalog.all_assignments(session, settings)
    by_id = {a.id: a for a in assignments}
    # Plain rows through the session's connection: a course's tens of thousands of submissions need no ORM
    # objects. Students are joined rather than listed in an IN (...) of thousands of bound parameters.
    conn = session.connection()
    students = {uid: StudentRow(email, name, {a.id: None for a in assignments})
                for uid, email, name in conn.execute(select(User.id, User.email, User.name)
                                                     .where(User.role == "student").order_by(User.email))}
    counts: dict[tuple[int, str], int] = {}
    rows = conn.execute(select(Submission.id, Submission.user_id, Submission.assignment_id,
                               Submission.created_at, Submission.score, Submission.max_score)
                        .join(User, User.id == Submission.user_id)
                        .where(Submission.status == "graded", User.role == "student")
                        .order_by(Submission.created_at, Submission.id)).all()
    for sid, uid, aid, created, score, max_score in rows:
        entry = by_id.get(aid)
        student = students.get(uid)
        if entry is None or student is None:
            continue  # the assignment's folder was removed, or the student arrived after the first statement
        counts[(uid, aid)] = counts.get((uid, aid), 0) + 1
        policy = entry.policy
        raw = score or 0.0
        adjusted = round(raw * policy.penalty_factor(created), 4) if policy.deadline is not None else round(raw, 4)
        current = student.grades[aid]
        # Rows come oldest first: "last" keeps replacing, "best" only on a strictly higher score.
        if current is None or policy.policy == "last" or adjusted > current.score:
            student.grades[aid] = Grade(adjusted, raw, max_score or entry.spec.max_score, sid,
                                        policy.late_days(created), 0)
    for uid, student in students.items():
        for aid, counted in student.grades.items():
            if counted is not None:
                counted.submissions = counts.get((uid, aid), 0)
    return Gradebook(assignments, list(students.values()))


def _num(value: float) -> str:
    return f"{value:g}"
