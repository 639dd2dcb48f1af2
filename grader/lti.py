"""LTI 1.3 (issue 11): the grader as a tool an LMS launches, and the counted scores sent back to the LMS.

The protocol is pylti1p3's (its Flask support, ``pylti1p3.contrib.flask``); this module gives it what it
needs from the grader and turns a launch into a signed-in user:

- :class:`DbToolConf`: the registered platforms (:class:`~grader.models.LtiPlatform` rows, added with
  ``grader lti add-platform``) and the tool's key (:func:`tool_key`, generated once and kept in the database,
  so every web and worker machine signs with the same key; its public half is served at ``/lti/jwks``).
- :class:`DbLaunchDataStorage`: pylti1p3's launch state (the OIDC login's nonce, its state, the validated
  launch) in the database, shared by every web process; pylti1p3's defaults (the Flask session cookie, or a
  process-local cache) do not work across machines. A nonce is good once: checking it deletes it, so a
  launch that is posted again (the same ``id_token``) is refused.
- :func:`validate_launch`: the ``id_token``'s signature against the platform's JWKS, ``iss``, ``aud``
  (the client id), ``exp`` and ``iat`` (required), the nonce, the deployment and the message type.
- :func:`sign_in`: the account by its link (issuer + subject) or its e-mail, created when missing with the
  role the launch's roles give (Instructor: instructor, TeachingAssistant: ta, Learner: student). An
  existing account keeps its role whatever the launch says: the LMS never changes a role in the grader;
  a difference is shown to the user and recorded in the audit log when the account is first linked.
  The launch's Assignment and Grade Services claim is kept for the assignment its ``assignment`` custom
  parameter names (:class:`~grader.models.LtiLineItem`).
- :func:`send_scores`: a student's counted scores (the gradebook's, late days and extensions applied)
  to every line item they have, through AGS (the tool's signed client assertion to the platform's token
  endpoint, then the score). The worker calls it from the ``grader.lti_passback`` task after a grading
  (retried while the LMS is unreachable; a grading never waits for or fails because of the LMS), and
  ``grader lti sync`` for a whole assignment.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterable

import requests
from jwcrypto.jwk import JWK
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.registration import Registration
from pylti1p3.roles import AbstractRole, TeacherRole, TeachingAssistantRole
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader import audit, auth, catalog
from grader.config import Settings
from grader.db import Database
from grader.errors import Invalid, NotFound
from grader.models import (
    AssignmentRow,
    LtiLaunchData,
    LtiLineItem,
    LtiLink,
    LtiPlatform,
    LtiToolKey,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

#: How long the state of one sign-in from the LMS lasts (its nonce, state and validated launch).
LAUNCH_LIFETIME = 600
#: Seconds of clock difference with the platform allowed on the id_token's ``exp`` and ``iat``.
CLOCK_LEEWAY = 30
#: Connecting to, and waiting for, the LMS (JWKS, token and score requests): a slow LMS never holds a process.
HTTP_TIMEOUT = (5.0, 20.0)
#: Retries of a score the LMS could not take (unreachable, 5xx, 429): the first after this many seconds
#: (``GRADER_LTI_RETRY_SECONDS``, default 30), then doubling up to an hour; ``grader lti sync`` resends.
PASSBACK_RETRIES = 10

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
ASSIGNMENT_PARAMETER = "assignment"  # the LMS link's custom parameter naming the assignment: assignment=svm


class LaunchRefused(Exception):
    """A launch that is valid LTI but that the grader refuses (no e-mail, a role without access, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class PassbackUnavailable(Exception):
    """The LMS could not take a score now (unreachable, 5xx, 429): the task retries later."""


def retry_delay(retries: int) -> float:
    first = float(os.environ.get("GRADER_LTI_RETRY_SECONDS", "") or 30)
    return min(3600.0, first * 2 ** retries)


class TimeoutSession(requests.Session):
    """A requests session whose every request has :data:`HTTP_TIMEOUT` (requests has no default timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.headers["User-Agent"] = "cs231n-grader (pylti1p3)"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return super().request(method, url, *args, **kwargs)


# --------------------------------------------------------------------------- the tool's key


@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_pem: str
    public_pem: str

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK (``kid`` = its RFC 7638 thumbprint, RS256, use sig)."""
        return dict(Registration.get_jwk(self.public_pem))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}


_PUBLIC_PEMS: dict[str, str] = {}  # kid -> public PEM: parsing the private key costs ~0.1 s (kid = its thumbprint)


def tool_key(db: Database) -> ToolKey:
    """The tool's RSA key, generated by the first process that needs it (the oldest row wins a race)."""
    with db.session() as session:
        row = session.scalar(select(LtiToolKey).order_by(LtiToolKey.id).limit(1))
        if row is None:
            key = JWK.generate(kty="RSA", size=2048)
            session.add(LtiToolKey(kid=key.thumbprint(), created_at=utcnow(),
                                   private_key_pem=key.export_to_pem(private_key=True, password=None).decode()))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
            row = session.scalar(select(LtiToolKey).order_by(LtiToolKey.id).limit(1))
        assert row is not None
        public = _PUBLIC_PEMS.get(row.kid)
        if public is None:
            public = _PUBLIC_PEMS[row.kid] = JWK.from_pem(row.private_key_pem.encode()).export_to_pem().decode()
        return ToolKey(row.kid, row.private_key_pem, public)


# --------------------------------------------------------------------------- pylti1p3's configuration


def registration(platform: LtiPlatform, key: ToolKey) -> Registration:
    return (Registration().set_issuer(platform.issuer).set_client_id(platform.client_id)
            .set_auth_login_url(platform.auth_login_url).set_auth_token_url(platform.auth_token_url)
            .set_key_set_url(platform.key_set_url).set_tool_private_key(key.private_pem)
            .set_tool_public_key(key.public_pem))


def find_platform(session: Session, issuer: str, client_id: str | None) -> LtiPlatform | None:
    """The platform registered for ``issuer`` and ``client_id``; without a client id, the issuer's only one."""
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id:
        query = query.where(LtiPlatform.client_id == client_id)
    rows = list(session.scalars(query.limit(2)))
    return rows[0] if len(rows) == 1 else None


class DbToolConf(ToolConfAbstract[Any]):
    """pylti1p3's tool configuration read from the ``lti_platforms`` rows (an issuer may have several client
    ids: Canvas cloud uses one issuer for every school)."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self._key: ToolKey | None = None

    def key(self) -> ToolKey:
        if self._key is None:
            self._key = tool_key(self.db)
        return self._key

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def _platform(self, iss: str, client_id: str | None) -> LtiPlatform | None:
        with self.db.session() as session:
            return find_platform(session, iss, client_id)

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration | None:
        return self.find_registration_by_params(iss, None)  # type: ignore[arg-type]

    def find_registration_by_params(self, iss: str, client_id: str | None, *args: Any,
                                    **kwargs: Any) -> Registration | None:  # type: ignore[override]
        platform = self._platform(iss, client_id)
        return registration(platform, self.key()) if platform is not None else None

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)  # type: ignore[arg-type]

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str | None, *args: Any,
                                  **kwargs: Any) -> Deployment | None:  # type: ignore[override]
        platform = self._platform(iss, client_id)
        if platform is None or deployment_id not in (platform.deployment_ids or []):
            return None
        return Deployment().set_deployment_id(deployment_id)


class DbLaunchDataStorage(LaunchDataStorage[Any]):
    """pylti1p3's launch data in the ``lti_launch_data`` table, each row until it expires.

    The browser that started the login is recognised by pylti1p3's state cookie, so no session cookie of
    the storage's own is needed (``get_session_cookie_name`` is None). ``check_value`` is used by pylti1p3
    only for the nonce, and consumes it: one atomic DELETE, so of two posts of one launch, on any machines,
    exactly one gets the nonce."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    def get_session_cookie_name(self) -> None:
        return None

    def can_set_keys_expiration(self) -> bool:
        return True

    def _key(self, key: str) -> str | None:
        prepared = self._prepare_key(key)
        return prepared if len(prepared) <= 255 else None

    def get_value(self, key: str) -> Any:
        prepared = self._key(key)
        if prepared is None:
            return None
        with self.db.session() as session:
            return session.scalar(select(LtiLaunchData.value).where(LtiLaunchData.key == prepared,
                                                                    LtiLaunchData.expires_at > utcnow()))

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        prepared = self._key(key)
        if prepared is None:
            raise LtiException("the state parameter is too long")
        now = utcnow()
        expires = now + timedelta(seconds=exp or LAUNCH_LIFETIME)
        with self.db.session() as session:
            session.execute(delete(LtiLaunchData).where(LtiLaunchData.expires_at <= now))  # old logins
            updated = session.execute(update(LtiLaunchData).where(LtiLaunchData.key == prepared)
                                      .values(value=value, expires_at=expires))
            if updated.rowcount == 0:  # type: ignore[attr-defined]
                session.add(LtiLaunchData(key=prepared, value=value, expires_at=expires))
            try:
                session.commit()
            except IntegrityError:  # the same key written at the same moment (a double post): same value
                session.rollback()

    def check_value(self, key: str) -> bool:
        prepared = self._key(key)
        if prepared is None:
            return False
        with self.db.session() as session:
            taken = session.execute(delete(LtiLaunchData).where(LtiLaunchData.key == prepared,
                                                                LtiLaunchData.expires_at > utcnow()))
            session.commit()
            return taken.rowcount == 1  # type: ignore[attr-defined,no-any-return]


# --------------------------------------------------------------------------- login and launch (Flask)


def login_redirect(db: Database, launch_url: str) -> Any:
    """The OIDC login initiation: validate ``iss`` (and ``client_id``), keep a nonce and a state, and send
    the browser to the platform's authorisation endpoint. Raises pylti1p3's OIDCException/LtiException."""
    from pylti1p3.contrib.flask import FlaskOIDCLogin, FlaskRequest

    oidc = FlaskOIDCLogin(FlaskRequest(), DbToolConf(db))
    oidc.set_launch_data_storage(DbLaunchDataStorage(db))
    oidc.set_launch_data_lifetime(LAUNCH_LIFETIME)
    return oidc.redirect(launch_url)


def _message_launch() -> Any:
    from pylti1p3.contrib.flask import FlaskMessageLaunch

    class MessageLaunch(FlaskMessageLaunch):  # type: ignore[misc]
        """pylti1p3's launch, with :data:`CLOCK_LEEWAY` for ``exp``/``iat`` (it passes PyJWT no leeway: a
        platform whose clock runs a second ahead would have every launch refused as "not yet valid")."""

        def validate_jwt_signature(self) -> Any:
            import jwt

            public_key, key_alg = self.get_public_key()
            try:
                jwt.decode(self._get_id_token(), public_key, algorithms=[key_alg],
                           options=self._jwt_verify_options, leeway=CLOCK_LEEWAY)
            except jwt.InvalidTokenError as exc:
                raise LtiException(f"Can't decode id_token: {exc}") from exc
            return self

    return MessageLaunch


def validate_launch(db: Database, http: requests.Session | None = None) -> dict[str, Any]:
    """The launch's validated claims. Raises LtiException for anything forged, expired, replayed or unknown."""
    from pylti1p3.contrib.flask import FlaskRequest

    launch = _message_launch()(FlaskRequest(), DbToolConf(db), requests_session=http or TimeoutSession())
    launch.set_launch_data_storage(DbLaunchDataStorage(db))
    launch.set_launch_data_lifetime(LAUNCH_LIFETIME)
    # pylti1p3 checks aud itself (against the registration's client id); exp and iat must be there.
    launch.set_jwt_verify_options({"verify_aud": False, "require": ["exp", "iat", "iss", "sub"]})
    data = dict(launch.get_launch_data())
    if not launch.is_resource_launch():
        raise LaunchRefused(400, "the grader only takes resource link launches (not deep linking or other "
                                 "messages)")
    return data


# --------------------------------------------------------------------------- who the launch signs in


class _LearnerRole(AbstractRole):
    """A learner in the course (the context), not an institution-wide role such as "User"."""

    _common_roles = ("Learner",)
    _context_roles = ("Learner",)


def grader_role(claims: dict[str, Any]) -> str | None:
    """The grader role a new account gets from the launch's course roles; None for roles with no access
    (mentors, observers, designers, institution roles only)."""
    if TeachingAssistantRole(claims).check():  # membership/Instructor#TeachingAssistant: before Instructor
        return "ta"
    if TeacherRole(claims).check():
        return "instructor"
    if _LearnerRole(claims).check():
        return "student"
    return None


@dataclass
class SignIn:
    user: User
    assignment_id: str | None
    notices: list[str] = field(default_factory=list)


def _name(claims: dict[str, Any]) -> str:
    name = str(claims.get("name") or " ".join(str(claims.get(k) or "") for k in ("given_name", "family_name")))
    return name.strip()[:200]


def sign_in(session: Session, settings: Settings, claims: dict[str, Any]) -> SignIn:
    """Find or create the launch's user, link them, keep the AGS claim (not committed; raises LaunchRefused)."""
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    if len(subject) > 255 or len(issuer) > 300:
        raise LaunchRefused(400, "the launch's user id (sub) is longer than LTI allows (255 characters)")
    platform = find_platform(session, issuer, _client_id(claims))
    if platform is None:  # validated a moment ago; removed since
        raise LaunchRefused(403, "this LMS is no longer registered with the grader")
    launch_role = grader_role(claims)
    listed = claims.get(CLAIM + "roles")
    roles = ", ".join(str(r).rsplit("#", 1)[-1] for r in listed)[:200] if isinstance(listed, list) else ""
    roles = roles or "none"
    notices: list[str] = []
    link = session.scalar(select(LtiLink).where(LtiLink.issuer == issuer, LtiLink.subject == subject))
    if link is not None:
        user = session.get(User, link.user_id)
        assert user is not None
    else:
        email = str(claims.get("email") or "").strip()
        if not email:
            raise LaunchRefused(403, "the LMS did not send your e-mail address, which the grader needs to find or "
                                     "create your account; ask the course staff (the LMS must share e-mail "
                                     "addresses with this tool)")
        user = auth.find_user(session, email)
        created = user is None
        if user is None:
            if launch_role is None:
                raise LaunchRefused(403, f"your role in the LMS course ({roles}) gives no access to the grader")
            try:
                user = auth.create_user(session, email, role=launch_role, name=_name(claims))
            except Invalid:
                raise LaunchRefused(400, f"the LMS sent the e-mail address {email[:80]!r}, which the grader cannot "
                                         "use") from None
            auth.set_password(user, secrets.token_urlsafe(32))  # nobody knows it: a sign-in link sets one
            audit.record(session, "lti", "user.add", user.email, role=user.role, issuer=issuer)
        elif session.scalar(select(LtiLink.id).where(LtiLink.user_id == user.id, LtiLink.issuer == issuer)):
            raise LaunchRefused(409, f"the grader account {user.email} is already linked to another account of "
                                     "this LMS; ask the course staff")
        session.add(LtiLink(user_id=user.id, issuer=issuer, subject=subject, created_at=utcnow()))
        audit.record(session, "lti", "lti.link", user.email, issuer=issuer, subject=subject, created=created,
                     account_role=user.role, launch_role=launch_role or roles)
    if user.disabled:
        raise LaunchRefused(403, "your grader account is disabled; ask the course staff")
    if launch_role is not None and launch_role != user.role:
        notices.append(f"The LMS says you are {_article(launch_role)}, but your grader account is "
                       f"{_article(user.role)}; the grader keeps its own roles. Ask an instructor if this is wrong.")
    assignment_id = _assignment(session, settings, claims, notices)
    if assignment_id is not None:
        _keep_line_item(session, platform, assignment_id, claims)
    return SignIn(user, assignment_id, notices)


def _article(role: str) -> str:
    return {"ta": "a TA", "instructor": "an instructor", "student": "a student"}.get(role, role)


def _client_id(claims: dict[str, Any]) -> str | None:
    aud = claims.get("aud")
    return str(aud[0]) if isinstance(aud, list) and aud else (str(aud) if aud else None)


def _assignment(session: Session, settings: Settings, claims: dict[str, Any], notices: list[str]) -> str | None:
    custom = claims.get(CLAIM + "custom") or {}
    wanted = str(custom.get(ASSIGNMENT_PARAMETER) or "").strip() if isinstance(custom, dict) else ""
    if not wanted:
        notices.append("This LMS link names no assignment (its custom parameter assignment=...); "
                       "here are all of them.")
        return None
    try:
        return catalog.get(session, settings, wanted).id
    except NotFound:
        notices.append(f"This LMS link points to the assignment {wanted[:64]!r}, which the course does not have; "
                       "here are the assignments.")
        return None


def _keep_line_item(session: Session, platform: LtiPlatform, assignment_id: str, claims: dict[str, Any]) -> None:
    ags = claims.get(AGS_CLAIM)
    if not isinstance(ags, dict) or SCORE_SCOPE not in (ags.get("scope") or []) or not ags.get("lineitem"):
        return  # an ungraded link: nothing to send scores to
    lineitem, lineitems = str(ags["lineitem"])[:500], str(ags.get("lineitems") or "")[:500]
    row = session.scalar(select(LtiLineItem).where(LtiLineItem.platform_id == platform.id,
                                                   LtiLineItem.assignment_id == assignment_id))
    if row is None:
        session.add(LtiLineItem(platform_id=platform.id, assignment_id=assignment_id, lineitem_url=lineitem,
                                lineitems_url=lineitems, ags=dict(ags), updated_at=utcnow()))
        audit.record(session, "lti", "lti.line_item", f"assignment {assignment_id}", issuer=platform.issuer,
                     lineitem=lineitem)
    elif row.lineitem_url != lineitem or row.ags != ags:
        if row.lineitem_url != lineitem:
            audit.record(session, "lti", "lti.line_item", f"assignment {assignment_id}", issuer=platform.issuer,
                         lineitem=lineitem, before=row.lineitem_url)
        row.lineitem_url, row.lineitems_url, row.ags, row.updated_at = lineitem, lineitems, dict(ags), utcnow()


# --------------------------------------------------------------------------- grade passback


@dataclass
class Target:
    """One score to send: a student's counted score on one assignment to one platform's line item."""

    user_id: int
    email: str
    subject: str
    assignment_id: str
    item: LtiLineItem
    platform: LtiPlatform
    score: float | None = None
    max_score: float | None = None


@dataclass
class PassbackResult:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # refused by the LMS (4xx): a retry would not help
    retry: list[str] = field(default_factory=list)  # unreachable, 5xx, 429: retried
    skipped: int = 0  # no counted score yet

    def summary(self) -> str:
        return (f"sent {len(self.sent)}, refused {len(self.failed)}, to retry {len(self.retry)}, "
                f"nothing counted yet {self.skipped}")


def targets(session: Session, *, user_id: int | None = None, assignment_id: str | None = None) -> list[Target]:
    """The (student, line item) pairs scores go to: students linked to a platform that has a line item."""
    query = (select(User.id, User.email, LtiLink.subject, LtiLineItem, LtiPlatform)
             .join(LtiLink, LtiLink.user_id == User.id)
             .join(LtiPlatform, LtiPlatform.issuer == LtiLink.issuer)
             .join(LtiLineItem, LtiLineItem.platform_id == LtiPlatform.id)
             .where(User.role == "student")
             .order_by(User.email, LtiLineItem.assignment_id, LtiPlatform.id))
    if user_id is not None:
        query = query.where(User.id == user_id)
    if assignment_id is not None:
        query = query.where(LtiLineItem.assignment_id == assignment_id)
    return [Target(uid, email, subject, item.assignment_id, item, platform)
            for uid, email, subject, item, platform in session.execute(query)]


def has_targets(session: Session, user_id: int) -> bool:
    return bool(session.scalar(select(LtiLink.id).join(User, User.id == LtiLink.user_id)
                               .join(LtiPlatform, LtiPlatform.issuer == LtiLink.issuer)
                               .join(LtiLineItem, LtiLineItem.platform_id == LtiPlatform.id)
                               .where(LtiLink.user_id == user_id, User.role == "student").limit(1)))


def _with_scores(session: Session, settings: Settings, found: list[Target], user_id: int | None) -> list[Target]:
    """Each target with the gradebook's counted score (late days, extensions and policy applied)."""
    from grader import gradebook

    if not found:
        return found
    book = gradebook.build(session, settings, user_id=user_id)
    grades = {row.email: row.grades for row in book.students}
    for target in found:
        grade = grades.get(target.email, {}).get(target.assignment_id)
        if grade is not None:
            target.score, target.max_score = float(grade.score), float(grade.max_score)
    return found


def send_scores(db: Database, settings: Settings, *, user_id: int | None = None, assignment_id: str | None = None,
                http: requests.Session | None = None, actor: User | str = "lti") -> PassbackResult:
    """Send the counted scores of one student (``user_id``), of one assignment, or both, to the LMS.

    Each score sent or refused is recorded in the audit log. Targets the LMS could not take now are listed
    in ``retry`` (the caller retries them); nothing here raises for an LMS error. No database transaction
    is open while the LMS is asked (a slow LMS must not hold locks the gradings need)."""
    result = PassbackResult()
    http = http or TimeoutSession()
    with db.session() as session:
        found = _with_scores(session, settings, targets(session, user_id=user_id, assignment_id=assignment_id),
                             user_id)
        session.expunge_all()  # a read: closing ends it, and the detached rows keep their loaded values
    if not found:
        return result
    key = tool_key(db)
    entries: list[tuple[str, str, dict[str, Any]]] = []  # audit entries, written once the LMS has answered
    connectors: dict[int, ServiceConnector] = {}  # one access token per platform and run
    for target in found:
        label = f"{target.email} {target.assignment_id}"
        if target.score is None or target.max_score is None:
            result.skipped += 1
            continue
        details = {"score": target.score, "max_score": target.max_score, "issuer": target.platform.issuer,
                   "lineitem": target.item.lineitem_url}
        connector = connectors.setdefault(target.platform.id, ServiceConnector(registration(target.platform, key), http))
        service = AssignmentsGradesService(connector, {**target.item.ags,  # type: ignore[typeddict-item]
                                                       "lineitem": target.item.lineitem_url})
        grade = (Grade().set_score_given(target.score).set_score_maximum(target.max_score)
                 .set_activity_progress("Completed").set_grading_progress("FullyGraded")
                 .set_timestamp(utcnow().isoformat(timespec="milliseconds")).set_user_id(target.subject))
        try:
            service.put_grade(grade)
        except LtiServiceException as exc:
            status = exc.response.status_code
            reason = f"HTTP {status}: {exc.response.text.strip()[:300]}"
            if status >= 500 or status == 429:
                result.retry.append(f"{label}: {reason}")
            else:
                result.failed.append(f"{label}: {reason}")
                entries.append(("lti.passback_failed", label, {**details, "error": reason}))
            continue
        except (requests.RequestException, ValueError) as exc:  # unreachable, or a token reply not JSON
            result.retry.append(f"{label}: {type(exc).__name__}: {str(exc)[:300]}")
            continue
        except LtiException as exc:  # e.g. the claim lacks the score scope: configuration, not transient
            result.failed.append(f"{label}: {exc}")
            entries.append(("lti.passback_failed", label, {**details, "error": str(exc)[:300]}))
            continue
        result.sent.append(label)
        entries.append(("lti.passback", label, details))
    if entries:
        with db.session() as session:
            for action, label, details in entries:
                audit.record(session, actor, action, label, **details)
            session.commit()
    if result.retry:
        log.warning("LTI passback: the LMS could not take %d scores now: %s", len(result.retry), result.retry[:5])
    return result


def queue_passback(state: Any, user_id: int) -> bool:
    """Queue the ``grader.lti_passback`` task for a student who has line items. Never raises: a grading's
    success never depends on the LMS or on this message (``grader lti sync`` sends whatever was missed)."""
    from worker.celery_app import LTI_PASSBACK_TASK

    try:
        with state.db.session() as session:
            if not has_targets(session, user_id):
                return False
        state.celery.send_task(LTI_PASSBACK_TASK, args=[int(user_id)], queue=state.settings.queue)
        return True
    except Exception as exc:  # noqa: BLE001
        log.warning("could not queue the LTI passback of user %s (`grader lti sync` sends it): %s", user_id, exc)
        return False


def platforms(session: Session) -> list[LtiPlatform]:
    return list(session.scalars(select(LtiPlatform).order_by(LtiPlatform.issuer, LtiPlatform.client_id)))


def line_items(session: Session) -> list[tuple[LtiLineItem, str]]:
    return [(item, title) for item, title in session.execute(
        select(LtiLineItem, AssignmentRow.title).join(AssignmentRow, AssignmentRow.id == LtiLineItem.assignment_id)
        .order_by(LtiLineItem.platform_id, LtiLineItem.assignment_id))]


def add_platform(session: Session, actor: User | str, *, issuer: str, client_id: str, deployment_ids: Iterable[str],
                 auth_login_url: str, auth_token_url: str, key_set_url: str) -> tuple[LtiPlatform, bool]:
    """Register a platform, or update the one with this issuer and client id (deployments are added).
    Returns (row, created); not committed."""
    issuer, client_id = issuer.strip(), client_id.strip()
    deployments = [d.strip() for d in deployment_ids if d.strip()]
    if not issuer or not client_id or not deployments:
        raise Invalid("give the issuer, the client id and at least one deployment id")
    for name, url in (("issuer", issuer), ("auth login URL", auth_login_url), ("token URL", auth_token_url),
                      ("JWKS URL", key_set_url)):
        if not url.startswith(("https://", "http://")) or len(url) > (300 if name == "issuer" else 500):
            raise Invalid(f"the {name} must be an http(s) URL of at most {300 if name == 'issuer' else 500} "
                          f"characters, not {url[:80]!r}")
    row = session.scalar(select(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id))
    created = row is None
    if row is None:
        row = LtiPlatform(issuer=issuer, client_id=client_id, deployment_ids=[], created_at=utcnow(),
                          auth_login_url="", auth_token_url="", key_set_url="")
        session.add(row)
    before = {"deployment_ids": list(row.deployment_ids or []), "auth_login_url": row.auth_login_url,
              "auth_token_url": row.auth_token_url, "key_set_url": row.key_set_url}
    row.deployment_ids = list(dict.fromkeys([*(row.deployment_ids or []), *deployments]))
    row.auth_login_url, row.auth_token_url, row.key_set_url = auth_login_url, auth_token_url, key_set_url
    session.flush()
    audit.record(session, actor, "lti.platform", f"{issuer} {client_id}", created=created,
                 deployment_ids=row.deployment_ids, auth_login_url=auth_login_url, auth_token_url=auth_token_url,
                 key_set_url=key_set_url, **({} if created else {"before": before}))
    return row, created
