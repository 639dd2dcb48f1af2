"""One-time sign-in links: how a user gets a password without one ever being sent by e-mail (issue 11).

A roster import (:mod:`grader.roster`) gives every new account a link; an instructor makes one for a user
who forgot their password (the users page, ``grader users link EMAIL``). A link is
``<site>/signin/<token>``: the token is random (256 bits) and only its SHA-256 is stored
(:class:`~grader.models.SigninLink`), so a copy of the database opens no account. A link expires
(``GRADER_SIGNIN_LINK_DAYS`` for a first sign-in, ``GRADER_RESET_LINK_HOURS`` for a reset), works once
(``used_at`` is set by a conditional UPDATE, so two requests racing with the same link cannot both win),
and a new link for a user ends their older unused ones. A used, expired, unknown link, or one of a disabled
account, gets the same answer, which says nothing about the account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from grader import auth
from grader.config import Settings
from grader.errors import Invalid, NotFound
from grader.models import SigninLink, User, utcnow

TOKEN_PREFIX = "sl_"
MAX_TOKEN_LENGTH = 100
PURPOSES = ("first", "reset")
#: The one answer for every link that cannot be used: it tells nobody whether an account exists.
UNUSABLE = ("This sign-in link cannot be used: it has been used already, it has expired, or it is not "
            "a link this site made. Ask the course staff for a new one.")


class LinkUnusable(NotFound):
    """The link is unknown, used, expired, replaced by a newer one, or its account is disabled."""

    def __init__(self) -> None:
        super().__init__(UNUSABLE)


@dataclass(frozen=True)
class IssuedLink:
    """A link as handed out: the token (shown once, never stored) and its row."""

    user: User
    token: str
    expires_at: datetime
    purpose: str

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/signin/{self.token}"


def lifetime(settings: Settings, purpose: str) -> timedelta:
    """How long a new link of ``purpose`` stays valid."""
    if purpose == "reset":
        return timedelta(hours=settings.reset_link_hours)
    return timedelta(days=settings.signin_link_days)


def issue(session: Session, users: Iterable[User], *, purpose: str, valid_for: timedelta,
          created_by: User | None = None, now: datetime | None = None) -> list[IssuedLink]:
    """A new link for each of ``users`` (flushed, not committed); their older unused links stop working.

    Cheap for a whole course: a random token and a SHA-256 each, one UPDATE and one INSERT batch.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    if valid_for <= timedelta(0):
        raise Invalid("a link must be valid for some time")
    now = now or utcnow()
    users = list(users)
    if not users:
        return []
    ids = [u.id for u in users]
    for start in range(0, len(ids), 1000):  # keeps each statement's parameter list short
        session.execute(update(SigninLink)
                        .where(SigninLink.user_id.in_(ids[start:start + 1000]), SigninLink.used_at.is_(None),
                               SigninLink.expires_at > now)
                        .values(expires_at=now).execution_options(synchronize_session=False))
    issued = []
    rows = []
    for user in users:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = now + valid_for
        rows.append(SigninLink(user_id=user.id, token_hash=auth.token_digest(token), purpose=purpose,
                               created_at=now, expires_at=expires, created_by=created_by.id if created_by else None))
        issued.append(IssuedLink(user=user, token=token, expires_at=expires, purpose=purpose))
    session.add_all(rows)
    session.flush()
    return issued


def issue_for_email(session: Session, settings: Settings, email: str, *, created_by: User | None = None,
                    valid_for: timedelta | None = None, now: datetime | None = None) -> IssuedLink:
    """A link for one user (an instructor's "forgot password"): ``reset`` if they have a password, else
    ``first``. Refused for an unknown or disabled account (the instructor is told; nobody else asks)."""
    user = auth.find_user(session, email)
    if user is None:
        raise NotFound(f"no user with the email {email.strip()!r}")
    if user.disabled:
        raise Invalid(f"{user.email} is disabled: enable the account first")
    purpose = "reset" if user.password_hash else "first"
    return issue(session, [user], purpose=purpose, valid_for=valid_for or lifetime(settings, purpose),
                 created_by=created_by, now=now)[0]


def _live_link(session: Session, token: str, now: datetime) -> SigninLink:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        raise LinkUnusable()
    row = session.scalar(select(SigninLink).options(joinedload(SigninLink.user))
                         .where(SigninLink.token_hash == auth.token_digest(token))
                         .execution_options(populate_existing=True))  # never a stale copy of used_at
    if row is None or row.used_at is not None or row.expires_at <= now or row.user.disabled:
        raise LinkUnusable()
    return row


def check(session: Session, token: str, now: datetime | None = None) -> SigninLink:
    """The link's row if it can be used now (nothing changes: mail scanners open links too)."""
    return _live_link(session, token, now or utcnow())


def redeem(session: Session, token: str, password: str, *, now: datetime | None = None) -> User:
    """Use the link: set the user's password (every other session and token of theirs ends) and return the
    user, whom the caller signs in. Not committed; the caller commits, and on any error rolls back, which
    leaves the link unused.

    :class:`LinkUnusable` for a link that cannot be used; :class:`Invalid` for a password the account page
    would refuse too (the link stays usable).
    """
    now = now or utcnow()
    row = _live_link(session, token, now)
    auth.change_password(session, row.user, password, now=now)  # validates the password first
    _mark_used(session, row, now)
    return row.user


def consume(session: Session, token: str, *, now: datetime | None = None) -> SigninLink:
    """Use the link without setting a password (what :func:`redeem` does besides the password; not committed)."""
    now = now or utcnow()
    row = _live_link(session, token, now)
    _mark_used(session, row, now)
    return row


def _mark_used(session: Session, row: SigninLink, now: datetime) -> None:
    # Single use even under a race: only one UPDATE finds the link unused.
    used = session.execute(update(SigninLink).where(SigninLink.id == row.id, SigninLink.used_at.is_(None),
                                                    SigninLink.expires_at > now)
                           .values(used_at=now).execution_options(synchronize_session=False))
    if used.rowcount != 1:
        raise LinkUnusable()
