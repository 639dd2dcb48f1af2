"""The extensions page: per-student deadline extensions and the term's late-day budget (issue 11); and the
gradebook's Canvas download (the CSV Canvas's gradebook import takes as it is).

Course staff (instructors and TAs) see the extensions and the budget; only instructors change them (a TA
changes no policy). Every change goes through :mod:`grader.deadlines`, the same service layer as
``grader extensions`` and ``grader late-days``, and is recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from grader import catalog, deadlines, gradebook
from grader.context import db_session, state
from grader.dashboard.account import instructor_required, require_user, staff_required
from grader.errors import Invalid, ServiceError
from grader.models import utcnow

bp = Blueprint("extensions", __name__, url_prefix="/instructor")

MAX_FIELD = 300


def _form(name: str) -> str:
    return (request.form.get(name) or "").strip()[:MAX_FIELD]


def _page(*, error: str | None = None, form: dict[str, str] | None = None, status: int = 200) -> Any:
    session = db_session()
    entries = catalog.all_assignments(session, state().settings)
    wanted = (request.args.get("assignment") or "").strip()
    rows = deadlines.list_extensions(session, wanted or None)
    budget = deadlines.late_day_budget(session)
    session.commit()
    body = render_template("extensions.html", rows=rows, entries=entries, budget=budget, error=error,
                           form=form or {}, assignment=wanted, now=utcnow())
    return body, status


@bp.get("/extensions")
@staff_required
def index() -> Any:
    return _page()


@bp.post("/extensions")
@instructor_required
def add() -> Any:
    """Give a student their own deadline for one assignment: a number of days, or a new deadline."""
    form = {key: _form(key) for key in ("email", "assignment", "mode", "days", "until", "hard_until", "reason")}
    session = db_session()
    try:
        days = until = hard = None
        if form["mode"] == "until":
            until = deadlines.parse_time(form["until"], "the new deadline")
        else:
            try:
                days = float(form["days"])
            except ValueError:
                raise Invalid(f"the number of days must be a number, not {form['days']!r}") from None
        if form["hard_until"]:
            hard = deadlines.parse_time(form["hard_until"], "the new hard deadline")
        row = deadlines.add_extension(session, state().settings, require_user(), form["email"], form["assignment"],
                                      days=days, until=until, hard_until=hard, reason=request.form.get("reason", ""))
        email = row.user.email
        session.commit()
    except ServiceError as exc:
        session.rollback()
        return _page(error=exc.message, form=form, status=exc.status)
    flash(f"Extension for {email} on {form['assignment']}: due {row.deadline:%Y-%m-%d %H:%M} UTC.", "success")
    return redirect(url_for("extensions.index"), code=303)


@bp.post("/extensions/remove")
@instructor_required
def remove() -> Any:
    email, assignment = _form("email"), _form("assignment")
    session = db_session()
    try:
        deadlines.remove_extension(session, require_user(), email, assignment)
        session.commit()
    except ServiceError as exc:
        session.rollback()
        return _page(error=exc.message, status=exc.status)
    flash(f"Removed the extension of {email} for {assignment}: the assignment's deadlines apply again.", "info")
    return redirect(url_for("extensions.index"), code=303)


@bp.post("/late-days")
@instructor_required
def late_days() -> Any:
    """Set the term's late-day budget (an empty field removes it)."""
    text = _form("late_days")
    session = db_session()
    try:
        if text and not text.isdigit():
            raise Invalid(f"the late-day budget is a whole number of days, not {text!r}")
        days = int(text) if text else None
        deadlines.set_late_day_budget(session, require_user(), days)
        session.commit()
    except ServiceError as exc:
        session.rollback()
        return _page(error=exc.message, status=exc.status)
    flash(f"Late-day budget: {days} day{'s' if days != 1 else ''} per student for the term." if days is not None
          else "Late-day budget removed: each assignment's late penalty applies from the first day.", "success")
    return redirect(url_for("extensions.index"), code=303)


@bp.get("/gradebook.canvas.csv")
@staff_required
def gradebook_canvas() -> Any:
    """The gradebook for Canvas's Grades > Import (the same file as ``grader gradebook export --format canvas``)."""
    session = db_session()
    book = gradebook.build(session, state().settings)
    ids = gradebook.canvas_ids(session)
    session.commit()
    name = f"gradebook-canvas-{utcnow():%Y%m%d-%H%M}.csv"
    return Response(book.to_canvas_csv(ids), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store"})
