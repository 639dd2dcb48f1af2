"""The JSON API (``/api/v1``, DESIGN.md): it only translates HTTP to the service layer and back.

Authentication is ``Authorization: Bearer <token>``; ``POST /api/v1/tokens``
trades an email and password for a token (what ``grader login`` does).
Errors are ``{"error": "..."}`` with 400, 401, 403, 404, 409, 413, 429 (with
``Retry-After``) or 503 (database unreachable; nothing was stored).
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, TypeVar

from flask import Blueprint, Flask, Response, g, jsonify, request, url_for
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from grader import auth, catalog, gradebook, submissions
from grader.context import db_session, state
from grader.db import DatabaseUnavailable, is_connection_error, retrying
from grader.errors import Forbidden, Invalid, ServiceError, Unauthorized
from grader.models import User, utcnow
from grader.policy import Policy
from grader.reports import submission_dict
from worker import __version__

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- errors


def error_response(message: str, status: int, *, retry_after: int | None = None) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after)))
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="grader"'
    return response


def register_error_handlers(app: Flask) -> None:
    """JSON errors for every /api/ URL, including Flask's own (404, 405, 413)."""

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        return error_response(exc.message, exc.status, retry_after=exc.retry_after)

    @app.errorhandler(DatabaseUnavailable)
    def _db_unavailable(_exc: DatabaseUnavailable) -> Response:
        return _unavailable()

    @app.errorhandler(DBAPIError)
    def _db_error(exc: DBAPIError) -> Response:
        if is_connection_error(exc):
            return _unavailable()
        log.exception("database error")
        return error_response("internal error (database); please tell the course staff", 500)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> Response:
        from grader.render import human_size
        from worker.engine import MAX_FILE_BYTES

        limit = request.max_content_length or app.config.get("MAX_CONTENT_LENGTH")  # an archive's is larger
        return error_response(f"the upload is larger than the limit of {human_size(int(limit or 0))} for one "
                              f"request (each file may be at most {human_size(MAX_FILE_BYTES)})", 413)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not request.path.startswith("/api/"):
            return exc
        return error_response(exc.description or exc.name, exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal error; please tell the course staff", 500)


def _unavailable() -> Response:
    return error_response("the database is unavailable right now; nothing was stored, try again in a few seconds",
                          503, retry_after=5)


def absolute_url(endpoint: str, **values: Any) -> str:
    """An absolute URL: under ``GRADER_EXTERNAL_URL`` when it is set, else from the request (Host header,
    or the proxy's X-Forwarded-* with ``GRADER_PROXY_COUNT``)."""
    base = state().settings.external_url.rstrip("/")
    if not base:
        return url_for(endpoint, _external=True, **values)
    path = url_for(endpoint, **values)
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root):]
    return base + path


# --------------------------------------------------------------------------- authentication


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("missing token: send 'Authorization: Bearer <token>' (get one with `grader login`)")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    return token.strip()


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _bearer_token()
        session = db_session()

        def authenticate() -> User:
            try:
                user = auth.user_for_token(session, token)
                session.commit()  # last_used_at
                return user
            except BaseException:
                session.rollback()
                raise

        g.user = retrying(authenticate)  # rides out a database restart of a second or two
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def instructor_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.user.is_instructor:
            raise Forbidden("only instructors may do this")
        return view(*args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


def staff_required(view: F) -> F:
    """Instructors and TAs (course staff): the gradebook, every submission, statistics, regrades."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.user.is_staff:
            raise Forbidden("only course staff may do this")
        return view(*args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


def _user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role}


def _credentials() -> Any:
    data: Any = request.get_json(silent=True) if request.is_json else request.form
    if data is None or not hasattr(data, "get"):
        raise Invalid("send a JSON object with email and password")
    return data


def _guarded_login(email: str, password: str) -> User:
    """:func:`auth.authenticate` behind the login limits (per address; per account and address), checked
    before the password is hashed. 429 with ``Retry-After`` when over a limit."""
    from grader.dashboard.account import MAX_PASSWORD_LENGTH
    from grader.dashboard.throttle import guard

    def check() -> User:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise Unauthorized("wrong email or password")
        return auth.authenticate(db_session(), state().settings, email, password)

    return guard().attempt(email, request.remote_addr or "unknown", check)


@bp.post("/tokens")
def create_token() -> Any:
    """Trade ``{"email", "password"}`` (JSON or form) for a bearer token."""
    data = _credentials()
    email, password = str(data.get("email") or ""), str(data.get("password") or "")
    if not email or not password:
        raise Invalid("email and password are required")
    settings = state().settings
    session = db_session()
    user = _guarded_login(email, password)
    token, row = auth.create_token(session, user, days=settings.token_days,
                                   label=str(data.get("label") or "grader login"))
    session.commit()
    return jsonify(token=token, expires_at=row.expires_at.isoformat(), user=_user_dict(user)), 201


def _token_dict(row: Any, current: str) -> dict[str, Any]:
    return {"id": row.id, "label": row.label, "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat(),
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
            "status": auth.token_status(row), "current": row.token_hash == current}


@bp.get("/tokens")
@login_required
def list_tokens() -> Any:
    """The caller's own tokens (never the tokens themselves: only their ids, labels and dates)."""
    current = auth.token_digest(_bearer_token())
    return jsonify(tokens=[_token_dict(row, current) for row in auth.list_tokens(db_session(), g.user)])


@bp.delete("/tokens/current")
@login_required
def revoke_current_token() -> Any:
    session = db_session()
    auth.revoke_token(session, _bearer_token())
    session.commit()
    return "", 204


@bp.delete("/tokens/<int:token_id>")
@login_required
def revoke_token_by_id(token_id: int) -> Any:
    session = db_session()
    auth.revoke_token_id(session, g.user, token_id)
    session.commit()
    return "", 204


@bp.post("/password")
@login_required
def change_password() -> Any:
    """``{"current_password", "new_password"}``: every session and token of the user ends (this one too);
    the answer carries a new token."""
    data = _credentials()
    current, new = str(data.get("current_password") or ""), str(data.get("new_password") or "")
    if not current or not new:
        raise Invalid("current_password and new_password are required")
    user = _guarded_login(g.user.email, current)
    settings = state().settings
    session = db_session()
    auth.change_password(session, user, new)
    token, row = auth.create_token(session, user, days=settings.token_days, label="after a password change")
    session.commit()
    return jsonify(token=token, expires_at=row.expires_at.isoformat(), user=_user_dict(user)), 200


@bp.get("/me")
@login_required
def me() -> Any:
    return jsonify(_user_dict(g.user))


@bp.get("/status")
@login_required
def status() -> Any:
    """Whether a worker is alive (so clients can say "no worker is running") and the queue sizes."""
    session = db_session()
    workers = submissions.live_workers(session, state().settings)
    body: dict[str, Any] = {"worker_alive": bool(workers), "version": __version__,
                            "queue": submissions.queue_counts(session)}
    if g.user.is_staff:
        body["workers"] = [{"hostname": w.hostname, "last_seen": w.last_seen.isoformat(),
                            "concurrency": w.concurrency, "version": w.version} for w in workers]
    return jsonify(body)


# --------------------------------------------------------------------------- assignments and submissions


@bp.get("/assignments")
@login_required
def list_assignments() -> Any:
    session = db_session()
    entries = catalog.all_assignments(session, state().settings)
    session.commit()
    return jsonify(assignments=[e.as_dict() for e in entries])


@bp.get("/assignments/<assignment_id>")
@login_required
def get_assignment(assignment_id: str) -> Any:
    session = db_session()
    entry = catalog.get(session, state().settings, assignment_id)
    session.commit()
    return jsonify(entry.as_dict())


@bp.get("/assignments/<assignment_id>/kit")
@login_required
def get_assignment_kit(assignment_id: str) -> Any:
    """The assignment's public kit (starter files and public checks; grader/kits.py) as a zip; 404 for students
    while it is unpublished."""
    from grader import kits

    from grader.errors import NotFound

    session = db_session()
    try:
        entry = catalog.get(session, state().settings, assignment_id)
    except NotFound:  # without the list of known ids, which would name unpublished ones
        raise NotFound(f"unknown assignment {assignment_id!r}") from None
    session.commit()
    return kits.kit_response(kits.kit_for(entry.spec, g.user))


def _uploads() -> list[tuple[str, bytes]]:
    if not request.mimetype.startswith("multipart/form-data"):
        raise Invalid("send the files as multipart/form-data, each in a field named 'file' "
                      "(e.g. curl -F file=@linear_svm.py)")
    other = [key for key in request.files if key != "file"]
    if other:
        raise Invalid(f"upload each file in a field named 'file' (got a field named {other[0]!r})")
    return [(storage.filename or "", storage.read()) for storage in request.files.getlist("file")]


def _policy(assignment_id: str, user_id: int) -> Policy:
    """The assignment's policy for the submission's author (with their extension), looked up once per request
    (a list shows many submissions)."""
    from grader import deadlines

    cache: dict[str, Policy] = g.setdefault("policies", {})
    if assignment_id not in cache:
        try:
            cache[assignment_id] = catalog.get(db_session(), state().settings, assignment_id).policy
        except ServiceError:
            cache[assignment_id] = Policy()  # the assignment's folder was removed; show the submission anyway
    if "extensions" not in g:
        g.extensions = deadlines.all_extensions(db_session())
    return deadlines.apply(cache[assignment_id], g.extensions.get((user_id, assignment_id)))


def _submission_json(submission: Any, *, with_report: bool = True) -> dict[str, Any]:
    policy = _policy(submission.assignment_id, submission.user_id)
    body = submission_dict(submission, instructor=g.user.is_staff, policy=policy, now=utcnow(),
                           with_report=with_report)
    body["url"] = absolute_url("api.get_submission", submission_id=submission.id)
    return body


@bp.post("/assignments/<assignment_id>/submissions")
@login_required
def create_submission(assignment_id: str) -> Any:
    st = state()
    session = db_session()
    catalog.get(session, st.settings, assignment_id)  # unknown assignment: 404 before reading the upload
    from grader.dashboard.throttle import upload_rejections

    submission = submissions.submit(session, st.settings, g.user, assignment_id, _uploads(), st.publish,
                                    rejections=upload_rejections())
    body = {"id": submission.id, "status": submission.status, "url": absolute_url(
        "api.get_submission", submission_id=submission.id)}
    if not submissions.worker_alive(session, st.settings):
        body["warning"] = "no grading worker is running right now; the submission is stored and will be graded"
    session.commit()
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["url"]
    return response


def archive_upload_limit() -> int:
    """An archive may be larger than the request cap of single files (notebooks with their plots)."""
    from grader.archives import MAX_ARCHIVE_BYTES

    return max(int(state().settings.max_request_bytes), MAX_ARCHIVE_BYTES + 64 * 1024)


def archive_json(found: list[Any], plan: Any) -> dict[str, Any]:
    """The answer to an archive upload (DESIGN.md): the submissions made, what was ignored, what is missing."""
    return {"submissions": [{"id": s.id, "assignment": s.assignment_id, "status": s.status,
                             "url": absolute_url("api.get_submission", submission_id=s.id),
                             "files": {path: stored for item in plan.found if item.assignment == s.assignment_id
                                       for path, stored in item.paths.items()}} for s in found],
            "ignored": plan.ignored, "missing": plan.missing}


@bp.post("/submissions")
@login_required
def create_archive_submission() -> Any:
    """The whole assignment as a zip (multipart field ``file``): one submission per assignment found.
    With ``dry_run=1`` (query or form field): 200 and what would be submitted, nothing stored."""
    st = state()
    request.max_content_length = archive_upload_limit()  # the body is read below, after authentication
    if not request.mimetype.startswith("multipart/form-data"):
        raise Invalid("send the archive as multipart/form-data in a field named 'file' "
                      "(e.g. curl -F file=@a1_code_submission.zip)")
    uploads = request.files.getlist("file")
    if len(uploads) != 1 or [key for key in request.files if key != "file"]:
        raise Invalid("send exactly one archive, in a field named 'file'")
    storage = uploads[0]
    from grader.dashboard.throttle import upload_rejections

    dry_run = (request.args.get("dry_run") or request.form.get("dry_run") or "").lower() in ("1", "true", "yes")
    session = db_session()
    found, plan = submissions.submit_archive(session, st.settings, g.user, storage.filename or "", storage.read(),
                                             st.publish, rejections=upload_rejections(), dry_run=dry_run)
    if dry_run:  # every check made, nothing stored: what would be submitted
        session.commit()
        return jsonify(dry_run=True, submissions=[], found=[item.as_dict() for item in plan.found],
                       ignored=plan.ignored, missing=plan.missing), 200
    body = archive_json(found, plan)
    if not submissions.worker_alive(session, st.settings):
        body["warning"] = "no grading worker is running right now; the submissions are stored and will be graded"
    session.commit()
    return jsonify(body), 202


@bp.get("/submissions")
@login_required
def list_submissions() -> Any:
    session = db_session()
    found = submissions.list_submissions(session, g.user, assignment_id=request.args.get("assignment") or None,
                                         user_email=request.args.get("user") or None)
    items = [_submission_json(s, with_report=False) for s in found]
    session.commit()
    return jsonify(submissions=items)


@bp.get("/submissions/<int:submission_id>")
@login_required
def get_submission(submission_id: int) -> Any:
    session = db_session()
    submission = submissions.get_submission(session, g.user, submission_id)
    body = _submission_json(submission)
    if submission.status in ("queued", "running"):
        body["worker_alive"] = submissions.worker_alive(session, state().settings)
    if submission.status == "queued":
        body["queue_position"] = submissions.queue_position(session, submission.id)  # 0: next in line
    session.commit()
    return jsonify(body)


@bp.post("/submissions/<int:submission_id>/regrade")
@staff_required
def regrade_submission(submission_id: int) -> Any:
    st = state()
    session = db_session()
    submission = submissions.regrade(session, submission_id, st.publish, actor=g.user)
    return jsonify(id=submission.id, status=submission.status,
                   url=absolute_url("api.get_submission", submission_id=submission.id)), 202


@bp.post("/assignments/<assignment_id>/regrade")
@staff_required
def regrade_assignment(assignment_id: str) -> Any:
    st = state()
    ids = submissions.regrade_all(db_session(), st.settings, assignment_id, st.publish, actor=g.user)
    return jsonify(assignment=assignment_id, regraded=ids), 202


@bp.get("/gradebook")
@staff_required
def get_gradebook() -> Any:
    session = db_session()
    book = gradebook.build(session, state().settings)
    canvas_ids = gradebook.canvas_ids(session) if request.args.get("format") == "canvas" else {}
    session.commit()
    if request.args.get("format") == "csv":
        return Response(book.to_csv(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=gradebook.csv"})
    if request.args.get("format") == "canvas":  # Canvas's gradebook import format (README: Running a course)
        return Response(book.to_canvas_csv(canvas_ids), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=gradebook-canvas.csv"})
    return jsonify(book.as_dict())


__all__ = ["bp", "register_error_handlers"]
