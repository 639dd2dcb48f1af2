"""The audit log page (instructors only): who regraded, changed a role or a policy, imported, extended, and when.

Entries are written by :func:`grader.audit.record` wherever the change is made; this page only reads them,
newest first, filtered by action, 50 to a page. ``grader audit`` prints the same entries.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from grader import audit
from grader.context import db_session
from grader.dashboard.account import instructor_required

bp = Blueprint("audit", __name__, url_prefix="/instructor")

PER_PAGE = 50
MAX_PAGE = 2**31 - 1


@bp.get("/audit")
@instructor_required
def audit_log() -> Any:
    session = db_session()
    action = (request.args.get("action") or "").strip()[:50] or None
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(400, "There is no such page of the audit log.")
    total = audit.count(session, action=action)
    rows = audit.entries(session, limit=PER_PAGE, offset=(page - 1) * PER_PAGE, action=action)
    known = audit.actions(session)
    session.commit()
    pages = max(1, -(-total // PER_PAGE))
    return render_template("audit.html", rows=[(e, audit.describe(e.details)) for e in rows], total=total,
                           page=page, pages=pages, action=action or "", actions=known)
