"""The dashboard: the web pages where students read their feedback and instructors run the course.

Three blueprints on the service layer the JSON API uses: :mod:`.account`
(log in and out), :mod:`.student` (assignments, upload, the report) and
:mod:`.instructor` (gradebook, submissions, regrades, statistics); Jinja
templates in ``grader/templates/``, plain CSS and a little JavaScript in
``grader/static/``, no build step.

Security, in one place:

- the session cookie is HttpOnly and SameSite=Lax, and Secure in production;
- every form carries a CSRF token (Flask-WTF's ``CSRFProtect``); the JSON API,
  which authenticates with bearer tokens and never reads the session cookie,
  is exempt;
- logins are limited before any password is hashed, per client address and
  per (account, address) (:mod:`.throttle`), so nobody can lock another
  person out; page sessions are rows on the server (logout, a password
  change or being disabled ends them; 12 hours at most);
- pages send a Content-Security-Policy without inline scripts or styles, so
  markup that slips into a page still cannot run; Jinja escapes everything a
  student wrote (code, prints, file names) in the first place.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from grader.dashboard import account, errors, instructor, student, templating, throttle
from grader.dashboard import audit as audit_page
from grader.dashboard import roster as roster_page
from grader.dashboard import similarity as similarity_page
from grader.dashboard import extensions as extensions_page

csrf = CSRFProtect()
BLUEPRINTS = (account.bp, student.bp, instructor.bp)
BLUEPRINTS += (audit_page.bp,)  # the audit log (instructors)
BLUEPRINTS += (roster_page.bp,)  # roster import, sign-in links (instructors), /signin/<token> (anyone)
BLUEPRINTS += (similarity_page.bp,)  # code similarity between submissions (instructors)
BLUEPRINTS += (extensions_page.bp,)  # extensions and the late-day budget (staff see, instructors change)
for _bp in BLUEPRINTS:
    errors.attach(_bp)

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def init_app(app: Flask) -> None:
    """Register the pages on ``app`` (after the API: its blueprint is exempted from CSRF here)."""
    from grader import api

    settings = app.extensions["grader"].settings
    app.config.update(
        SESSION_COOKIE_NAME="grader_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    # A form's token is valid as long as the session (12 hours), so a page left open a while still submits.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("LOGIN_RATE_LIMIT", throttle.DEFAULT_LIMIT)
    csrf.init_app(app)
    csrf.exempt(api.bp)
    throttle.init_app(app)
    templating.init_app(app)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)

    @app.after_request
    def _page_headers(response: Any) -> Any:
        page = request.blueprint in templating.PAGE_BLUEPRINTS
        if page or response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        if page:
            # Pages show one person's grades: never kept by a shared cache or the browser's disk cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response


__all__ = ["csrf", "init_app"]
