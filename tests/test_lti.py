"""LTI 1.3 (issue 11) against a platform simulated here: its own RSA key and JWKS, an OIDC authorisation
step (the test plays the browser), signed launches, an OAuth2 token endpoint that checks the tool's client
assertion against the tool's JWKS, and a line item's scores endpoint that records what it receives.

The tool side runs in-process (Flask test client); one test runs a real worker, whose passback reaches the
simulated platform after a real grading, including while the platform is down.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwcrypto.jwk import JWK
from sqlalchemy import select

from service_fixtures import (
    FAST_RELIABILITY,
    People,
    free_port,
    iso,
    make_app,
    make_course,
    now,
    start_worker,
    svm_file,
    upload,
    wait_for,
    wait_for_status,
)

ISS = "https://lms.example.edu"
CLIENT_ID = "grader-tool-7"
DEPLOYMENT = "deployment-1"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
MENTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"
SYSTEM_USER = "http://purl.imsglobal.org/vocab/lis/v2/system/person#User"


class Platform:
    """A small LMS on 127.0.0.1: JWKS, token endpoint and line items' scores endpoints, in a thread."""

    def __init__(self) -> None:
        self.key = JWK.generate(kty="RSA", size=2048, kid="platform-key-1")
        # A loaded key object: PyJWT would parse (and check) a PEM again for every token (~0.1 s each).
        self.private_key = load_pem_private_key(self.key.export_to_pem(private_key=True, password=None), None)
        self.tool_jwks: dict[str, Any] = {"keys": []}  # what the LMS admin entered: the tool's JWKS
        self.tokens: set[str] = set()
        self.assertions: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []  # (path, body) of every score taken
        self.refused: list[str] = []
        self.down_for = 0  # answer this many score or token requests with 503 first
        self.lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/jwks":
                    self._send(200, {"keys": [json.loads(platform.key.export_public())]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with platform.lock:
                    if platform.down_for > 0:
                        platform.down_for -= 1
                        platform.refused.append(f"503 {self.path}")
                        return self._send(503, {"error": "maintenance"})
                if self.path == "/token":
                    status, body = platform.token(parse_qs(raw.decode()))
                    return self._send(status, body)
                if self.path.endswith("/lineitem/scores"):
                    auth = self.headers.get("Authorization", "")
                    if not auth.startswith("Bearer ") or auth[7:] not in platform.tokens:
                        platform.refused.append(f"401 {self.path}")
                        return self._send(401, {"error": "invalid token"})
                    if self.headers.get("Content-Type") != "application/vnd.ims.lis.v1.score+json":
                        platform.refused.append(f"415 {self.path}")
                        return self._send(415, {"error": "score+json expected"})
                    with platform.lock:
                        platform.scores.append({"path": self.path, **json.loads(raw)})
                    return self._send(200, {})
                self._send(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """OAuth2 client credentials with a JWT client assertion, verified against the tool's JWKS."""
        try:
            assert form["grant_type"] == ["client_credentials"]
            assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
            assertion = form["client_assertion"][0]
            kid = jwt.get_unverified_header(assertion)["kid"]
            key = next(k for k in self.tool_jwks["keys"] if k["kid"] == kid)
            claims = jwt.decode(assertion, JWK(**key).export_to_pem(), algorithms=["RS256"],
                                audience=f"{self.base}/token", options={"require": ["exp", "iat", "jti"]})
            assert claims["iss"] == claims["sub"] == CLIENT_ID
            assert SCORE_SCOPE in form["scope"][0].split()
        except (AssertionError, KeyError, StopIteration, jwt.InvalidTokenError) as exc:
            self.refused.append(f"401 /token {type(exc).__name__}")
            return 401, {"error": "invalid_client"}
        self.assertions.append(claims)
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": SCORE_SCOPE}

    def lineitem(self, assignment: str) -> str:
        return f"{self.base}/courses/231/lineitems/{assignment}/lineitem"

    def claims(self, nonce: str, *, sub: str, email: str | None, roles: list[str], assignment: str | None = "svm",
               name: str = "Ada Lovelace") -> dict[str, Any]:
        t = int(time.time())
        body: dict[str, Any] = {
            "iss": ISS, "aud": CLIENT_ID, "sub": sub, "iat": t, "exp": t + 300, "nonce": nonce, "name": name,
            CLAIM + "message_type": "LtiResourceLinkRequest", CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT, CLAIM + "target_link_uri": "http://localhost/lti/launch",
            CLAIM + "resource_link": {"id": f"link-{assignment}"}, CLAIM + "roles": roles,
            CLAIM + "context": {"id": "cs231n-2027", "label": "CS231n"},
            AGS: {"scope": [SCORE_SCOPE, "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"],
                  "lineitems": f"{self.base}/courses/231/lineitems",
                  "lineitem": self.lineitem(assignment or "none")},
        }
        if email is not None:
            body["email"] = email
        if assignment is not None:
            body[CLAIM + "custom"] = {"assignment": assignment}
        return body

    def sign(self, claims: dict[str, Any], key: Any = None, kid: str = "platform-key-1") -> str:
        return jwt.encode(claims, key or self.private_key, algorithm="RS256", headers={"kid": kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    lms = Platform()
    yield lms
    lms.stop()


def register(instance: Path, base: str, course: Path | None = None) -> Any:
    """``grader lti add-platform`` as an administrator runs it (in-process)."""
    from grader.cli import main

    env = {"GRADER_INSTANCE_PATH": str(instance), **({"GRADER_ASSIGNMENTS_DIR": str(course)} if course else {})}
    return CliRunner().invoke(main, ["lti", "add-platform", "--issuer", ISS, "--client-id", CLIENT_ID,
                                     "--deployment-id", DEPLOYMENT, "--auth-login-url", f"{base}/auth",
                                     "--token-url", f"{base}/token", "--jwks-url", f"{base}/jwks"], env=env)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """svm without a deadline (counted = raw score); softmax two days late with 10 % a day."""
    root = tmp_path_factory.mktemp("lti-course")
    make_course(root, "", ("svm",))
    make_course(root, f"deadline = {iso(now() - timedelta(days=3))}\nlate_penalty_per_day = 0.1", ("softmax",))
    return root


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, platform: Platform, course: Path) -> Iterator[Any]:
    instance = tmp_path_factory.mktemp("lti") / "instance"
    application = make_app(instance, ASSIGNMENTS_DIR=str(course))
    result = register(instance, platform.base, course)
    assert result.exit_code == 0, result.output
    assert f"registered {ISS} (client id {CLIENT_ID}; deployments {DEPLOYMENT})" in result.output
    platform.tool_jwks = application.test_client().get("/lti/jwks").get_json()
    yield application
    application.extensions["grader"].db.engine.dispose()


def start_login(client: Any) -> tuple[str, str]:
    """The LMS sends the browser to /lti/login; the tool sends it to the platform's authorisation endpoint."""
    response = client.get("/lti/login", query_string={"iss": ISS, "login_hint": "u", "client_id": CLIENT_ID,
                                                      "target_link_uri": "http://localhost/lti/launch",
                                                      "lti_message_hint": "m"})
    assert response.status_code == 302, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/auth" and query["redirect_uri"] == ["http://localhost/lti/launch"]
    assert query["client_id"] == [CLIENT_ID] and query["response_mode"] == ["form_post"]
    return query["state"][0], query["nonce"][0]


def launch(client: Any, platform: Platform, *, sub: str, email: str | None, roles: list[str],
           assignment: str | None = "svm", **changes: Any) -> Any:
    state, nonce = start_login(client)
    claims = platform.claims(nonce, sub=sub, email=email, roles=roles, assignment=assignment)
    claims.update(changes)
    for name in [k for k, v in changes.items() if v is None]:
        del claims[name]
    return client.post("/lti/launch", data={"id_token": platform.sign(claims), "state": state})


def signed_in(client: Any) -> bool:
    return client.get("/assignments").status_code == 200


def user(app: Any, email: str) -> Any:
    from grader.models import User

    with app.extensions["grader"].db.session() as session:
        return session.scalar(select(User).where(User.email == email))


def audit_actions(app: Any, target: str) -> list[str]:
    from grader.models import AuditEntry

    with app.extensions["grader"].db.session() as session:
        return list(session.scalars(select(AuditEntry.action).where(AuditEntry.target.contains(target))
                                    .order_by(AuditEntry.id)))


# --------------------------------------------------------------------------- launches


def test_a_learner_launch_creates_the_account_signs_in_and_lands_on_the_assignment(app: Any, platform: Platform
                                                                                     ) -> None:
    from grader.models import LtiLineItem, LtiLink

    client = app.test_client()
    response = launch(client, platform, sub="s-ada", email="Ada@Example.edu", roles=[LEARNER, SYSTEM_USER])
    assert response.status_code == 303 and response.headers["Location"].endswith("/assignments/svm")
    page = client.get("/assignments/svm")
    assert page.status_code == 200 and "Ada Lovelace" in page.get_data(as_text=True)
    ada = user(app, "ada@example.edu")
    assert ada.role == "student" and ada.name == "Ada Lovelace" and ada.password_hash  # a random password
    with app.extensions["grader"].db.session() as session:
        link = session.scalar(select(LtiLink).where(LtiLink.subject == "s-ada"))
        assert link is not None and link.issuer == ISS and link.user_id == ada.id
        item = session.scalar(select(LtiLineItem).where(LtiLineItem.assignment_id == "svm"))
        assert item is not None and item.lineitem_url == platform.lineitem("svm")
        assert SCORE_SCOPE in item.ags["scope"]
    assert audit_actions(app, "ada@example.edu")[:2] == ["user.add", "lti.link"]
    assert "lti.line_item" in audit_actions(app, "assignment svm")

    # The next launch finds the account by its link (issuer + subject), whatever e-mail it sends now.
    again = app.test_client()
    response = launch(again, platform, sub="s-ada", email="ada.lovelace@example.edu", roles=[LEARNER])
    assert response.status_code == 303 and signed_in(again)
    assert user(app, "ada.lovelace@example.edu") is None
    assert audit_actions(app, "ada@example.edu").count("lti.link") == 1


@pytest.mark.parametrize("roles, expected, landing", [
    ([INSTRUCTOR, SYSTEM_USER], "instructor", "/assignments/svm"),
    ([TA, SYSTEM_USER], "ta", "/assignments/svm"),
])
def test_staff_launches_create_staff_accounts(app: Any, platform: Platform, roles: list[str], expected: str,
                                              landing: str) -> None:
    client = app.test_client()
    email = f"{expected}-staff@example.edu"
    response = launch(client, platform, sub=f"s-{expected}", email=email, roles=roles)
    assert response.status_code == 303 and response.headers["Location"].endswith(landing)
    assert user(app, email).role == expected and signed_in(client)


def test_an_existing_account_keeps_its_role_whatever_the_launch_says(app: Any, platform: Platform) -> None:
    people = People(app)
    people.add("grace")  # a student account made from the roster
    client = app.test_client()
    response = launch(client, platform, sub="s-grace", email="grace@example.edu", roles=[INSTRUCTOR])
    assert response.status_code == 303
    page = client.get("/assignments/svm").get_data(as_text=True)
    assert "The LMS says you are an instructor, but your grader account is a student" in page
    assert user(app, "grace@example.edu").role == "student"
    # Gradebook and user pages stay closed to her.
    assert client.get("/instructor/gradebook").status_code == 403


@pytest.mark.parametrize("case, status, message", [
    ("no e-mail", 403, "did not send your e-mail address"),
    ("mentor", 403, "gives no access to the grader"),
    ("disabled", 403, "your grader account is disabled"),
    ("e-mail of an account linked to another LMS user", 409, "already linked to another account of this LMS"),
    ("unusable e-mail", 400, "which the grader cannot use"),
])
def test_launches_the_grader_refuses(app: Any, platform: Platform, case: str, status: int, message: str) -> None:
    from grader import auth

    email = {"no e-mail": None, "mentor": "mentor@example.edu", "disabled": "mallory@example.edu",
             "e-mail of an account linked to another LMS user": "olga@example.edu",
             "unusable e-mail": "not an address"}[case]
    if case.startswith("e-mail of an account"):
        first = launch(app.test_client(), platform, sub="s-olga", email="olga@example.edu", roles=[LEARNER])
        assert first.status_code == 303
    if case == "disabled":
        People(app).add("mallory")
        with app.extensions["grader"].db.session() as session:
            auth.set_disabled(session, "mallory@example.edu", True)
            session.commit()
    client = app.test_client()
    response = launch(client, platform, sub=f"s-{case}", email=email, roles=[MENTOR] if case == "mentor" else [LEARNER])
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert not signed_in(client)
    if case == "mentor":
        assert user(app, "mentor@example.edu") is None


def test_a_link_without_a_known_assignment_signs_in_and_says_so(app: Any, platform: Platform) -> None:
    from grader.models import LtiLineItem

    client = app.test_client()
    response = launch(client, platform, sub="s-lin", email="lin@example.edu", roles=[LEARNER], assignment="knn")
    assert response.status_code == 303 and response.headers["Location"].endswith("/assignments")
    page = client.get("/assignments").get_data(as_text=True)
    assert "points to the assignment &#39;knn&#39;, which the course does not have" in page
    with app.extensions["grader"].db.session() as session:
        assert session.scalar(select(LtiLineItem).where(LtiLineItem.assignment_id == "knn")) is None


OTHER_KEY = load_pem_private_key(JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None),
                                 None)


@pytest.mark.parametrize("forgery, message", [
    ("signed with another key", "Signature verification failed"),
    ("wrong audience", "Registration not found"),
    ("wrong issuer", "Registration not found"),
    ("expired", "Signature has expired"),
    ("no expiry", "Token is missing the &#34;exp&#34; claim"),
    ("unknown deployment", "Unable to find deployment"),
    ("another browser's state", "State not found"),
    ("nonce never issued", "Invalid Nonce"),
])
def test_forged_launches_are_refused_without_a_session(app: Any, platform: Platform, forgery: str,
                                                       message: str) -> None:
    client = app.test_client()
    state, nonce = start_login(client)
    email = f"forged-{forgery.replace(' ', '-').replace(chr(39), '')}@example.edu"
    claims = platform.claims(nonce, sub=f"s-{email}", email=email, roles=[INSTRUCTOR])
    key = None
    if forgery == "signed with another key":
        key = OTHER_KEY
    elif forgery == "wrong audience":
        claims["aud"] = "someone-elses-tool"
    elif forgery == "wrong issuer":
        claims["iss"] = "https://evil.example.com"
    elif forgery == "expired":
        claims["iat"], claims["exp"] = int(time.time()) - 900, int(time.time()) - 600
    elif forgery == "no expiry":
        del claims["exp"]
    elif forgery == "unknown deployment":
        claims[CLAIM + "deployment_id"] = "deployment-x"
    elif forgery == "another browser's state":
        client = app.test_client()  # a login CSRF: the attacker's own launch posted from the victim's browser
    elif forgery == "nonce never issued":
        claims["nonce"] = secrets.token_hex(16)
    response = client.post("/lti/launch", data={"id_token": platform.sign(claims, key), "state": state})
    assert response.status_code == 403, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert "The launch from the LMS was refused" in body and message in body
    assert not signed_in(client) and "grader_session" not in response.headers.get("Set-Cookie", "")
    assert user(app, email) is None


def test_a_platform_clock_a_little_ahead_is_tolerated(app: Any, platform: Platform) -> None:
    client = app.test_client()
    state, nonce = start_login(client)
    claims = platform.claims(nonce, sub="s-tick", email="tick@example.edu", roles=[LEARNER])
    claims["iat"] += 20  # issued "20 s from now" by the platform's clock
    response = client.post("/lti/launch", data={"id_token": platform.sign(claims), "state": state})
    assert response.status_code == 303 and signed_in(client)


def test_a_replayed_launch_is_refused(app: Any, platform: Platform) -> None:
    client = app.test_client()
    state, nonce = start_login(client)
    token = platform.sign(platform.claims(nonce, sub="s-rita", email="rita@example.edu", roles=[LEARNER]))
    first = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert first.status_code == 303

    for replayer in (client, app.test_client()):  # the same browser, or one that captured the post
        again = replayer.post("/lti/launch", data={"id_token": token, "state": state})
        assert again.status_code == 403 and "Invalid Nonce" in again.get_data(as_text=True)
    outsider = app.test_client()
    outsider.post("/lti/launch", data={"id_token": token, "state": state})
    assert not signed_in(outsider)

    # A new id_token that reuses the spent nonce, with the browser's own state cookie of a new login.
    state2, _ = start_login(client)
    reused = platform.sign(platform.claims(nonce, sub="s-rita", email="rita@example.edu", roles=[LEARNER]))
    response = client.post("/lti/launch", data={"id_token": reused, "state": state2})
    assert response.status_code == 403 and "Invalid Nonce" in response.get_data(as_text=True)


def test_bad_login_initiations_and_missing_parameters(app: Any) -> None:
    client = app.test_client()
    unknown = client.get("/lti/login", query_string={"iss": "https://nobody.example", "login_hint": "u"})
    assert unknown.status_code == 400 and "Could not find registration details" in unknown.get_data(as_text=True)
    assert client.get("/lti/login", query_string={"login_hint": "u"}).status_code == 400
    bare = client.post("/lti/launch", data={})
    assert bare.status_code == 400 and "Missing state param" in bare.get_data(as_text=True)
    garbage = client.post("/lti/launch", data={"state": "state-x", "id_token": "a.b.c"})
    assert garbage.status_code == 403


# --------------------------------------------------------------------------- grade passback


def _graded(app: Any, email: str, assignment: str, score: float, max_score: float, days_ago: float) -> None:
    from grader.models import Submission

    with app.extensions["grader"].db.session() as session:
        at = now() - timedelta(days=days_ago)
        session.add(Submission(user_id=user(app, email).id, assignment_id=assignment, status="graded",
                               attempts=1, created_at=at, finished_at=at, score=score, max_score=max_score))
        session.commit()


def test_counted_scores_reach_the_line_items_and_a_busy_lms_is_retried(app: Any, platform: Platform) -> None:
    from grader import lti
    from worker.tasks import lti_passback

    client = app.test_client()
    assert launch(client, platform, sub="s-alan", email="alan@example.edu", roles=[LEARNER]).status_code == 303
    assert launch(client, platform, sub="s-alan", email="alan@example.edu", roles=[LEARNER],
                  assignment="softmax").status_code == 303
    _graded(app, "alan@example.edu", "svm", 24.0, 35.0, days_ago=0.1)
    _graded(app, "alan@example.edu", "softmax", 30.0, 40.0, days_ago=1.5)  # 1.5 days late: 2 days, 20 % off
    alan = user(app, "alan@example.edu")

    state = app.extensions["grader"]
    before = len(platform.scores)
    result = lti.send_scores(state.db, state.settings, user_id=alan.id)
    assert result.sent == ["alan@example.edu softmax", "alan@example.edu svm"] and not result.retry
    sent = {s["path"]: s for s in platform.scores[before:] if s["userId"] == "s-alan"}
    svm, softmax = sent["/courses/231/lineitems/svm/lineitem/scores"], sent["/courses/231/lineitems/softmax/lineitem/scores"]
    assert (svm["scoreGiven"], svm["scoreMaximum"]) == (24.0, 35.0)
    assert (softmax["scoreGiven"], softmax["scoreMaximum"]) == (24.0, 40.0)  # the counted score: 30 * 0.8
    assert svm["activityProgress"] == "Completed" and svm["gradingProgress"] == "FullyGraded"
    assert svm["timestamp"].endswith("+00:00")
    assert platform.assertions and platform.assertions[-1]["aud"] == f"{platform.base}/token"
    assert audit_actions(app, "alan@example.edu svm")[-1] == "lti.passback"

    # The LMS answers 503 twice: the task retries (eagerly here) and the third try gets through.
    platform.down_for = 2
    before = len(platform.scores)
    outcome = lti_passback.apply(args=[alan.id])
    assert outcome.successful() and outcome.result.startswith("sent 2"), outcome.result
    assert platform.down_for == 0 and len(platform.scores) - before == 2

    # An LMS that cannot be reached at all: nothing raises, the scores are left to retry.
    from grader.models import LtiPlatform

    def token_url(url: str) -> str:
        with state.db.session() as session:
            row = session.scalar(select(LtiPlatform).where(LtiPlatform.issuer == ISS))
            row.auth_token_url, before = url, row.auth_token_url
            session.commit()
            return before

    saved = token_url(f"http://127.0.0.1:{free_port()}/token")
    try:
        unreachable = lti.send_scores(state.db, state.settings, user_id=alan.id)
    finally:
        token_url(saved)
    assert not unreachable.sent and len(unreachable.retry) == 2 and "ConnectionError" in unreachable.retry[0]

    # grader lti sync ASSIGNMENT pushes every linked student's counted score.
    from grader.cli import main

    instance = state.settings.instance_path
    env = {"GRADER_INSTANCE_PATH": str(instance), "GRADER_ASSIGNMENTS_DIR": str(state.settings.assignments_dir)}
    before = len(platform.scores)
    synced = CliRunner().invoke(main, ["lti", "sync", "svm"], env=env)
    assert synced.exit_code == 0, synced.output
    assert "svm: sent 1, refused 0, to retry 0" in synced.output
    assert [(s["userId"], s["scoreGiven"]) for s in platform.scores[before:]] == [("s-alan", 24.0)]
    platform.down_for = 100
    try:
        down = CliRunner().invoke(main, ["lti", "sync", "softmax"], env=env)
    finally:
        platform.down_for = 0
    assert down.exit_code == 1 and "to retry 1" in down.output and "503" in down.output
    everything = CliRunner().invoke(main, ["lti", "sync"], env=env)
    assert everything.exit_code == 0 and "all assignments: sent 2, refused 0" in everything.output


def test_the_cli_lists_platforms_and_prints_the_tool_info(app: Any) -> None:
    from grader.cli import main

    env = {"GRADER_INSTANCE_PATH": str(app.extensions["grader"].settings.instance_path)}
    info = CliRunner().invoke(main, ["lti", "tool-info", "--url", "https://grader.example.edu", "--json"], env=env)
    assert info.exit_code == 0, info.output
    data = json.loads(info.output)
    assert data["login_url"] == "https://grader.example.edu/lti/login"
    assert data["launch_url"] == "https://grader.example.edu/lti/launch"
    assert data["jwks_url"] == "https://grader.example.edu/lti/jwks"
    assert app.test_client().get("/lti/jwks").get_json()["keys"] == [data["public_jwk"]]
    no_url = CliRunner().invoke(main, ["lti", "tool-info"], env=env)
    assert no_url.exit_code == 2 and "GRADER_EXTERNAL_URL" in no_url.output
    listed = CliRunner().invoke(main, ["lti", "list"], env=env)
    assert listed.exit_code == 0 and f"{ISS}  client id {CLIENT_ID}  deployments {DEPLOYMENT}" in listed.output
    bad = CliRunner().invoke(main, ["lti", "add-platform", "--issuer", "lms", "--client-id", "c", "--deployment-id",
                                    "d", "--auth-login-url", "x", "--token-url", "y", "--jwks-url", "z"], env=env)
    assert bad.exit_code == 2 and "must be an http(s) URL" in bad.output
    unknown = CliRunner().invoke(main, ["lti", "sync", "knn"], env=env)
    assert unknown.exit_code == 2


# --------------------------------------------------------------------------- shared state on PostgreSQL


def test_launch_state_and_the_tool_key_are_shared_safely_on_postgresql(tmp_path: Path, fresh_postgres: str) -> None:
    """What several web machines share: a nonce is taken by exactly one of many simultaneous checks, state
    expires, and simultaneous first uses of the tool's key agree on one key."""
    from concurrent.futures import ThreadPoolExecutor

    from grader import lti
    from grader.db import Database
    from grader.models import LtiLaunchData, LtiToolKey

    application = make_app(tmp_path / "instance", DATABASE_URL=fresh_postgres)
    db = Database(fresh_postgres)  # a second process's own connections
    try:
        with ThreadPoolExecutor(2) as pool:
            kids = set(pool.map(lambda i: lti.tool_key(db if i % 2 else application.extensions["grader"].db).kid,
                                range(2)))
        with db.session() as session:
            first = session.scalar(select(LtiToolKey.kid).order_by(LtiToolKey.id).limit(1))
        assert kids == {first}

        web1, web2 = lti.DbLaunchDataStorage(application.extensions["grader"].db), lti.DbLaunchDataStorage(db)
        web1.set_value("lti1p3-nonce-abc", True, 600)
        web1.set_value("lti1p3-state-1", {"claims": {"sub": "x", "roles": ["a"]}}, 600)
        with db.session() as session:  # a login abandoned long ago
            session.add(LtiLaunchData(key="lti1p3-state-old", value="gone", expires_at=now() - timedelta(seconds=1)))
            session.commit()
        assert web2.get_value("lti1p3-state-1") == {"claims": {"sub": "x", "roles": ["a"]}}
        with ThreadPoolExecutor(8) as pool:
            taken = list(pool.map(lambda i: (web1 if i % 2 else web2).check_value("lti1p3-nonce-abc"), range(8)))
        assert taken.count(True) == 1
        assert web2.get_value("lti1p3-state-old") is None and not web2.check_value("lti1p3-state-old")
        assert web2.get_value("x" * 300) is None  # an over-long state from a request: not found, no error
    finally:
        db.engine.dispose()
        application.extensions["grader"].db.engine.dispose()


# --------------------------------------------------------------------------- end to end, with a real worker


def test_a_real_grading_reaches_the_lms_even_when_it_was_down(tmp_path: Path, app: Any, platform: Platform,
                                                             course: Path) -> None:
    """A real worker grades a real submission while the LMS answers 503: the report is stored at once, and
    the passback, retried, reaches the LMS with the counted score once it answers again. (The worker starts
    first and boots while the student launches and submits: nothing waits for its heartbeat.)"""
    from grader import auth

    instance = app.extensions["grader"].settings.instance_path
    worker = start_worker(tmp_path, "worker", beat=False, instance_path=instance, assignments_dir=course,
                          lti_retry_seconds=0.2, **FAST_RELIABILITY)
    try:
        client = app.test_client()
        assert launch(client, platform, sub="s-kate", email="kate@example.edu", roles=[LEARNER]).status_code == 303
        with app.extensions["grader"].db.session() as session:
            token, _ = auth.create_token(session, user(app, "kate@example.edu"), days=1)
            session.commit()
        platform.down_for = 2
        before = len(platform.scores)
        response = upload(client, {"Authorization": f"Bearer {token}"}, files=[("linear_svm.py", svm_file())])
        assert response.status_code == 202, response.get_data(as_text=True)
        graded = wait_for_status(app, response.get_json()["id"], timeout=90, process=worker)
        assert graded.status == "graded" and graded.score == graded.max_score == 35.0
        sent = wait_for(lambda: [s for s in platform.scores[before:] if s["userId"] == "s-kate"], 30,
                        "the score at the LMS")
        assert platform.down_for == 0 and platform.refused[-2:] == ["503 /token", "503 /token"]
        assert (sent[0]["scoreGiven"], sent[0]["scoreMaximum"]) == (35.0, 35.0)
        assert sent[0]["path"] == "/courses/231/lineitems/svm/lineitem/scores"
        assert "retry 1" in worker.output() and "retry 2" in worker.output()
        assert audit_actions(app, "kate@example.edu svm")[-1] == "lti.passback"
    finally:
        worker.stop()
