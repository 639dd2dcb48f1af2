"""The course's assignments as the service sees them: the folder, its policy, and its database row.

``assignments/<id>/`` stays the source of truth (a fourth assignment is a new
folder and nothing else): the row in ``assignments`` is created or refreshed
from the folder whenever its assignment.toml changes, so foreign keys and
gradebook queries always have it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader import audit
from grader.config import Settings
from grader.errors import NotFound
from grader.models import AssignmentRow, utcnow
from grader.policy import Policy, load_policy
from worker.assignments import Assignment, UnknownAssignment, get_assignment, list_assignment_ids


@dataclass(frozen=True)
class CourseAssignment:
    spec: Assignment
    policy: Policy

    @property
    def id(self) -> str:
        return self.spec.id

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.spec.id,
            "title": self.spec.title,
            "files": list(self.spec.files),
            "max_score": self.spec.max_score,
            "description": self.spec.description.strip(),
            **self.policy.as_dict(),
        }


def get(session: Session, settings: Settings, assignment_id: str) -> CourseAssignment:
    """The assignment with this id (its row synced); :class:`NotFound` names the known ones."""
    try:
        spec = get_assignment(assignment_id, settings.assignments_dir)
    except UnknownAssignment as exc:
        raise NotFound(str(exc)) from None
    entry = CourseAssignment(spec, load_policy(spec, settings))
    _sync(session, entry)
    return entry


def all_assignments(session: Session, settings: Settings) -> list[CourseAssignment]:
    return [get(session, settings, aid) for aid in list_assignment_ids(settings.assignments_dir)]


def _fingerprint(entry: CourseAssignment) -> str:
    toml = (entry.spec.path / "assignment.toml").read_bytes()
    return hashlib.sha256(toml + repr(entry.policy).encode()).hexdigest()


#: The columns of an assignment's policy: a change to any of them is recorded in the audit log.
POLICY_FIELDS = ("deadline", "hard_deadline", "policy", "late_penalty_per_day", "max_submissions_per_hour",
                 "cooldown_seconds")


def policy_changes(row: AssignmentRow, values: dict[str, object]) -> dict[str, dict[str, object]]:
    """``{field: {"old": ..., "new": ...}}`` for each policy field that differs (times as ISO 8601)."""
    def plain(value: object) -> object:
        return value.isoformat() if isinstance(value, datetime) else value

    return {name: {"old": plain(getattr(row, name)), "new": plain(values[name])}
            for name in POLICY_FIELDS if getattr(row, name) != values[name]}


def _sync(session: Session, entry: CourseAssignment) -> None:
    digest = _fingerprint(entry)
    row = session.get(AssignmentRow, entry.id)
    if row is not None and row.config_hash == digest:
        return
    values = dict(title=entry.spec.title, files=list(entry.spec.files), max_score=entry.spec.max_score,
                  deadline=entry.policy.deadline, hard_deadline=entry.policy.hard_deadline,
                  policy=entry.policy.policy, late_penalty_per_day=entry.policy.late_penalty_per_day,
                  max_submissions_per_hour=entry.policy.max_submissions_per_hour,
                  cooldown_seconds=entry.policy.cooldown_seconds, config_hash=digest, updated_at=utcnow())
    if row is not None:
        changes = policy_changes(row, values)
        # Only the process whose UPDATE moves the row from the hash it read records the change (once).
        result = session.execute(update(AssignmentRow).where(AssignmentRow.id == entry.id,
                                                             AssignmentRow.config_hash == row.config_hash)
                                 .values(**values).execution_options(synchronize_session="fetch"))
        if result.rowcount == 1 and changes:  # type: ignore[attr-defined]
            audit.record(session, "assignment.toml", "policy.change", f"assignment {entry.id}", **changes)
        session.flush()
        return
    try:
        # Another process may insert the same new assignment at the same moment: only this part is undone.
        with session.begin_nested():
            session.add(AssignmentRow(id=entry.id, **values))
    except IntegrityError:
        pass
