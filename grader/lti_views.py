"""The LTI 1.3 endpoints (issue 11): ``/lti/login`` (OIDC login initiation), ``/lti/launch`` (the launch:
validated by :mod:`grader.lti`, it signs the user in and lands them on the assignment) and ``/lti/jwks``
(the tool's public key). Forms posted here come from the LMS, so CSRF tokens do not apply: the launch is
authenticated by the platform's signed ``id_token``, the state cookie of the browser that started the login,
and a nonce that is good once.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, flash, jsonify, redirect, url_for
from pylti1p3.exception import LtiException, OIDCException

from grader import lti
from grader.context import db_session, state

log = logging.getLogger(__name__)
bp = Blueprint("lti", __name__, url_prefix="/lti")

_BAD_REQUEST = ("Missing id_token", "Missing state param", "Could not find issuer", "Could not find login hint")


def tool_urls(base: str) -> dict[str, str]:
    """What the LMS administrator enters, from the site's public address ``base``."""
    base = base.rstrip("/")
    return {"login_url": f"{base}/lti/login", "launch_url": f"{base}/lti/launch", "jwks_url": f"{base}/lti/jwks"}


def _external(endpoint: str) -> str:
    base = state().settings.external_url
    if base:
        return tool_urls(base)[f"{endpoint}_url"]
    return url_for(f"lti.{endpoint}", _external=True)


def _refused(status: int, message: str) -> Any:
    from grader.dashboard.errors import error_page

    return error_page(status, message, title="Sign-in from the LMS refused")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    try:
        return lti.login_redirect(state().db, _external("launch"))
    except (OIDCException, LtiException) as exc:
        log.info("LTI login refused: %s", exc)
        return _refused(400, f"The sign-in from the LMS could not start: {exc}. Check the tool's registration "
                             "(grader lti list).")


@bp.post("/launch")
def launch() -> Any:
    from grader.dashboard.account import home_for, start_session

    try:
        claims = lti.validate_launch(state().db)
    except lti.LaunchRefused as exc:
        return _refused(exc.status, f"The launch from the LMS was refused: {exc.message}.")
    except (LtiException, OIDCException) as exc:
        message = str(exc)
        log.warning("LTI launch refused: %s", message)
        status = 400 if message.startswith(_BAD_REQUEST) else 403
        return _refused(status, f"The launch from the LMS was refused: {message[:300]}. Start again from the LMS.")
    session = db_session()
    try:
        signed = lti.sign_in(session, state().settings, claims)
    except lti.LaunchRefused as exc:
        session.rollback()
        return _refused(exc.status, f"The launch from the LMS was refused: {exc.message}.")
    start_session(signed.user)
    session.commit()
    for notice in signed.notices:
        flash(notice, "info")
    if signed.assignment_id is not None:
        return redirect(url_for("student.assignment", assignment_id=signed.assignment_id), code=303)
    return redirect(home_for(signed.user), code=303)


@bp.get("/jwks")
def jwks() -> Any:
    response = jsonify(lti.tool_key(state().db).jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def init_app(app: Flask) -> None:
    from grader.dashboard import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)
