"""Student pages: the assignments and their starter files, the upload form, a submission's report.

Only translates HTTP to the service layer (:mod:`grader.submissions`,
:mod:`grader.catalog`) and back. Whatever a student sees of a report went
through :func:`grader.reports.student_view` (hidden tests masked), the same
function the API uses; someone else's submission is "not found".
Instructors use the same submission page and see the full report.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
    url_for,
)
from sqlalchemy.orm import Session

from grader import catalog, deadlines, gradebook, reports, submissions
from grader.context import db_session, state
from grader.dashboard import queries
from grader.dashboard.account import current_user, home_for, login_required, require_user
from grader.dashboard.charts import Point, history_svg
from grader.dashboard.report_view import report_view
from grader.dashboard.templating import duration
from grader.dashboard.throttle import upload_rejections
from grader.errors import ServiceError
from grader.models import Report, Submission, User, utcnow
from grader.policy import Attempt, Policy, count
from worker.engine import MAX_FILE_BYTES

bp = Blueprint("student", __name__)


# --------------------------------------------------------------------------- helpers


def policy_of(session: Session, assignment_id: str, user_id: int) -> Policy:
    """The assignment's policy for this student (with their extension's deadlines, if they have one)."""
    try:
        entry = catalog.get(session, state().settings, assignment_id)
    except ServiceError:
        return Policy()  # the assignment's folder was removed; show its submissions anyway
    return deadlines.policy_for(session, entry, user_id)


def late_day_panel(session: Session, entry: catalog.CourseAssignment, policy: Policy, user: User,
                   now: datetime) -> dict[str, Any] | None:
    """What the assignment page says about the student's late days (None without a budget, or for staff)."""
    if user.is_staff:
        return None
    ledger = gradebook.late_days_of(session, state().settings, user.id)
    if ledger is None:
        return None
    available = ledger.available.get(entry.id, ledger.left)
    late_now = policy.late_days(now) if policy.deadline_passed(now) and not policy.closed(now) else 0
    return {"budget": ledger.budget, "used": ledger.used, "left": ledger.left, "grade": ledger.grades.get(entry.id),
            "available": available, "late_now": late_now, "free_now": min(late_now, available),
            "penalised_now": max(0, late_now - available), "per_day": policy.late_penalty_per_day}


def starter_files(entry: catalog.CourseAssignment) -> list[tuple[str, int]]:
    """(name, size) of each file in the assignment's starter/ folder."""
    folder: Path = entry.spec.starter_dir
    if not folder.is_dir():
        return []
    return [(p.name, p.stat().st_size) for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")]


def shown(submission: Submission, user: User, policy: Policy) -> dict[str, Any]:
    """The submission as this user may see it (scores masked for students), without the report."""
    return reports.submission_dict(submission, instructor=user.is_staff, policy=policy, now=utcnow(),
                                   with_report=False)


def visible_report(report: Report, user: User, policy: Policy) -> dict[str, Any]:
    data = dict(report.data or {})
    if user.is_staff:
        return data
    now = utcnow()
    return reports.student_view(data, deadline_passed=policy.deadline_passed(now), deadline=policy.deadline)


def _with_late_days(session: Session, sub: Submission, policy: Policy, info: dict[str, Any]) -> None:
    """With a late-day budget, the staff's "after the late penalty" is this submission's score were it the one that
    counts: its late days free up to what the author has left for this assignment (the gradebook's rule)."""
    ledger = gradebook.late_days_of(session, state().settings, sub.user_id)
    if ledger is None or sub.score is None:
        return
    counted = count(policy, [Attempt(sub.id, sub.created_at, sub.score)], ledger.available.get(sub.assignment_id, 0))
    if counted is not None:
        info["adjusted_score"], info["late_days_used"] = counted.score, counted.late_days_used


@dataclass
class Status:
    """What the live status line says about a submission that is not graded yet."""

    status: str
    final: bool
    ahead: int | None
    wait: float | None
    worker_alive: bool
    message: str


def live_status(session: Session, submission: Submission) -> Status:
    final = submission.status in ("graded", "error")
    if final:
        return Status(submission.status, True, None, None, True, "")
    queue = queries.queue_info(session, state().settings)
    ahead = queries.queued_ahead(session, submission) if submission.status == "queued" else 0
    if not queue.worker_alive:
        message = ("No grading worker is running right now. Your submission is stored safely and will be "
                   "graded as soon as one starts; you can leave this page.")
        return Status(submission.status, False, ahead, None, False, message)
    if submission.status == "running":
        started = submission.started_at
        elapsed = (utcnow() - started).total_seconds() if started else 0.0
        message = f"Grading now (started {duration(elapsed)} ago; a grading takes about " \
                  f"{duration(queue.average_seconds)})."
        return Status("running", False, 0, max(0.0, queue.average_seconds - elapsed), True, message)
    wait = queue.wait_for(ahead)
    where = ("next in line" if ahead == 0 else
             f"{ahead} submission{'s' if ahead != 1 else ''} ahead of yours")
    message = f"Queued: {where}; expected to be graded within about {duration(wait)}."
    return Status("queued", False, ahead, wait, True, message)


# --------------------------------------------------------------------------- pages


@bp.get("/")
def home() -> Any:
    user = current_user()
    return redirect(home_for(user) if user else url_for("account.login"))


@bp.url_value_preprocessor
def _archive_request_cap(endpoint: str | None, _values: Any) -> None:
    # Runs before any before_request handler (the CSRF check reads the form, and with it the body): an archive
    # upload may be larger than the request cap of single files: for a logged-in user only.
    if endpoint == "student.submit_archive" and request.method == "POST" and current_user() is not None:
        from grader.api import archive_upload_limit

        request.max_content_length = archive_upload_limit()


@bp.get("/assignments")
@login_required
def assignments() -> Any:
    return _assignments_page()


def _assignments_page(*, archive_error: str | None = None, status: int = 200, retry_after: int | None = None,
                      preview: dict[str, Any] | None = None) -> Any:
    user = require_user()
    session = db_session()
    entries = catalog.all_assignments(session, state().settings)
    mine = submissions.list_submissions(session, user, limit=1000)
    extensions = deadlines.extensions_of(session, user.id)
    own_deadlines = {aid: row.deadline for aid, row in extensions.items()}  # read before the commit expires rows
    summary: dict[str, dict[str, Any]] = {}
    for entry in entries:
        own = [shown(s, user, deadlines.apply(entry.policy, extensions.get(entry.id)))
           for s in mine if s.assignment_id == entry.id]
        graded = [s for s in own if s["status"] == "graded" and s["score"] is not None]
        best = max(graded, key=lambda s: (s["score"] / s["max_score"]) if s["max_score"] else 0, default=None)
        summary[entry.id] = {"count": len(own), "latest": own[0] if own else None, "best": best}
    session.commit()
    from grader.archives import MAX_ARCHIVE_BYTES

    body = render_template("assignments.html", entries=entries, summary=summary, now=utcnow(),
                           starters={e.id: starter_files(e) for e in entries}, archive_error=archive_error,
                           max_archive_bytes=MAX_ARCHIVE_BYTES, preview=preview, shown_ignored=SHOWN_IGNORED,
                           own_deadlines=own_deadlines)
    return body, status, ({"Retry-After": str(retry_after)} if retry_after else {})


#: How many ignored paths the flash message after an archive upload names (the rest are counted).
SHOWN_IGNORED = 8


@bp.post("/submissions/archive")
@login_required
def submit_archive() -> Any:
    """The whole assignment as one zip: one submission per assignment found (or nothing, with the reason)."""
    user = require_user()
    st = state()
    session = db_session()
    chosen = [f for f in request.files.getlist("file") if f.filename]
    if len(chosen) != 1:
        return _assignments_page(archive_error="Choose the zip of your assignment folder to upload "
                                               "(assignment1.zip or a1_code_submission.zip).", status=400)
    upload = chosen[0]
    dry_run = request.form.get("dry_run") == "1"
    try:
        found, plan = submissions.submit_archive(session, st.settings, user, upload.filename or "", upload.read(),
                                                 st.publish, rejections=upload_rejections(), dry_run=dry_run)
    except ServiceError as exc:
        session.rollback()
        return _assignments_page(archive_error=exc.message, status=exc.status, retry_after=exc.retry_after)
    session.commit()
    if dry_run:  # "Check without submitting": what would be submitted, ignored and missing, on the same page
        return _assignments_page(preview={"name": upload.filename or "the archive", **plan.summary()})
    paths = {item.assignment: ", ".join(item.paths) for item in plan.found}
    name = (upload.filename or "the archive")[:100]
    flash(f"{name}: {len(found)} submission{'s' if len(found) != 1 else ''} received: "
          + "; ".join(f"#{s.id} {s.assignment_id} ({paths[s.assignment_id]})" for s in found) + ".", "success")
    if plan.missing:
        flash("Not in the archive, so not submitted: " + "; ".join(
            f"{m['assignment']} (no {', '.join(m['files'])})" for m in plan.missing) + ".", "info")
    if plan.ignored:
        shown_paths = ", ".join(i["path"][:80] for i in plan.ignored[:SHOWN_IGNORED])
        more = len(plan.ignored) - SHOWN_IGNORED
        flash(f"Ignored {len(plan.ignored)} file{'s' if len(plan.ignored) != 1 else ''} (notebooks and files of no "
              f"assignment here are not graded): {shown_paths}" + (f" and {more} more" if more > 0 else "") + ".",
              "info")
    return redirect(url_for("student.my_submissions"), code=303)


def _assignment_page(entry: catalog.CourseAssignment, *, upload_error: str | None = None, status: int = 200,
                     retry_after: int | None = None) -> Any:
    user = require_user()
    session = db_session()
    extension = deadlines.extensions_of(session, user.id).get(entry.id)
    policy = deadlines.apply(entry.policy, extension)  # the student's own deadlines
    own = [shown(s, user, policy)
           for s in submissions.list_submissions(session, user, assignment_id=entry.id, limit=1000)]
    points = [Point(f"#{s['id']}", 100.0 * s["score"] / s["max_score"]
                    if s["status"] == "graded" and s["score"] is not None and s["max_score"] else None)
              for s in reversed(own)]
    chart = history_svg(points, title=f"Your scores on {entry.spec.title}, oldest first", uid="history")
    now = utcnow()
    late = late_day_panel(session, entry, policy, user, now)
    extension = {"reason": extension.reason} if extension is not None else None  # plain data past the commit
    session.commit()
    body = render_template("assignment.html", entry=entry, submissions=own, chart=chart,
                           starter=starter_files(entry), upload_error=upload_error, now=now,
                           policy=policy, extension=extension, late=late,
                           closed=policy.closed(now) and not user.is_staff,
                           max_file_bytes=MAX_FILE_BYTES)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return body, status, headers


@bp.get("/assignments/<assignment_id>")
@login_required
def assignment(assignment_id: str) -> Any:
    entry = catalog.get(db_session(), state().settings, assignment_id)
    return _assignment_page(entry)


@bp.get("/assignments/<assignment_id>/starter/<filename>")
@login_required
def starter(assignment_id: str, filename: str) -> Any:
    entry = catalog.get(db_session(), state().settings, assignment_id)
    if filename not in {name for name, _ in starter_files(entry)}:
        abort(404)
    response = send_from_directory(entry.spec.starter_dir, filename, as_attachment=True,
                                   mimetype="text/x-python" if filename.endswith(".py") else None)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/assignments/<assignment_id>/kit.zip")
@login_required
def kit(assignment_id: str) -> Any:
    """The public kit (starter files and public checks, grader/kits.py): what `grader fetch` gets from the API."""
    from grader import kits

    entry = catalog.get(db_session(), state().settings, assignment_id)
    return kits.kit_response(kits.kit_for(entry.spec, require_user()))


@bp.post("/assignments/<assignment_id>/submissions")
@login_required
def submit(assignment_id: str) -> Any:
    user = require_user()
    st = state()
    session = db_session()
    entry = catalog.get(session, st.settings, assignment_id)
    # A browser sends an empty part (no name, no bytes) for a file input left empty.
    uploads = [(f.filename or "", f.read()) for f in request.files.getlist("file")]
    uploads = [(name, data) for name, data in uploads if name or data]
    expected = entry.spec.files
    if not uploads:
        return _assignment_page(entry, upload_error=f"Choose your {' and '.join(expected)} to upload.", status=400)
    try:
        # Before the renaming below: the message names their file.
        submissions.refuse_notebooks(entry, uploads, st.settings)
    except ServiceError as exc:
        return _assignment_page(entry, upload_error=exc.message, status=exc.status)
    note = None
    # As `grader submit` does: a one-file assignment takes the file whatever its name on the student's disk.
    if len(expected) == 1 and len(uploads) == 1 and uploads[0][0] != expected[0]:
        # Flashed messages travel in the session cookie: keep a long file name from overflowing it.
        shown_name = uploads[0][0] if len(uploads[0][0]) <= 100 else uploads[0][0][:100] + "…"
        note = f"Your file {shown_name} was submitted as {expected[0]}."
        uploads = [(expected[0], uploads[0][1])]
    try:
        submission = submissions.submit(session, st.settings, user, entry.id, uploads, st.publish,
                                        rejections=upload_rejections())
    except ServiceError as exc:
        session.rollback()
        return _assignment_page(entry, upload_error=exc.message, status=exc.status, retry_after=exc.retry_after)
    session.commit()
    flash(f"Submission #{submission.id} received: {', '.join(f.filename for f in submission.files)}."
          + (f" {note}" if note else ""), "success")
    return redirect(url_for("student.submission", submission_id=submission.id), code=303)


@bp.get("/submissions")
@login_required
def my_submissions() -> Any:
    user = require_user()
    session = db_session()
    policies: dict[str, Policy] = {}
    rows = []
    for s in submissions.list_submissions(session, user, limit=500):
        if s.assignment_id not in policies:
            policies[s.assignment_id] = policy_of(session, s.assignment_id, user.id)
        rows.append(shown(s, user, policies[s.assignment_id]))
    session.commit()
    return render_template("submissions.html", submissions=rows)


#: What the code view shows of one file at most; the rest is behind the download link. A 512 KiB file of
#: empty lines would otherwise be 14 MB of HTML.
MAX_CODE_LINES = 2000
MAX_CODE_CHARS = 120_000
MAX_LINE_CHARS = 400


@dataclass(frozen=True)
class CodeFile:
    name: str
    lines: list[str]
    total_lines: int
    size: int

    @property
    def truncated(self) -> bool:
        return len(self.lines) < self.total_lines


def code_file(name: str, content: bytes) -> CodeFile:
    """The part of a submitted file the page shows (capped in lines, characters and line length)."""
    text = content.decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    shown: list[str] = []
    budget = MAX_CODE_CHARS
    for line in all_lines[:MAX_CODE_LINES]:
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + " …"
        budget -= len(line) + 1
        if budget < 0:
            break
        shown.append(line)
    return CodeFile(name, shown, len(all_lines), len(content))


@bp.get("/submissions/<int:submission_id>")
@login_required
def submission(submission_id: int) -> Any:
    user = require_user()
    session = db_session()
    sub = submissions.get_submission(session, user, submission_id)  # another student's: NotFound (404)
    policy = policy_of(session, sub.assignment_id, sub.user_id)  # the author's deadlines, whoever looks
    info = shown(sub, user, policy)
    if user.is_staff and info.get("adjusted_score") is not None and info["late_days"]:
        _with_late_days(session, sub, policy, info)
    chosen = sub.latest_report
    wanted = request.args.get("report", type=int)
    if wanted is not None:
        chosen = next((r for r in sub.reports if r.id == wanted), None)
        if chosen is None:
            abort(404)
    view = report_view(visible_report(chosen, user, policy)) if chosen is not None else None
    final = sub.status in ("graded", "error")
    files = [code_file(f.filename, f.content) for f in sub.files]
    status = live_status(session, sub)
    session.commit()
    return render_template("submission.html", sub=sub, info=info, view=view, report=chosen,
                           previous=not final and chosen is not None, files=files, live=status,
                           reports=list(sub.reports), owner=sub.user, policy=policy)


@bp.get("/submissions/<int:submission_id>/status.json")
@login_required
def submission_status(submission_id: int) -> Any:
    """The live status the submission page polls while the submission is queued or running."""
    user = require_user()
    session = db_session()
    sub = submissions.get_submission(session, user, submission_id)
    info = shown(sub, user, policy_of(session, sub.assignment_id, sub.user_id))
    status = live_status(session, sub)
    session.commit()
    response = jsonify(id=sub.id, status=sub.status, final=status.final, attempts=sub.attempts,
                       score=info["score"], max_score=info["max_score"], worker_alive=status.worker_alive,
                       ahead=status.ahead, expected_wait_seconds=status.wait, message=status.message)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/submissions/<int:submission_id>/files/<filename>")
@login_required
def submission_file(submission_id: int, filename: str) -> Any:
    user = require_user()
    session = db_session()
    sub = submissions.get_submission(session, user, submission_id)
    found = next((f for f in sub.files if f.filename == filename), None)
    if found is None:
        abort(404)
    content = found.content
    session.commit()
    return send_file(io.BytesIO(content), mimetype="text/x-python", as_attachment=True, download_name=filename)
