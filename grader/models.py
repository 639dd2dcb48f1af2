"""The database tables (SQLAlchemy 2 declarative models).

The database is the source of truth (DESIGN.md): a :class:`Submission` row,
with its :class:`SubmissionFile` contents, is committed before anything is
queued; the worker claims it, grades it and stores a :class:`Report` with one
:class:`TestResult` per test in the same transaction that marks it graded.
Times are stored in UTC and always come back timezone-aware.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# ta: course staff who see the gradebook, submissions and statistics and may regrade, but manage no users
# and change no policy (issue 11).
ROLES = ("student", "ta", "instructor")
STAFF_ROLES = ("ta", "instructor")
STATUSES = ("queued", "running", "graded", "error")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC (SQLite has no time zones; PostgreSQL uses timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; use timezone-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


JSONType = JSON().with_variant(JSONB(), "postgresql")

# Stable constraint names, so Alembic migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="student")
    section: Mapped[str] = mapped_column(String(100), default="")  # from the roster (e.g. a discussion section)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Unused since failed logins are counted per (account, address) outside the database (kept for old rows).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_login: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set by an instructor: no login, no token, no page session works while it is set.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"

    @property
    def is_staff(self) -> bool:
        """An instructor or a TA: sees the whole course's submissions, gradebook and statistics."""
        return self.role in STAFF_ROLES

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak reveals no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship(back_populates="tokens")


class WebSession(Base):
    """A login to the pages. The signed cookie carries a random id whose SHA-256 is this row's key, so
    logging out, changing the password or being disabled ends the session on the server."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's session id
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship()


class AssignmentRow(Base):
    """An assignment as last loaded from ``assignments/<id>/`` (the folder is the source of truth)."""

    __tablename__ = "assignments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    files: Mapped[list[str]] = mapped_column(JSONType)
    max_score: Mapped[float] = mapped_column(Float)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    hard_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    policy: Mapped[str] = mapped_column(String(10), default="best")
    late_penalty_per_day: Mapped[float] = mapped_column(Float, default=0.0)
    max_submissions_per_hour: Mapped[int] = mapped_column(Integer, default=0)
    cooldown_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    config_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Submission(Base):
    """One hand-in: its files, its place in ``queued -> running -> graded | error``, and its lease."""

    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_user_assignment_created", "user_id", "assignment_id", "created_at"),
        Index("ix_submissions_status", "status"),
        Index("ix_submissions_started_at", "started_at"),  # the fair queue's "started during the backlog"
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the last queue message was published; NULL while it still has to be (broker down at submit).
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_expires: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    worker: Mapped[str | None] = mapped_column(String(255), default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    max_score: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)

    user: Mapped[User] = relationship()
    assignment: Mapped[AssignmentRow] = relationship()
    files: Mapped[list[SubmissionFile]] = relationship(back_populates="submission", cascade="all, delete-orphan",
                                                       order_by="SubmissionFile.id")
    reports: Mapped[list[Report]] = relationship(back_populates="submission", cascade="all, delete-orphan",
                                                 order_by="Report.id")

    @property
    def latest_report(self) -> Report | None:
        return self.reports[-1] if self.reports else None

    def __repr__(self) -> str:
        return f"<Submission {self.id} {self.assignment_id} {self.status}>"


class SubmissionFile(Base):
    __tablename__ = "submission_files"
    __table_args__ = (UniqueConstraint("submission_id", "filename"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))

    submission: Mapped[Submission] = relationship(back_populates="files")


class Report(Base):
    """The engine's report of one grading run (a regrade adds another; every one is kept)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    seed: Mapped[int | None] = mapped_column(Integer, default=None)
    grader_version: Mapped[str] = mapped_column(String(50), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)

    submission: Mapped[Submission] = relationship(back_populates="reports")
    results: Mapped[list[TestResult]] = relationship(back_populates="report", cascade="all, delete-orphan",
                                                     order_by="TestResult.id")


class TestResult(Base):
    __tablename__ = "test_results"
    __table_args__ = (UniqueConstraint("report_id", "test_id"),)
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    test_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(500))
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10))
    visibility: Mapped[str] = mapped_column(String(20))
    output: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    report: Mapped[Report] = relationship(back_populates="results")


class WorkerHeartbeat(Base):
    """One row per running worker, refreshed every few seconds, so the API can say "no worker is running"."""

    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[str] = mapped_column(String(50), default="")


class SigninLink(Base):
    """A one-time, expiring link that lets a user set a password (first sign-in after a roster import, or
    "forgot password" handed out by staff). Only the SHA-256 of the link's token is stored."""

    __tablename__ = "signin_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20), default="first")  # first | reset
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Extension(Base):
    """A per-student deadline extension for one assignment: the student's own deadline (and hard deadline)."""

    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("user_id", "assignment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    hard_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class CourseSetting(Base):
    """Course-wide policy set by instructors (e.g. ``late_days`` = the term's free late-day budget)."""

    __tablename__ = "course_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)


class AuditEntry(Base):
    """Who did what and when: regrades, policy changes, extensions, imports, role changes, LMS links."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    actor: Mapped[str] = mapped_column(String(254), default="")  # the e-mail at the time (or "cli", "lti")
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(300), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class LtiPlatform(Base):
    """An LMS registered for LTI 1.3 (one row per issuer and client id)."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(String(200))
    deployment_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    auth_login_url: Mapped[str] = mapped_column(String(500))
    auth_token_url: Mapped[str] = mapped_column(String(500))
    key_set_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiLink(Base):
    """A user as an LMS knows them (issuer + subject), and the AGS line item their scores go to."""

    __tablename__ = "lti_links"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiLineItem(Base):
    """Where an assignment's counted scores are sent (Assignment and Grade Services), per platform."""

    __tablename__ = "lti_line_items"
    __table_args__ = (UniqueConstraint("platform_id", "assignment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    lineitem_url: Mapped[str] = mapped_column(String(500))
    lineitems_url: Mapped[str] = mapped_column(String(500), default="")
    # The launch's AGS claim (scopes, urls), kept so scores can be sent after the launch.
    ags: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiLaunchData(Base):
    """LTI 1.3 launch state shared by every web process (issue 11): the OIDC login's nonces (good once),
    its state parameters and the validated launches, each until it expires. pylti1p3 keeps these in the
    browser session or a process-local cache by default; rows here work across machines."""

    __tablename__ = "lti_launch_data"
    __table_args__ = (Index("ix_lti_launch_data_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LtiToolKey(Base):
    """The tool's RSA key (generated once): it signs the client assertions of grade passback, and its public
    half is the tool's JWKS. In the database, so every web and worker machine signs with the same key."""

    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(100), unique=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
