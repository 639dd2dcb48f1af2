"""Who may do what in the course, changed by instructors: roles and access, each change audited (issue 11).

Roles are ``student``, ``ta`` and ``instructor`` (:data:`grader.models.ROLES`). The pages and the CLI both
call these functions, which record the change with :func:`grader.audit.record` in the same transaction
(the caller commits both).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import audit, auth
from grader.errors import Conflict, Invalid, NotFound
from grader.models import ROLES, User

#: How a role reads in a sentence ("bob@example.edu is now a TA").
ROLE_NAMES = {"student": "a student", "ta": "a TA", "instructor": "an instructor"}


def change_role(session: Session, actor: User | str, email: str, role: str) -> tuple[User, str]:
    """Give ``email`` the role ``role``; returns the user and their former role (not committed).

    Refuses an unknown role and demoting the last instructor who can still log in (the course would have
    nobody left to manage it). Setting the role a user already has changes and records nothing."""
    if role not in ROLES:
        raise Invalid(f"the role must be one of {', '.join(ROLES)}, not {role!r}")
    user = auth.find_user(session, email)
    if user is None:
        raise NotFound(f"no user with the email {email!r}")
    old = user.role
    if old == role:
        return user, old
    if old == "instructor":
        # Locks the instructors' rows (PostgreSQL), so two instructors demoting each other cannot both pass.
        others = session.scalars(select(User.id).where(User.role == "instructor", User.id != user.id,
                                                       User.disabled_at.is_(None)).with_for_update()).all()
        if not others:
            raise Conflict(f"there is no other instructor who can log in: make someone else an instructor before "
                           f"{user.email} stops being one")
    user.role = role
    audit.record(session, actor, "role.change", user.email, old=old, new=role)
    return user, old


def set_access(session: Session, actor: User | str, email: str, disabled: bool) -> User:
    """Disable ``email`` (every session and token ends) or enable them again, recorded (not committed).

    A change that changes nothing (disabling a disabled user) is not recorded."""
    before = auth.find_user(session, email)
    was_disabled = before.disabled if before is not None else None
    user = auth.set_disabled(session, email, disabled)
    if was_disabled != disabled:
        audit.record(session, actor, "user.disable" if disabled else "user.enable", user.email)
    return user

