"""Course staff pages: the gradebook (sortable, CSV), every submission, regrades with progress, statistics.

Instructors and TAs (``staff_required``) see and regrade everything; only instructors (``instructor_required``)
manage users. Every regrade is recorded in the audit log (:mod:`grader.audit`), as is disabling a user.

The gradebook is :func:`grader.gradebook.build` (each assignment's policy and
late penalty applied), the CSV is its ``to_csv``, regrades are
:func:`grader.submissions.regrade` and ``regrade_all``: the same service
layer as the API and the ``grader`` commands.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for

from grader import catalog, roles, submissions
from grader import gradebook as gradebook_service
from grader.context import db_session, state
from grader.dashboard import queries
from grader.dashboard.account import instructor_required, require_user, staff_required
from grader.dashboard.charts import histogram_svg, timeline_svg
from grader.errors import Conflict
from grader.models import STATUSES, utcnow

bp = Blueprint("instructor", __name__, url_prefix="/instructor")

PER_PAGE = 50
MAX_ID = 2**31 - 1  # ids are 32-bit integers; a larger number in a URL is refused, never sent to the database


@bp.get("/")
@staff_required
def index() -> Any:
    return redirect(url_for("instructor.gradebook"))


def _sort_key(column: str, ids: list[str]) -> Any:
    if column == "name":
        return lambda s: (s.name.lower(), s.email)
    if column == "total":
        return lambda s: (s.total, s.email)
    if column in ids:
        # Students without a counted submission sort below a score of zero.
        return lambda s: (s.grades[column].score if s.grades.get(column) else -1.0, s.email)
    return lambda s: s.email


@bp.get("/gradebook")
@staff_required
def gradebook() -> Any:
    session = db_session()
    book = gradebook_service.build(session, state().settings)
    session.commit()
    ids = [a.id for a in book.assignments]
    column = request.args.get("sort", "email")
    if column not in ("email", "name", "total", *ids):
        column = "email"
    descending = request.args.get("dir", "desc" if column == "total" or column in ids else "asc") == "desc"
    rows = sorted(book.students, key=_sort_key(column, ids), reverse=descending)
    max_total = sum(a.spec.max_score for a in book.assignments)
    return render_template("gradebook.html", book=book, rows=rows, sort=column, descending=descending,
                           max_total=max_total, now=utcnow())


@bp.get("/gradebook.csv")
@staff_required
def gradebook_csv() -> Any:
    session = db_session()
    book = gradebook_service.build(session, state().settings)
    session.commit()
    name = f"gradebook-{utcnow():%Y%m%d-%H%M}.csv"
    return Response(book.to_csv(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store"})


@bp.get("/submissions")
@staff_required
def all_submissions() -> Any:
    session = db_session()
    settings = state().settings
    entries = catalog.all_assignments(session, settings)
    assignment = request.args.get("assignment") or None
    status = request.args.get("status") or None
    email = (request.args.get("student") or "").strip()[:254] or None
    if status not in (None, *STATUSES):
        status = None
    page = request.args.get("page", 1, type=int) or 1
    if not 1 <= page <= MAX_ID:
        abort(400, "no such page")
    rows, total = queries.find_submissions(session, assignment_id=assignment, email=email, status=status,
                                           page=page, per_page=PER_PAGE)
    policies: dict[Any, Any] = {e.id: e.policy for e in entries}
    from grader import deadlines  # a student's extension moves their deadline: their late days count from it

    policies.update({key: deadlines.apply(policies[key[1]], row)
                     for key, row in deadlines.all_extensions(session).items() if key[1] in policies})
    session.commit()
    pages = max(1, -(-total // PER_PAGE))
    return render_template("instructor_submissions.html", rows=rows, total=total, page=page, pages=pages,
                           entries=entries, policies=policies,
                           filters={"assignment": assignment or "", "status": status or "", "student": email or ""})


@bp.post("/submissions/<int:submission_id>/regrade")
@staff_required
def regrade_submission(submission_id: int) -> Any:
    st = state()
    session = db_session()
    try:
        submissions.regrade(session, submission_id, st.publish, actor=require_user())
        flash(f"Submission #{submission_id} is queued for regrading; its earlier reports are kept.", "success")
    except Conflict as exc:
        flash(exc.message, "error")
    return redirect(url_for("student.submission", submission_id=submission_id), code=303)


@bp.post("/assignments/<assignment_id>/regrade")
@staff_required
def regrade_assignment(assignment_id: str) -> Any:
    st = state()
    session = db_session()
    entry = catalog.get(session, st.settings, assignment_id)
    session.commit()
    since = utcnow()
    ids = submissions.regrade_all(session, st.settings, entry.id, st.publish, actor=require_user())
    if not ids:
        flash(f"{entry.spec.title} has no finished submission to regrade.", "info")
        return redirect(url_for("instructor.stats", assignment_id=entry.id), code=303)
    return redirect(url_for("instructor.regrade_progress", assignment_id=entry.id, since=since.isoformat(),
                            upto=max(ids), total=len(ids)), code=303)


def _progress_args(assignment_id: str) -> tuple[catalog.CourseAssignment, queries.RegradeProgress, dict[str, Any]]:
    session = db_session()
    entry = catalog.get(session, state().settings, assignment_id)
    try:
        since = datetime.fromisoformat(request.args.get("since", ""))
        upto = int(request.args.get("upto", ""))
        total = int(request.args.get("total", ""))
        if not (0 <= upto <= MAX_ID and 0 <= total <= MAX_ID):
            raise ValueError("out of range")
    except ValueError:
        abort(400, "this regrade link is incomplete; start the regrade from the assignment's page")
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    progress = queries.regrade_progress(session, entry.id, since, upto, max(0, total))
    session.commit()
    return entry, progress, {"since": since.isoformat(), "upto": upto, "total": total}


@bp.get("/assignments/<assignment_id>/regrade")
@staff_required
def regrade_progress(assignment_id: str) -> Any:
    entry, progress, args = _progress_args(assignment_id)
    return render_template("regrade.html", entry=entry, progress=progress, args=args)


@bp.get("/assignments/<assignment_id>/regrade.json")
@staff_required
def regrade_progress_json(assignment_id: str) -> Any:
    _entry, progress, _args = _progress_args(assignment_id)
    response = jsonify(total=progress.total, done=progress.done, pending=progress.pending,
                       finished=progress.finished)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/assignments/<assignment_id>/stats")
@staff_required
def stats(assignment_id: str) -> Any:
    session = db_session()
    result = queries.assignment_stats(session, state().settings, assignment_id)
    session.commit()
    chart = histogram_svg(result.histogram, result.bin_labels, uid="scores",
                          title=f"Counted scores on {result.assignment.spec.title}",
                          description=f"{result.submitted} students' counted scores in bands of 10% of "
                                      f"{result.assignment.spec.max_score:g} points: "
                                      + ", ".join(f"{label}%: {n}" for label, n in
                                                  zip(result.bin_labels, result.histogram)))
    return render_template("stats.html", stats=result, chart=chart, timeline=_timeline_chart(result))


def _timeline_chart(result: queries.AssignmentStats) -> Any:
    line = result.timeline
    if line is None:
        return None
    busiest = max(line.bins, key=lambda b: b.count)
    description = (f"{line.total} submissions from {line.bins[0].start:%d %b %Y} to {line.bins[-1].end:%d %b %Y} "
                   f"(UTC), per {line.unit}; the busiest {line.unit} began {busiest.start:%a %d %b %H:%M} UTC "
                   f"with {busiest.count}.")
    if line.deadline is not None:
        description += (f" The deadline is {line.deadline:%a %d %b %Y %H:%M} UTC; {line.late} of the submissions "
                        "came after it.")
    return timeline_svg([(b.start, b.end, b.count) for b in line.bins], deadline=line.deadline, unit=line.unit,
                        title=f"Submissions of {result.assignment.spec.title} over time", description=description)


# --------------------------------------------------------------------------- users


@bp.get("/users")
@instructor_required
def users() -> Any:
    from sqlalchemy import select

    from grader.models import User

    session = db_session()
    query = (request.args.get("q") or "").strip().lower()[:254]
    stmt = select(User).order_by(User.email)
    if query:
        stmt = stmt.where(User.email.contains(query, autoescape=True))
    rows = list(session.scalars(stmt.limit(500)))
    return render_template("users.html", rows=rows, q=query)


@bp.post("/users/access")
@instructor_required
def user_access() -> Any:
    """Disable a user (every session and token ends at once) or enable them again."""
    from grader.errors import NotFound

    email = (request.form.get("email") or "").strip()[:254]
    action = request.form.get("action")
    if action not in ("disable", "enable"):
        abort(400)
    me = require_user()
    if action == "disable" and email.lower() == me.email:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for("instructor.users"), code=303)
    session = db_session()
    try:
        user = roles.set_access(session, me, email, action == "disable")
    except NotFound:
        abort(404)
    session.commit()
    flash(f"{user.email} is {'disabled: their sessions and tokens have ended' if user.disabled else 'enabled'}.",
          "info")
    return redirect(url_for("instructor.users"), code=303)


@bp.post("/users/role")
@instructor_required
def user_role() -> Any:
    """Make a user a student, a TA or an instructor (recorded in the audit log)."""
    from grader.errors import Conflict, Invalid, NotFound

    email = (request.form.get("email") or "").strip()[:254]
    role = request.form.get("role") or ""
    session = db_session()
    try:
        user, old = roles.change_role(session, require_user(), email, role)
    except NotFound:
        abort(404)
    except (Invalid, Conflict) as exc:
        session.rollback()
        flash(exc.message[0].upper() + exc.message[1:] + ".", "error")
        return redirect(url_for("instructor.users"), code=303)
    session.commit()
    flash(f"{user.email} is {'now' if old != user.role else 'already'} {roles.ROLE_NAMES[user.role]}"
          + (f" (was {roles.ROLE_NAMES[old]})." if old != user.role else "."), "info")
    if user.id == require_user().id and not user.is_instructor:
        return redirect(url_for("student.home"), code=303)  # no longer allowed on the users page
    return redirect(url_for("instructor.users"), code=303)
