"""Logging in and out of the pages; who is logged in; the decorators the other page modules use.

Passwords are checked by :func:`grader.auth.authenticate` (werkzeug's scrypt)
after the limits of :mod:`grader.dashboard.throttle` (per address, and per
account and address) allow the attempt. The session cookie (signed, HttpOnly,
SameSite=Lax, Secure in production) carries the id of a server-side
:class:`~grader.models.WebSession` row, which logging out, changing the
password or being disabled ends, and which expires 12 hours after the login
whatever the use; plus a fingerprint of the password hash.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.exceptions import TooManyRequests

from grader import auth
from grader.context import db_session, state
from grader.errors import Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from grader.models import User

bp = Blueprint("account", __name__)
F = TypeVar("F", bound=Callable[..., Any])

_USER = "user_id"
_SID = "sid"
_FINGERPRINT = "auth"
MAX_PASSWORD_LENGTH = 1024  # scrypt of a megabyte would be a cheap way to keep a web process busy


def _fingerprint(user: User) -> str:
    key = str(current_app.secret_key).encode()
    return hmac.new(key, f"{user.id}:{user.password_hash}".encode(), hashlib.sha256).hexdigest()


def current_user() -> User | None:
    """The user logged in to the pages (None for a visitor); loaded once per request."""
    if "page_user" in g:
        return g.page_user  # type: ignore[no-any-return]
    user = None
    user_id = session.get(_USER)
    if isinstance(user_id, int):
        candidate = auth.user_for_web_session(db_session(), str(session.get(_SID) or ""))
        if (candidate is not None and candidate.id == user_id and candidate.password_hash
                and hmac.compare_digest(str(session.get(_FINGERPRINT, "")), _fingerprint(candidate))):
            user = candidate
        else:
            session.clear()  # logged out, expired, disabled, deleted, or a changed password
    g.page_user = user
    return user


def require_user() -> User:
    user = current_user()
    if user is None:
        abort(401)
    return user


def _wants_json() -> bool:
    return request.path.endswith(".json")


def login_required(view: F) -> F:
    """Pages: visitors go to the login page (and come back); JSON endpoints answer 401."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if _wants_json():
                return jsonify(error="not logged in"), 401
            if request.method == "GET":
                return redirect(url_for("account.login", next=request.full_path.rstrip("?")))
            abort(401)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def instructor_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not require_user().is_instructor:
            abort(403)
        return view(*args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


def staff_required(view: F) -> F:
    """Instructors and TAs: seeing the course's gradebook, submissions and statistics, and regrading."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not require_user().is_staff:
            abort(403, "This page is for course staff (instructors and TAs).")
        return view(*args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no host, no ``//``): no open redirects."""
    if not target or len(target) > 2000:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 32 for c in target):
        return None
    return target


def home_for(user: User) -> str:
    return url_for("instructor.gradebook") if user.is_staff else url_for("student.assignments")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = safe_next(request.values.get("next"))
    user = current_user()
    if user is not None and request.method == "GET":
        return redirect(next_url or home_for(user))
    email = ""
    error = None
    status = 200
    if request.method == "POST":
        email = request.form.get("email", "").strip()[:254]
        password = request.form.get("password", "")
        if not email or not password:
            error, status = "Enter your email and your password.", 400
        else:
            session_db = db_session()
            try:
                user = _checked_login(email, password)
            except RateLimited as exc:
                raise _limited(exc) from None
            except Forbidden as exc:
                error, status = exc.message[0].upper() + exc.message[1:] + ".", 403
            except Unauthorized:
                error, status = "Wrong email or password.", 401
            else:
                start_session(user)
                session_db.commit()
                return redirect(next_url or home_for(user), code=303)
    return render_template("login.html", email=email, error=error, next=next_url), status


def _checked_login(email: str, password: str) -> User:
    """The user, if the guessing limits allow an attempt and the password is right (raises otherwise)."""
    from grader.dashboard.throttle import guard

    def check() -> User:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise Unauthorized("wrong email or password")
        return auth.authenticate(db_session(), state().settings, email, password)

    return guard().attempt(email, request.remote_addr or "unknown", check)


def start_session(user: User) -> None:
    """A fresh cookie (and CSRF token) tied to a new server-side session row (the caller commits)."""
    session.clear()
    session.permanent = True
    lifetime = current_app.permanent_session_lifetime
    session[_SID] = auth.create_web_session(db_session(), user, lifetime=lifetime)
    session[_USER] = user.id
    session[_FINGERPRINT] = _fingerprint(user)
    g.page_user = user


def _limited(exc: RateLimited) -> TooManyRequests:
    return TooManyRequests(exc.message, retry_after=max(1, int(exc.retry_after or 60)))


@bp.post("/logout")
def logout() -> Any:
    sid = session.get(_SID)
    if sid:
        session_db = db_session()
        auth.end_web_session(session_db, str(sid))
        session_db.commit()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("account.login"), code=303)


# --------------------------------------------------------------------------- your account


@bp.get("/account")
@login_required
def account() -> Any:
    user = require_user()
    tokens = auth.list_tokens(db_session(), user)
    return render_template("account.html", tokens=tokens, token_status=auth.token_status,
                           min_length=8)


@bp.post("/account/password")
@login_required
def change_password() -> Any:
    user = require_user()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        flash("The new password and its confirmation differ.", "error")
        return redirect(url_for("account.account"), code=303)
    session_db = db_session()
    try:
        _checked_login(user.email, current)
        if len(new) > MAX_PASSWORD_LENGTH:
            raise Invalid("the password is too long")
        auth.change_password(session_db, user, new)
    except RateLimited as exc:
        raise _limited(exc) from None
    except Unauthorized:
        session_db.rollback()
        flash("Your current password is wrong.", "error")
        return redirect(url_for("account.account"), code=303)
    except Invalid as exc:
        session_db.rollback()
        flash(exc.message[0].upper() + exc.message[1:] + ".", "error")
        return redirect(url_for("account.account"), code=303)
    start_session(user)  # every other session and every token ended; this browser stays logged in
    session_db.commit()
    flash("Your password is changed. Your other sessions and your tokens (grader login) have ended.", "info")
    return redirect(url_for("account.account"), code=303)


@bp.post("/account/tokens/revoke")
@login_required
def revoke_token() -> Any:
    user = require_user()
    raw = request.form.get("token_id", "")
    session_db = db_session()
    try:
        if not raw.isdigit() or len(raw) > 18:
            raise NotFound("no such token")
        auth.revoke_token_id(session_db, user, int(raw))
    except NotFound:
        abort(404)
    session_db.commit()
    flash("The token is revoked.", "info")
    return redirect(url_for("account.account"), code=303)
