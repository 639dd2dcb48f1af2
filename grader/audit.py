"""The audit log: who changed what, and when (issue 11).

Every regrade, policy change, extension, roster import, role change, user disabling and LMS link is
recorded with :func:`record` in the same transaction as the change itself, so a change and its entry are
committed (or rolled back) together. Instructors read it on the audit page and with ``grader audit``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.models import AuditEntry, User, utcnow


def record(session: Session, actor: User | str | None, action: str, target: str = "", *,
           at: datetime | None = None, **details: Any) -> AuditEntry:
    """Add an entry (not committed: the caller commits it with the change it records).

    ``actor`` is the user who acted, or a label for what acted without one (``"cli"`` for a command run on
    the server, ``"lti"`` for a launch from the LMS). ``details`` must be JSON data (strings, numbers, lists).
    """
    if isinstance(actor, User):
        actor_id, label = actor.id, actor.email
    else:
        actor_id, label = None, actor or ""
    entry = AuditEntry(actor_id=actor_id, actor=label[:254], action=action[:50], target=target[:300],
                       details=details, at=at or utcnow())
    session.add(entry)
    return entry


def entries(session: Session, *, limit: int = 200, offset: int = 0, action: str | None = None) -> list[AuditEntry]:
    """The newest entries first."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query.offset(offset).limit(limit)))


def count(session: Session, *, action: str | None = None) -> int:
    query = select(func.count()).select_from(AuditEntry)
    if action:
        query = query.where(AuditEntry.action == action)
    return int(session.scalar(query) or 0)


def actions(session: Session) -> list[str]:
    """The actions recorded so far (for a filter)."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def describe(details: dict[str, Any] | None) -> list[str]:
    """An entry's details as short lines a person reads: ``deadline: 2026-04-01T23:59:00+00:00 → ...``.

    A value ``{"old": ..., "new": ...}`` (and top-level ``old``/``new`` or ``before``/``after``) reads "old → new"."""
    def show(value: Any) -> str:
        if value is None or value == "":
            return "none"
        if isinstance(value, dict) and set(value) == {"old", "new"}:
            return f"{show(value['old'])} → {show(value['new'])}"
        if isinstance(value, (list, tuple)):
            return ", ".join(show(v) for v in value) or "none"
        if isinstance(value, dict):
            return "; ".join(f"{k}: {show(v)}" for k, v in value.items())
        return str(value)

    details = dict(details or {})
    lines = []
    for old, new in (("old", "new"), ("before", "after")):
        if old in details and new in details:
            lines.append(show({"old": details.pop(old), "new": details.pop(new)}))
    lines += [f"{key.replace('_', ' ')}: {show(value)}" for key, value in details.items()]
    return lines
