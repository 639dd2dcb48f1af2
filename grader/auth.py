"""Users, passwords and API tokens.

Passwords are hashed with werkzeug's scrypt. API tokens are random
(``gr_`` + 43 URL-safe characters, 256 bits); only their SHA-256 is stored,
each with an expiry. Page logins are :class:`WebSession` rows (the cookie
carries a random id, the table its SHA-256), so they end on the server.

Guessing is limited outside this module, before any password is hashed
(:mod:`grader.dashboard.throttle`): per (account, address) and per address,
never per account alone, so nobody can lock another person out.
Changing a password ends every session and revokes every token of the user;
disabling a user (instructors) ends them too and refuses new ones.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from grader.config import Settings
from grader.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from grader.models import ROLES, ApiToken, User, WebSession, utcnow

TOKEN_PREFIX = "gr_"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked against when the email is unknown, so a login takes as long whether or not the account exists.
_DUMMY_HASH = generate_password_hash("not a real password")


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise Invalid(f"{email!r} is not an email address")
    return email


def create_user(session: Session, email: str, *, role: str = "student", password: str | None = None,
                name: str = "") -> User:
    """Add a user (not committed). A user without a password can only use tokens made by an instructor."""
    email = normalize_email(email)
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with the email {email} already exists")
    user = User(email=email, role=role, name=name, password_hash=None, failed_logins=0, created_at=utcnow())
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < 8:
        raise Invalid("the password must have at least 8 characters")
    user.password_hash = generate_password_hash(password)


def find_user(session: Session, email: str) -> User | None:
    try:
        email = normalize_email(email)
    except Invalid:
        return None
    return session.scalar(select(User).where(User.email == email))


def authenticate(session: Session, settings: Settings, email: str, password: str,
                 now: datetime | None = None) -> User:
    """The user with this email and password; :class:`Unauthorized` otherwise (the same answer, after the
    same work, whether or not the email exists), :class:`Forbidden` for a disabled account's right password.

    Callers limit attempts first (:class:`grader.dashboard.throttle.LoginGuard`).
    """
    user = find_user(session, email)
    if user is None or user.password_hash is None:
        check_password_hash(_DUMMY_HASH, password or "")
        raise Unauthorized("wrong email or password")
    if not check_password_hash(user.password_hash, password or ""):
        raise Unauthorized("wrong email or password")
    if user.disabled:
        raise Forbidden("this account is disabled; ask the course staff")
    return user


def change_password(session: Session, user: User, new_password: str, *, now: datetime | None = None) -> None:
    """Set a new password and end every page session and token of the user (not committed)."""
    set_password(user, new_password)
    end_all_sessions(session, user, now=now)


def end_all_sessions(session: Session, user: User, *, now: datetime | None = None) -> None:
    """Revoke every page session and every API token of ``user`` (not committed)."""
    now = now or utcnow()
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=now).execution_options(synchronize_session=False))
    session.execute(update(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
                    .values(revoked_at=now).execution_options(synchronize_session=False))


def set_disabled(session: Session, email: str, disabled: bool, *, now: datetime | None = None) -> User:
    """Disable (ending every session and token) or re-enable a user (not committed)."""
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no user {email}")
    if disabled:
        if user.disabled_at is None:
            user.disabled_at = now or utcnow()
        end_all_sessions(session, user, now=now)
    else:
        user.disabled_at = None
    return user


# --------------------------------------------------------------------------- page sessions


def create_web_session(session: Session, user: User, *, lifetime: timedelta,
                       now: datetime | None = None) -> str:
    """A new page session for ``user``; returns the id for the cookie (only its SHA-256 is stored)."""
    now = now or utcnow()
    # The user's ended sessions are of no use any more: dropped here, so the table stays small.
    session.execute(delete(WebSession).where(WebSession.user_id == user.id,
                                             or_(WebSession.expires_at < now, WebSession.revoked_at < now))
                    .execution_options(synchronize_session=False))
    sid = secrets.token_urlsafe(32)
    session.add(WebSession(id=token_digest(sid), user_id=user.id, created_at=now, expires_at=now + lifetime))
    session.flush()
    return sid


def user_for_web_session(session: Session, sid: str, now: datetime | None = None) -> User | None:
    """The user of a live page session (not revoked, not expired, user not disabled), else None."""
    if not sid or len(sid) > 100:
        return None
    row = session.scalar(select(WebSession).options(joinedload(WebSession.user))  # one statement per request
                         .where(WebSession.id == token_digest(sid)))
    now = now or utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now or row.user.disabled:
        return None
    return row.user


def end_web_session(session: Session, sid: str, now: datetime | None = None) -> None:
    row = session.get(WebSession, token_digest(sid)) if sid and len(sid) <= 100 else None
    if row is not None and row.revoked_at is None:
        row.revoked_at = now or utcnow()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, user: User, *, days: float, label: str = "",
                 now: datetime | None = None) -> tuple[str, ApiToken]:
    """A new token for ``user`` valid for ``days``; returns the token (shown once) and its row (not committed)."""
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=token_digest(token), label=label[:100], created_at=now,
                   expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    return token, row


def user_for_token(session: Session, token: str, now: datetime | None = None) -> User:
    """The user a bearer token belongs to; :class:`Unauthorized` saying why otherwise."""
    now = now or utcnow()
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("invalid token")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None:
        raise Unauthorized("invalid token")
    if row.revoked_at is not None:
        raise Unauthorized("this token was revoked; log in again")
    if row.expires_at <= now:
        raise Unauthorized("this token has expired; log in again (grader login)")
    if row.user.disabled:
        raise Unauthorized("this account is disabled; ask the course staff")
    # Written at most once a minute, so reads stay reads.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    return row.user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked and expired ones too, so the list explains itself)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id.desc()).limit(200)))


def revoke_token_id(session: Session, user: User, token_id: int, now: datetime | None = None) -> ApiToken:
    """Revoke one of ``user``'s own tokens by id; someone else's is "not found" (not committed)."""
    row = session.get(ApiToken, token_id) if 0 < token_id < 2**63 else None
    if row is None or row.user_id != user.id:
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
    return row


def token_status(row: ApiToken, now: datetime | None = None) -> str:
    now = now or utcnow()
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= now else "active"


def revoke_token(session: Session, token: str, now: datetime | None = None) -> bool:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now or utcnow()
    return True
