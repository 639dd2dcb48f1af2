"""The gradebook policy of an assignment: the ``[policy]`` table of its assignment.toml.

```toml
[policy]
deadline = 2027-04-19T23:59:00-07:00       # late penalty starts after this (a UTC offset is required)
hard_deadline = 2027-04-22T23:59:00-07:00  # no submissions after this (students)
policy = "best"                            # "best": the best score counts; "last": the latest one
late_penalty_per_day = 0.1                 # fraction of the score lost per started day late
max_submissions_per_hour = 10              # 0: no limit
cooldown_seconds = 60                      # minimum time between two submissions; 0: none
```

Every key is optional; missing ones take the ``GRADER_*`` defaults (no
deadline: never late, and ``after_due_date`` tests stay masked for students).
The folder is the source of truth: the database keeps a copy for queries,
refreshed whenever the file changes.

A student may have their own deadlines for one assignment (an extension:
:meth:`Policy.extended`), and the course may give every student a budget of
free late days for the term (:func:`charge_late_days`, the CS231n rule):

- assignments are charged in the order of the student's own deadlines (ties by
  assignment id); an assignment without a deadline is never late;
- a submission's late days are the started days after the student's deadline:
  exactly at the deadline is 0, one second after is 1, 24 h and 1 s is 2;
- the submission that counts is chosen per assignment by its policy, each
  candidate valued with the free days still left when the assignment comes:
  its late days are covered by the budget up to what is left, and only the days
  beyond are penalised (``late_penalty_per_day`` each); ``best`` keeps the highest
  value (the earliest of equal ones), ``last`` the latest graded submission;
- only the counted submission's days are spent: a submission that does not
  count never costs a late day, and a late submission worth no more than an
  earlier one is never chosen over it;
- the hard deadline still closes submissions (late days do not reopen them).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

from grader.config import POLICIES, Settings
from worker.assignments import Assignment, AssignmentError

KEYS = ("deadline", "hard_deadline", "policy", "late_penalty_per_day", "max_submissions_per_hour",
        "cooldown_seconds")


@dataclass(frozen=True)
class Policy:
    deadline: datetime | None = None
    hard_deadline: datetime | None = None
    policy: str = "best"
    late_penalty_per_day: float = 0.0
    max_submissions_per_hour: int = 0
    cooldown_seconds: float = 0.0

    def late_days(self, at: datetime) -> int:
        """Started days after the deadline (0 when on time or without a deadline)."""
        if self.deadline is None or at <= self.deadline:
            return 0
        return math.ceil((at - self.deadline) / timedelta(days=1))

    def penalty_factor(self, at: datetime) -> float:
        return max(0.0, 1.0 - self.late_penalty_per_day * self.late_days(at))

    def deadline_passed(self, now: datetime) -> bool:
        return self.deadline is not None and now > self.deadline

    def closed(self, now: datetime) -> bool:
        """True after the hard deadline: students cannot submit any more."""
        return self.hard_deadline is not None and now > self.hard_deadline

    def extended(self, deadline: datetime, hard_deadline: datetime | None = None) -> Policy:
        """This policy with one student's own deadlines (an extension). Without a hard deadline of its own, the
        student keeps the assignment's, but never one before their own deadline."""
        if hard_deadline is None and self.hard_deadline is not None:
            hard_deadline = max(self.hard_deadline, deadline)
        return replace(self, deadline=deadline, hard_deadline=hard_deadline)

    def as_dict(self) -> dict[str, Any]:
        return {
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "hard_deadline": self.hard_deadline.isoformat() if self.hard_deadline else None,
            "policy": self.policy,
            "late_penalty_per_day": self.late_penalty_per_day,
            "max_submissions_per_hour": self.max_submissions_per_hour,
            "cooldown_seconds": self.cooldown_seconds,
        }


def load_policy(assignment: Assignment, settings: Settings) -> Policy:
    path = assignment.path / "assignment.toml"
    return _load(path, path.stat().st_mtime, settings.policy, settings.late_penalty_per_day,
                 settings.max_submissions_per_hour, settings.cooldown_seconds)


@lru_cache(maxsize=256)
def _load(path: Path, _mtime: float, policy: str, penalty: float, per_hour: int, cooldown: float) -> Policy:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("policy", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AssignmentError(f"{path}: {exc}") from None
    where = f"{path}: [policy]"
    if not isinstance(table, dict):
        raise AssignmentError(f"{where} must be a table")
    unknown = set(table) - set(KEYS)
    if unknown:
        raise AssignmentError(f"{where}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(KEYS)})")
    deadline = _datetime(table.get("deadline"), f"{where}.deadline")
    hard = _datetime(table.get("hard_deadline"), f"{where}.hard_deadline")
    if deadline and hard and hard < deadline:
        raise AssignmentError(f"{where}: hard_deadline is before deadline")
    result = Policy(
        deadline=deadline or hard,
        hard_deadline=hard,
        policy=str(table.get("policy", policy)),
        late_penalty_per_day=_number(table.get("late_penalty_per_day", penalty), f"{where}.late_penalty_per_day"),
        max_submissions_per_hour=int(_number(table.get("max_submissions_per_hour", per_hour),
                                             f"{where}.max_submissions_per_hour")),
        cooldown_seconds=_number(table.get("cooldown_seconds", cooldown), f"{where}.cooldown_seconds"),
    )
    if result.policy not in POLICIES:
        raise AssignmentError(f"{where}.policy must be one of {', '.join(POLICIES)}")
    if not 0 <= result.late_penalty_per_day <= 1:
        raise AssignmentError(f"{where}.late_penalty_per_day must be between 0 and 1")
    return result


def _datetime(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise AssignmentError(f"{where}: {value!r} is not an ISO date and time") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        raise AssignmentError(f"{where}: give a time and a UTC offset, e.g. 2027-04-19T23:59:00-07:00")
    if not isinstance(value, datetime):
        raise AssignmentError(f"{where} must be a date and time")
    if value.tzinfo is None:
        raise AssignmentError(f"{where}: give a UTC offset (e.g. 2027-04-19T23:59:00-07:00); "
                              "a deadline without one is ambiguous")
    return value.astimezone(timezone.utc)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise AssignmentError(f"{where} must be a non-negative number")
    return float(value)


# --------------------------------------------------------------------------- the late-day budget


class Attempt(NamedTuple):
    """A graded submission as the late-day rule sees it (the gradebook passes database rows of this layout)."""

    submission_id: int
    at: datetime
    score: float  # the raw score, before any late penalty
    max_score: float | None = None


@dataclass(frozen=True)
class Counted:
    """The submission that counts for one assignment, and what its lateness cost."""

    submission_id: int
    raw_score: float
    score: float  # after the late penalty of the days the budget did not cover
    late_days: int  # started days after the student's own deadline
    late_days_used: int  # of those, covered by the late-day budget (free)
    max_score: float | None = None

    @property
    def penalized_days(self) -> int:
        return self.late_days - self.late_days_used


def count(policy: Policy, attempts: Iterable[Sequence[Any]], days_left: int = 0) -> Counted | None:
    """The counted submission of one assignment with ``days_left`` free late days. ``attempts``, oldest first,
    are :class:`Attempt`\\ s or rows that start like one (id, time, raw score, max score): the gradebook passes
    its database rows as they are."""
    # Called for every student and assignment of the gradebook: Policy.late_days is inlined.
    deadline, per_day, last = policy.deadline, policy.late_penalty_per_day, policy.policy == "last"
    chosen: tuple[float, Sequence[Any], int, int] | None = None
    for attempt in attempts:
        at, raw = attempt[1], attempt[2] or 0.0
        if deadline is None or at <= deadline:
            late = free = 0
            score = round(raw, 4)
        else:
            late = math.ceil((at - deadline) / _DAY)
            free = late if late < days_left else days_left
            score = round(raw * max(0.0, 1.0 - per_day * (late - free)) if late > free else raw, 4)
        if chosen is None or last or score > chosen[0]:
            chosen = (score, attempt, late, free)
    if chosen is None:
        return None
    score, attempt, late, free = chosen
    return Counted(attempt[0], attempt[2] or 0.0, score, late, free, attempt[3])


_DAY = timedelta(days=1)


def charge_late_days(assignments: Sequence[tuple[str, Policy, Sequence[Sequence[Any]]]], budget: int
                     ) -> tuple[dict[str, Counted | None], int]:
    """One student's term: ``(assignment id, the student's policy, graded attempts oldest first)`` for each
    assignment, and the term's free late days. Returns the counted submission of each assignment and the late
    days spent in all (the rule is in this module's docstring)."""
    left = max(0, budget)
    out: dict[str, Counted | None] = {}
    for aid, policy, attempts in sorted(assignments, key=_deadline_order):
        counted = count(policy, attempts, left)
        out[aid] = counted
        if counted is not None:
            left -= counted.late_days_used
    return out, max(0, budget) - left


_NEVER = datetime.max.replace(tzinfo=timezone.utc)


def _deadline_order(item: tuple[str, Policy, Sequence[Sequence[Any]]]) -> tuple[datetime, str]:
    return (item[1].deadline or _NEVER, item[0])
