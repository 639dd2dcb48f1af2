"""A student's own deadlines: per-student extensions and the term's late-day budget (issue 11).

An :class:`~grader.models.Extension` gives one student their own deadline (and hard deadline) for one
assignment; :func:`policy_for` is the assignment's policy as it applies to that student, and everything
that depends on a deadline asks it: the late penalty and the late days (the gradebook), the hard deadline
at submit time, when ``after_due_date`` tests are shown, the student's assignment page.

The late-day budget is the course setting ``late_days`` (:class:`~grader.models.CourseSetting`): the free
late days each student has for the whole term, spent by :func:`grader.policy.charge_late_days`. Unset, the
course has no budget and each assignment's late penalty applies from the first day.

Every change is recorded in the audit log in the same transaction (:func:`grader.audit.record`); nothing
here commits: the caller does, with the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import audit, auth, catalog
from grader.config import Settings
from grader.errors import Invalid, NotFound
from grader.models import CourseSetting, Extension, User, utcnow
from grader.policy import Policy

BUDGET_KEY = "late_days"
#: The most free late days a term may have, and the longest extension in days (a typo guard, not a policy).
MAX_DAYS = 365
MAX_REASON = 500


# --------------------------------------------------------------------------- the late-day budget


def late_day_budget(session: Session) -> int | None:
    """The term's free late days per student, or None when the course has no budget."""
    row = session.get(CourseSetting, BUDGET_KEY)
    if row is None or row.value is None:
        return None
    return int(row.value)


def set_late_day_budget(session: Session, actor: User | str, days: int | None) -> int | None:
    """Set (or, with None, remove) the term's late-day budget; audited. Returns the previous value."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS):
        raise Invalid(f"the late-day budget must be a whole number of days from 0 to {MAX_DAYS}, not {days!r}")
    row = session.get(CourseSetting, BUDGET_KEY)
    before = None if row is None else row.value
    if days is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(CourseSetting(key=BUDGET_KEY, value=days, updated_at=utcnow(), updated_by=_actor_id(actor)))
    else:
        row.value, row.updated_at, row.updated_by = days, utcnow(), _actor_id(actor)
    audit.record(session, actor, "policy.late_days", "course", before=before, after=days)
    session.flush()
    return None if before is None else int(before)


# --------------------------------------------------------------------------- extensions


@dataclass(frozen=True)
class ExtensionView:
    """An extension as the page and the CLI list it."""

    id: int
    email: str
    name: str
    assignment_id: str
    deadline: datetime
    hard_deadline: datetime | None
    reason: str
    created_at: datetime
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        return {"email": self.email, "assignment": self.assignment_id, "deadline": self.deadline.isoformat(),
                "hard_deadline": self.hard_deadline.isoformat() if self.hard_deadline else None,
                "reason": self.reason, "created_at": self.created_at.isoformat(), "created_by": self.created_by}


def parse_time(value: str, what: str = "the date") -> datetime:
    """An ISO date and time with a UTC offset (``2027-04-21T23:59:00-07:00``, or ``...Z``), in UTC."""
    text = (value or "").strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise Invalid(f"{what} {value!r} is not an ISO date and time (e.g. 2027-04-21T23:59:00-07:00)") from None
    if parsed.tzinfo is None:
        raise Invalid(f"{what} {value!r} has no UTC offset; give one (e.g. 2027-04-21T23:59:00-07:00 or ...Z), "
                      "a time without it is ambiguous")
    return parsed.astimezone(timezone.utc)


def add_extension(session: Session, settings: Settings, actor: User | str, email: str, assignment_id: str, *,
                  days: float | None = None, until: datetime | None = None, hard_until: datetime | None = None,
                  reason: str = "") -> Extension:
    """Give a student their own deadline for one assignment (replacing an extension they had for it); audited.

    ``days`` moves the assignment's deadline and hard deadline later by that many days; ``until`` sets the
    student's deadline, and their hard deadline keeps the assignment's distance from the deadline (or is
    ``hard_until``). Both are counted from the assignment's own deadline, never from an earlier extension.
    """
    if days is None and until is None:
        raise Invalid("give a number of days or a new deadline (--days N or --until ISO)")
    if days is not None and until is not None:
        raise Invalid("give a number of days or a new deadline (--days N or --until ISO), not both")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise Invalid(f"the reason is {len(reason)} characters; at most {MAX_REASON}")
    user = _student(session, email)
    entry = catalog.get(session, settings, assignment_id)
    policy = entry.policy
    if policy.deadline is None:
        raise Invalid(f"{entry.id} has no deadline, so there is nothing to extend")
    if days is not None:
        if isinstance(days, bool) or not 0 < days <= MAX_DAYS:
            raise Invalid(f"an extension is more than 0 and at most {MAX_DAYS} days, not {days!r}")
        shift = timedelta(days=days)
        deadline = policy.deadline + shift
        hard = policy.hard_deadline + shift if policy.hard_deadline is not None else None
    else:
        assert until is not None
        if until.tzinfo is None:
            raise Invalid("the new deadline needs a UTC offset")
        deadline = until.astimezone(timezone.utc)
        if deadline <= policy.deadline:
            raise Invalid(f"an extension moves the deadline later: {deadline.isoformat()} is not after "
                          f"{entry.id}'s deadline {policy.deadline.isoformat()}")
        if deadline - policy.deadline > timedelta(days=MAX_DAYS):
            raise Invalid(f"an extension is at most {MAX_DAYS} days")
        hard = deadline + (policy.hard_deadline - policy.deadline) if policy.hard_deadline is not None else None
    if hard_until is not None:
        if hard_until.tzinfo is None:
            raise Invalid("the new hard deadline needs a UTC offset")
        hard = hard_until.astimezone(timezone.utc)
        if hard < deadline:
            raise Invalid(f"the hard deadline {hard.isoformat()} is before the deadline {deadline.isoformat()}")
    row = session.scalar(select(Extension).where(Extension.user_id == user.id,
                                                 Extension.assignment_id == entry.id))
    previous = None
    if row is None:
        row = Extension(user_id=user.id, assignment_id=entry.id)
        session.add(row)
    else:
        previous = {"deadline": row.deadline.isoformat(),
                    "hard_deadline": row.hard_deadline.isoformat() if row.hard_deadline else None,
                    "reason": row.reason}
    row.deadline, row.hard_deadline, row.reason = deadline, hard, reason
    row.created_at, row.created_by = utcnow(), _actor_id(actor)
    audit.record(session, actor, "extension.add", f"{user.email} {entry.id}", user=user.email,
                 assignment=entry.id, deadline=deadline.isoformat(),
                 hard_deadline=hard.isoformat() if hard else None, reason=reason, replaced=previous)
    session.flush()
    return row


def remove_extension(session: Session, actor: User | str, email: str, assignment_id: str) -> None:
    """Remove a student's extension for one assignment (they are back on the assignment's deadlines); audited."""
    user = auth.find_user(session, email)
    row = None if user is None else session.scalar(
        select(Extension).where(Extension.user_id == user.id, Extension.assignment_id == assignment_id))
    if user is None or row is None:
        raise NotFound(f"{email} has no extension for {assignment_id}")
    audit.record(session, actor, "extension.remove", f"{user.email} {assignment_id}", user=user.email,
                 assignment=assignment_id, deadline=row.deadline.isoformat(),
                 hard_deadline=row.hard_deadline.isoformat() if row.hard_deadline else None)
    session.delete(row)
    session.flush()


def list_extensions(session: Session, assignment_id: str | None = None) -> list[ExtensionView]:
    """Every extension (or one assignment's), by assignment then e-mail."""
    granter = User.__table__.alias("granter")
    query = (select(Extension.id, User.email, User.name, Extension.assignment_id, Extension.deadline,
                    Extension.hard_deadline, Extension.reason, Extension.created_at, granter.c.email)
             .join(User, User.id == Extension.user_id)
             .outerjoin(granter, granter.c.id == Extension.created_by)
             .order_by(Extension.assignment_id, User.email))
    if assignment_id:
        query = query.where(Extension.assignment_id == assignment_id)
    return [ExtensionView(eid, email, name, aid, deadline, hard, reason, created, by or "cli")
            for eid, email, name, aid, deadline, hard, reason, created, by in session.execute(query)]


def extensions_of(session: Session, user_id: int) -> dict[str, Extension]:
    """One student's extensions by assignment id (one query)."""
    return {row.assignment_id: row for row in session.scalars(select(Extension).where(Extension.user_id == user_id))}


def all_extensions(session: Session) -> dict[tuple[int, str], Extension]:
    """Every extension by (user id, assignment id), in one query (a course has a few dozen)."""
    return {(row.user_id, row.assignment_id): row for row in session.scalars(select(Extension))}


def policy_for(session: Session, entry: catalog.CourseAssignment, user_id: int) -> Policy:
    """The assignment's policy as it applies to this user: with their extension's deadlines, if any."""
    row = session.scalar(select(Extension).where(Extension.user_id == user_id, Extension.assignment_id == entry.id))
    return apply(entry.policy, row)


def apply(policy: Policy, extension: Extension | None) -> Policy:
    return policy if extension is None else policy.extended(extension.deadline, extension.hard_deadline)


def _student(session: Session, email: str) -> User:
    user = auth.find_user(session, email)
    if user is None:
        raise NotFound(f"no user with the email {email!r}")
    if user.role != "student":
        raise Invalid(f"{user.email} is a {user.role}; extensions are for students")
    return user


def _actor_id(actor: User | str) -> int | None:
    return actor.id if isinstance(actor, User) else None
