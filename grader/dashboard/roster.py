"""The roster page (instructors), the sign-in links an instructor makes, and the page a link opens (anyone).

The roster page takes the same CSV file as ``grader users import`` and calls the same service
(:func:`grader.roster.import_roster`), so both report the same counts. The new sign-in links are offered
once, in the answer to the upload: only their SHA-256 is stored, so they cannot be shown again (an
import with "new links for everyone who has not signed in" makes fresh ones). ``/signin/<token>`` lets the
holder of a link set a password and signs them in; it is limited like the login page (failed lookups count
against the address before anything else happens).
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from grader import audit, auth, roster, signin
from grader.context import db_session, state
from grader.dashboard.account import MAX_PASSWORD_LENGTH, _limited, home_for, instructor_required, require_user, \
    start_session
from grader.errors import Invalid, NotFound, RateLimited, Unauthorized
from grader.models import User

bp = Blueprint("roster", __name__)


def base_url() -> str:
    """Where links point: ``GRADER_EXTERNAL_URL`` when set, else this request's site."""
    return state().settings.external_url.rstrip("/") or request.url_root.rstrip("/")


def _overview() -> dict[str, Any]:
    """How many people the course has, by role, and how many have not set a password yet."""
    session = db_session()
    rows = session.execute(select(User.role, User.disabled_at.is_(None), User.password_hash.is_(None), func.count())
                           .group_by(User.role, User.disabled_at.is_(None), User.password_hash.is_(None)))
    overview: dict[str, Any] = {"roles": {}, "disabled": 0, "pending": 0}
    for role, active, no_password, count in rows:
        if active:
            overview["roles"][role] = overview["roles"].get(role, 0) + count
            if no_password:
                overview["pending"] += count
        else:
            overview["disabled"] += count
    return overview


@bp.get("/instructor/roster")
@instructor_required
def page() -> Any:
    return render_template("roster.html", overview=_overview(), result=None, errors=None, max_bytes=roster.MAX_BYTES)


@bp.post("/instructor/roster")
@instructor_required
def upload() -> Any:
    user = require_user()
    upload = request.files.get("roster")
    drop_missing = request.form.get("drop_missing") == "1"
    relink = request.form.get("relink") == "1"
    if upload is None or not upload.filename:
        return _answer(errors=[roster.RowError(0, "choose the roster file (CSV) to import")], status=400)
    data = upload.read(roster.MAX_BYTES + 1)
    session = db_session()
    try:
        result = roster.import_roster(session, state().settings, data, actor=user, drop_missing=drop_missing,
                                      relink=relink)
        session.commit()
    except roster.RosterInvalid as exc:
        session.rollback()
        return _answer(errors=exc.errors, filename=upload.filename, status=400)
    except IntegrityError:
        session.rollback()  # another import (or `users add`) added one of these people at the same moment
        return _answer(errors=[roster.RowError(0, "someone else changed the users at the same moment; "
                                                  "nothing was imported: send the file again")],
                       filename=upload.filename, status=409)
    links_csv = roster.links_csv(result.links, base_url()) if result.links else ""
    download = ("data:text/csv;charset=utf-8;base64," + base64.b64encode(links_csv.encode()).decode()
                if links_csv else "")
    return _answer(result=result, filename=upload.filename, download=download, base=base_url())


def _too_large(exc: RequestEntityTooLarge) -> Any:
    """A roster over the site's request limit (``GRADER_MAX_REQUEST_BYTES``, met while the form is read, before
    the view runs): the dashboard's 413 page speaks of submissions, so the roster page says its own."""
    from grader.dashboard.account import current_user

    user = current_user()  # met before the view's own check: only an instructor sees the roster page
    if request.endpoint == "roster.upload" and user is not None and user.is_instructor:
        return _answer(errors=[roster.RowError(0, f"the file is over the {roster.MAX_BYTES // 1048576} MiB a "
                                                  "roster may have")], status=413)
    from grader.dashboard.errors import _http_error

    return _http_error(exc)


@bp.record_once
def _roster_413(state: Any) -> None:
    # After the blueprint's handlers are merged into the app (the dashboard gives every page blueprint its
    # error pages, 413 included), so this one takes the roster's 413s.
    state.app.error_handler_spec[bp.name][413][RequestEntityTooLarge] = _too_large


def _answer(*, status: int = 200, **values: Any) -> Any:
    values.setdefault("result", None)
    values.setdefault("errors", None)
    return render_template("roster.html", overview=_overview(), max_bytes=roster.MAX_BYTES, **values), status


@bp.post("/instructor/users/link")
@instructor_required
def make_link() -> Any:
    """A one-time sign-in link for one user (a forgotten password), shown on this answer only."""
    me = require_user()
    email = (request.form.get("email") or "").strip()[:254]
    session = db_session()
    try:
        link = signin.issue_for_email(session, state().settings, email, created_by=me)
    except NotFound:
        abort(404)
    except Invalid as exc:
        session.rollback()
        flash(exc.message[0].upper() + exc.message[1:] + ".", "error")
        return redirect(url_for("instructor.users"), code=303)
    audit.record(session, me, "signin.link", link.user.email, purpose=link.purpose,
                 expires_at=link.expires_at.isoformat(timespec="seconds"))
    session.commit()
    return render_template("signin_link.html", link=link, url=link.url(base_url()))


# --------------------------------------------------------------------------- the page a link opens


def _check(token: str, password: str | None) -> Any:
    """The link (or, with ``password``, its use: the user) under the login limits: an unusable link counts as a
    failed login from this address; a refused password does not (the link stays usable)."""
    from grader.dashboard.throttle import guard

    def attempt() -> Any:
        try:
            if password is None:
                return signin.check(db_session(), token)
            if len(password) > MAX_PASSWORD_LENGTH:
                raise Invalid("the password is too long")
            return signin.redeem(db_session(), token, password)
        except signin.LinkUnusable:
            db_session().rollback()
            raise Unauthorized(signin.UNUSABLE) from None

    return guard().attempt("signin-link:" + auth.token_digest(token[:200]), request.remote_addr or "unknown",
                           attempt)


def _form(link: Any, error: str | None = None, status: int = 200) -> Any:
    return render_template("signin.html", email=link.user.email, purpose=link.purpose, error=error,
                           min_length=8), status


@bp.route("/signin/<token>", methods=["GET", "POST"])
def signin_page(token: str) -> Any:
    session = db_session()
    try:
        if request.method == "GET":
            return _form(_check(token, None))
        password = request.form.get("new_password", "")
        if password != request.form.get("confirm_password", ""):
            return _form(_check(token, None), "The password and its confirmation differ.", 400)
        try:
            user = _check(token, password)
        except Invalid as exc:
            session.rollback()
            return _form(_check(token, None), exc.message[0].upper() + exc.message[1:] + ".", 400)
    except RateLimited as exc:
        raise _limited(exc) from None
    except Unauthorized:
        session.rollback()
        return render_template("signin_unusable.html", message=signin.UNUSABLE), 404
    start_session(user)
    session.commit()
    flash("Your password is set and you are signed in. Next time, log in with your email and this password.",
          "info")
    return redirect(home_for(user), code=303)
