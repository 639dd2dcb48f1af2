"""Logging in and out of the pages; who is logged in; the decorators the other page modules use.

Passwords are checked by :func:`grader.auth.authenticate` (werkzeug's scrypt,
with the per-account lockout after repeated failures). The session cookie
(signed, HttpOnly, SameSite=Lax, Secure in production) carries the user id
and a fingerprint of the password hash, so changing a password ends every
other session. Login attempts are also limited per client address
(:mod:`grader.dashboard.throttle`).
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
from grader.errors import LoginLocked, Unauthorized
from grader.models import User

bp = Blueprint("account", __name__)
F = TypeVar("F", bound=Callable[..., Any])

_USER = "user_id"
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
        candidate = db_session().get(User, user_id)
        if (candidate is not None and candidate.password_hash
                and hmac.compare_digest(str(session.get(_FINGERPRINT, "")), _fingerprint(candidate))):
            user = candidate
        else:
            session.clear()  # a deleted user or a changed password
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
    return url_for("instructor.gradebook") if user.is_instructor else url_for("student.assignments")


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
        wait = _throttle_hit()
        if wait is not None:
            raise _too_many(wait, "Too many login attempts from your network")
        email = request.form.get("email", "").strip()[:254]
        password = request.form.get("password", "")
        if not email or not password:
            error, status = "Enter your email and your password.", 400
        else:
            session_db = db_session()
            try:
                if len(password) > MAX_PASSWORD_LENGTH:
                    raise Unauthorized("wrong email or password")
                user = auth.authenticate(session_db, state().settings, email, password)
            except LoginLocked as exc:
                session_db.commit()
                raise _too_many(exc.retry_after or 60, "Too many failed logins for this account") from None
            except Unauthorized:
                session_db.commit()  # the failed-login count
                error, status = "Wrong email or password.", 401
            else:
                session_db.commit()
                session.clear()  # a fresh session (and CSRF token) for the new login
                session.permanent = True
                session[_USER] = user.id
                session[_FINGERPRINT] = _fingerprint(user)
                g.page_user = user
                return redirect(next_url or home_for(user), code=303)
    return render_template("login.html", email=email, error=error, next=next_url), status


def _throttle_hit() -> int | None:
    from grader.dashboard.throttle import throttle

    return throttle().hit(request.remote_addr or "unknown")


def _too_many(retry_after: int, what: str) -> TooManyRequests:
    return TooManyRequests(f"{what}. Please wait and try again.", retry_after=max(1, int(retry_after)))


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("account.login"), code=303)
