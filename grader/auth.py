"""Users, passwords and API tokens.

Passwords are hashed with werkzeug's scrypt. API tokens are random
(``gr_`` + 43 URL-safe characters, 256 bits); only their SHA-256 is stored,
each with an expiry. Repeated wrong passwords lock the login for a while, so
the token route cannot be used to guess passwords.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from grader.config import Settings
from grader.errors import Conflict, Invalid, LoginLocked, Unauthorized
from grader.models import ROLES, ApiToken, User, utcnow

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
    """The user with this email and password; :class:`Unauthorized` or :class:`LoginLocked` otherwise.

    Failed attempts are counted on the user row (committed by the caller either way).
    """
    now = now or utcnow()
    user = find_user(session, email)
    if user is None or user.password_hash is None:
        check_password_hash(_DUMMY_HASH, password or "")
        raise Unauthorized("wrong email or password")
    if user.failed_logins >= settings.login_max_failures and user.last_failed_login is not None:
        unlock = user.last_failed_login + timedelta(seconds=settings.login_lockout_seconds)
        if now < unlock:
            raise LoginLocked("too many failed logins; try again later",
                              retry_after=int((unlock - now).total_seconds()) + 1)
        user.failed_logins = 0
    if not check_password_hash(user.password_hash, password or ""):
        user.failed_logins += 1
        user.last_failed_login = now
        raise Unauthorized("wrong email or password")
    user.failed_logins = 0
    return user


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
    # Written at most once a minute, so reads stay reads.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    return row.user


def revoke_token(session: Session, token: str, now: datetime | None = None) -> bool:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now or utcnow()
    return True
