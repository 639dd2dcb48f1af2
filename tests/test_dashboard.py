"""The dashboard's pages through Flask's test client: logins, what each person may see, bad input, security.

Every page route is found from the app's URL map, so a new route is covered by
the authorization tests without being listed here. The browser tests
(tests/test_browser.py) drive the same pages in Chromium.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from service_fixtures import PASSWORD, People, make_app, make_course, now, svm_file

from grader import auth, submissions
from grader.dashboard.charts import heatmap_svg, histogram_svg
from grader.models import Submission

ROOT = Path(__file__).resolve().parent.parent
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PAGE_BLUEPRINTS = ("account", "student", "instructor")


# --------------------------------------------------------------------------- helpers


def csrf_token(client: Any, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(app: Any, name: str) -> Any:
    """A test client logged in to the pages as ``name@example.edu``."""
    client = app.test_client()
    response = client.post("/login", data={"email": f"{name}@example.edu", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return client


@lru_cache(maxsize=None)
def engine_report(source: bytes, seed: int = 5) -> dict[str, Any]:
    """The real engine's report for an SVM file (graded once per test run)."""
    from worker.engine import grade

    return grade("svm", {"linear_svm.py": source}, seed=seed)


def stored_submission(app: Any, name: str, source: bytes | None = None, *, report: dict[str, Any] | None = None,
                      graded: bool = True, at: Any = None) -> int:
    """A submission of ``name``'s, stored through the service layer and (by default) graded."""
    state = app.extensions["grader"]
    source = svm_file("bug_no_reg_grad") if source is None else source
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        sub = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", source)], None, now=at)
        sid = sub.id
        if graded:
            claim = submissions.claim(session, state.settings, sid, "test-worker")
            assert claim is not None
            assert submissions.finish(session, claim, report or dict(engine_report(source)))
    return sid


def page_routes(app: Any) -> list[Any]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] in PAGE_BLUEPRINTS]


def build_url(rule: Any, **values: Any) -> str:
    defaults = {"assignment_id": "svm", "filename": "linear_svm.py"}
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", str(values.get(name, defaults.get(name))), path)
    return path


@pytest.fixture
def alice_graded(app: Any, people: People) -> int:
    return stored_submission(app, "alice")


# --------------------------------------------------------------------------- logging in and out


def test_the_root_and_every_page_send_visitors_to_the_login_page(app, client, people, alice_graded):
    assert client.get("/").headers["Location"] == "/login"
    for rule in page_routes(app):
        if "GET" not in rule.methods or rule.endpoint in ("account.login", "student.home"):
            continue
        url = build_url(rule, submission_id=alice_graded)
        response = client.get(url)
        if url.endswith(".json"):
            assert response.status_code == 401 and response.json == {"error": "not logged in"}
        else:
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/login?next=")


def test_login_goes_to_the_requested_page_and_logout_ends_the_session(app, client, people):
    wrong = client.post("/login", data={"email": "alice@example.edu", "password": "nope nope",
                                        "csrf_token": csrf_token(client)})
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.get_data(as_text=True)
    response = client.post("/login", data={"email": "Alice@Example.edu", "password": PASSWORD,
                                           "next": "/submissions", "csrf_token": csrf_token(client)})
    assert response.status_code == 303 and response.headers["Location"] == "/submissions"
    cookie = response.headers["Set-Cookie"]
    assert "grader_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests run on plain http
    assert "My submissions" in client.get("/submissions").get_data(as_text=True)
    out = client.post("/logout", data={"csrf_token": csrf_token(client, "/assignments")})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert "You are logged out." in client.get("/login").get_data(as_text=True)
    assert client.get("/submissions").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "evil"])
def test_login_never_redirects_to_another_site(client, people, target):
    response = client.post("/login", data={"email": "alice@example.edu", "password": PASSWORD, "next": target,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 303 and response.headers["Location"] == "/assignments"


def test_instructors_land_on_the_gradebook(app, people):
    assert login(app, "prof").get("/").headers["Location"] == "/instructor/gradebook"


def test_a_password_change_ends_other_sessions(app, people):
    client = login(app, "alice")
    assert client.get("/assignments").status_code == 200
    with app.extensions["grader"].db.session() as session:
        auth.set_password(auth.find_user(session, "alice@example.edu"), "a brand new password")
        session.commit()
    assert client.get("/assignments").status_code == 302


def test_production_sets_secure_cookies(tmp_path):
    app = make_app(tmp_path / "instance", ENV="production", SECRET_KEY="k" * 40)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    People(app).add("alice")
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {"email": "alice@example.edu", "password": PASSWORD, "csrf_token": token}
    # Over HTTPS the form must also come from this site (Referer), as browsers send it.
    assert client.post("/login", data=data, base_url="https://localhost").status_code == 400
    response = client.post("/login", data=data, base_url="https://localhost",
                           headers={"Referer": "https://localhost/login"})
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]


def test_login_is_rate_limited_per_address(tmp_path):
    app = make_app(tmp_path / "instance", LOGIN_RATE_LIMIT="3/minute")
    People(app).add("alice")
    client = app.test_client()
    for _ in range(3):
        assert client.post("/login", data={"email": "alice@example.edu", "password": "wrong password",
                                           "csrf_token": csrf_token(client)}).status_code == 401
    # The fourth attempt is refused before the password is even checked, right or wrong.
    limited = client.post("/login", data={"email": "alice@example.edu", "password": PASSWORD,
                                          "csrf_token": csrf_token(client)})
    assert limited.status_code == 429 and limited.mimetype == "text/html"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    html = limited.get_data(as_text=True)
    assert "Too many login attempts" in html and "Traceback" not in html
    other = app.test_client()  # another address is not affected
    ok = other.post("/login", data={"email": "alice@example.edu", "password": PASSWORD,
                                    "csrf_token": csrf_token(other)}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert ok.status_code == 303


def test_an_account_locked_after_failed_logins_gets_a_429_page(tmp_path):
    app = make_app(tmp_path / "instance", LOGIN_MAX_FAILURES=2)
    People(app).add("alice")
    client = app.test_client()
    for _ in range(2):
        client.post("/login", data={"email": "alice@example.edu", "password": "wrong password",
                                    "csrf_token": csrf_token(client)})
    locked = client.post("/login", data={"email": "alice@example.edu", "password": PASSWORD,
                                         "csrf_token": csrf_token(client)})
    assert locked.status_code == 429 and "Too many failed logins for this account" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 0


# --------------------------------------------------------------------------- CSRF


def test_every_form_refuses_a_post_without_its_csrf_token(app, people, alice_graded):
    prof = login(app, "prof")
    alice = login(app, "alice")
    posts = [rule for rule in page_routes(app) if "POST" in rule.methods]
    assert {r.endpoint for r in posts} >= {"account.login", "account.logout", "student.submit",
                                          "instructor.regrade_submission", "instructor.regrade_assignment"}
    for rule in posts:
        url = build_url(rule, submission_id=alice_graded)
        for client in (alice, prof, app.test_client()):
            for token in (None, "forged"):
                data = {"email": "alice@example.edu", "password": PASSWORD,
                        "file": (io.BytesIO(svm_file()), "linear_svm.py")}
                if token:
                    data["csrf_token"] = token
                response = client.post(url, data=data, content_type="multipart/form-data")
                assert response.status_code == 400, (url, response.status_code)
                html = response.get_data(as_text=True)
                assert "Form expired" in html and "not sent from a page of this site" in html
    with app.extensions["grader"].db.session() as session:
        assert session.query(Submission).count() == 1  # nothing was submitted or regraded
        assert session.get(Submission, alice_graded).status == "graded"
    assert alice.get("/assignments").status_code == 200  # and nobody was logged out


def test_the_json_api_needs_no_csrf_token(client, people):
    response = client.post("/api/v1/assignments/svm/submissions", headers=people.headers("alice"),
                           data={"file": (io.BytesIO(svm_file()), "linear_svm.py")},
                           content_type="multipart/form-data")
    assert response.status_code == 202


# --------------------------------------------------------------------------- who may see what


def test_another_students_submission_is_not_found_on_every_route(app, people, alice_graded):
    bob = login(app, "bob")
    token = csrf_token(bob, "/assignments")
    routes = [r for r in page_routes(app) if "submission_id" in r.arguments]
    assert {r.endpoint for r in routes} >= {"student.submission", "student.submission_status",
                                           "student.submission_file", "instructor.regrade_submission"}
    marker = "num_train = X.shape[0]"  # a line of alice's code
    for rule in routes:
        for sid in (alice_graded, 999999):
            url = build_url(rule, submission_id=sid)
            if "GET" in rule.methods:
                response = bob.get(url)
            else:
                response = bob.post(url, data={"csrf_token": token})
            expected = 403 if rule.endpoint.startswith("instructor.") else 404
            assert response.status_code == expected, (url, response.status_code)
            assert marker not in response.get_data(as_text=True)
            assert "alice" not in response.get_data(as_text=True)
    alice = login(app, "alice")
    assert alice.get(f"/submissions/{alice_graded}").status_code == 200
    assert alice.get(f"/submissions/{alice_graded}/files/linear_svm.py").data == svm_file("bug_no_reg_grad")
    assert alice.get(f"/submissions/{alice_graded}/files/other.py").status_code == 404
    with app.extensions["grader"].db.session() as session:
        assert session.get(Submission, alice_graded).status == "graded"  # bob's POSTs regraded nothing


def test_a_student_sees_only_their_own_submissions_in_lists(app, people, alice_graded):
    stored_submission(app, "bob", svm_file("correct_loops"))
    bob = login(app, "bob")
    for url in ("/submissions", "/assignments", "/assignments/svm"):
        html = bob.get(url).get_data(as_text=True)
        assert f"#{alice_graded}<" not in html and f"/submissions/{alice_graded}\"" not in html


def test_instructor_pages_refuse_students(app, people, alice_graded):
    alice = login(app, "alice")
    token = csrf_token(alice, "/assignments")
    for rule in page_routes(app):
        if not rule.endpoint.startswith("instructor."):
            continue
        url = build_url(rule, submission_id=alice_graded)
        if "GET" in rule.methods:
            response = alice.get(url + ("?since=2020-01-01T00:00:00%2B00:00&upto=1&total=1"
                                        if "regrade" in rule.endpoint else ""))
        else:
            response = alice.post(url, data={"csrf_token": token})
        assert response.status_code == 403, url
        # Instructor-only pages, and pages for course staff (tests/test_staff_roles.py says which is which).
        assert re.search(r"This page is for (instructors\.|course staff \(instructors and TAs\)\.)",
                         response.get_data(as_text=True)), url


def test_students_never_see_hidden_tests_in_the_html(app, people, alice_graded):
    report = engine_report(svm_file("bug_no_reg_grad"))
    hidden = [t for t in report["tests"] if t["visibility"] == "hidden"]
    assert hidden and hidden[0]["status"] == "failed" and hidden[0]["details"]["error_map"]
    alice = login(app, "alice")
    html = alice.get(f"/submissions/{alice_graded}").get_data(as_text=True)
    secret = hidden[0]["output"].splitlines()[0]  # "svm_loss_vectorized dW (N=500, D=3073, C=10): ..."
    assert "N=500, D=3073" in secret and "N=500, D=3073" not in html
    assert hidden[0]["name"] in html  # the hidden test is listed, without its result
    assert "Hidden test: it counts toward your grade" in html
    shown_max = report["max_score"] - hidden[0]["max_score"]
    passed_hidden = sum(t["score"] for t in hidden)
    assert f"{report['score'] - passed_hidden:g} / {shown_max:g}" in html
    assert f"/ {report['max_score']:g}" not in html
    assert html.count('class="heatmap"') == sum(1 for t in report["tests"] if t["visibility"] != "hidden"
                                               and "error_map" in t["details"])
    status = alice.get(f"/submissions/{alice_graded}/status.json").json
    assert status["max_score"] == shown_max
    prof_html = login(app, "prof").get(f"/submissions/{alice_graded}").get_data(as_text=True)
    assert "N=500, D=3073" in prof_html and f"/ {report['max_score']:g}" in prof_html


# --------------------------------------------------------------------------- escaping


MARKUP_SVM = (b"print('" + XSS.encode() + b"')\nprint('<img src=x onerror=alert(2)>')\n" + svm_file("correct_loops"))


def test_markup_in_student_output_code_and_filenames_is_escaped(app, people):
    alice = login(app, "alice")
    token = csrf_token(alice, "/assignments/svm")
    response = alice.post("/assignments/svm/submissions", content_type="multipart/form-data",
                          data={"csrf_token": token,
                                "file": (io.BytesIO(MARKUP_SVM), "<img src=x onerror=alert(3)>.py")})
    assert response.status_code == 303
    sid = int(response.headers["Location"].rsplit("/", 1)[1])
    page = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your file &lt;img src=x onerror=alert(3)&gt;.py was submitted as linear_svm.py." in page
    state = app.extensions["grader"]
    with state.db.session() as session:
        claim = submissions.claim(session, state.settings, sid, "test-worker")
        report = engine_report(MARKUP_SVM)
        assert XSS in report["student_output"]
        submissions.finish(session, claim, dict(report))
    for client in (alice, login(app, "prof")):
        html = client.get(f"/submissions/{sid}").get_data(as_text=True)
        assert XSS not in html and "<img src=x" not in html and "onerror=alert(3)>" not in html
        assert XSS_ESCAPED in html  # in the code view, and in what the code printed for the instructor
    prof_html = login(app, "prof").get(f"/submissions/{sid}").get_data(as_text=True)
    assert "What your code printed" in prof_html and prof_html.count(XSS_ESCAPED) >= 2

    # Two files for a one-file assignment: the error names the file, escaped.
    token = csrf_token(alice, "/assignments/svm")
    response = alice.post("/assignments/svm/submissions", content_type="multipart/form-data", data={
        "csrf_token": token, "file": [(io.BytesIO(svm_file()), "linear_svm.py"),
                                      (io.BytesIO(b"x = 1\n"), f"{XSS}.py")]})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert XSS not in html and f"{XSS_ESCAPED}.py" in html and 'role="alert"' in html


def test_markup_in_report_messages_is_escaped(app, people):
    """Test names, messages, hints, axis names and errors come from assignment folders and the engine;
    they are escaped all the same."""
    report = {"assignment": "svm", "score": 0.0, "max_score": 1.0, "status": "graded", "seed": 1,
              "grader_version": "x", "output": XSS, "student_output": XSS, "tests": [{
                  "id": "t", "name": XSS, "score": 0.0, "max_score": 1.0, "status": "failed",
                  "visibility": "visible", "output": f"{XSS}\nHint: {XSS}",
                  "details": {"hint": XSS, "error": 1.0, "tolerance": 1e-7, "param": XSS, "axis_names": [XSS, XSS],
                              "worst": [{"index": [0, 1], "student": XSS, "expected": 1.0, "rel_error": 1.0}],
                              "error_map": {"values": [[0.5, 0.1], [0.0, 1.0]], "rows_per_cell": 1,
                                            "cols_per_cell": 1, "shape": [2, 2]},
                              "column_max_error": [XSS], XSS: XSS}}]}
    sid = stored_submission(app, "alice", report=report)
    errored = stored_submission(app, "alice", report={"assignment": "svm", "score": 0.0, "max_score": 0.0,
                                                      "status": "error", "error_kind": "submission",
                                                      "output": XSS, "error": XSS, "tests": []})
    for who in ("alice", "prof"):
        client = login(app, who)
        for url in (f"/submissions/{sid}", f"/submissions/{errored}", "/instructor/assignments/svm/stats"):
            response = client.get(url)
            if who == "alice" and url.startswith("/instructor"):
                continue
            html = response.get_data(as_text=True)
            assert response.status_code == 200 and XSS not in html, url
        assert XSS_ESCAPED in client.get(f"/submissions/{sid}").get_data(as_text=True)


# --------------------------------------------------------------------------- uploading


def test_the_upload_form_stores_the_file_and_shows_the_live_status(app, people):
    alice = login(app, "alice")
    page = alice.get("/assignments/svm").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and '<label for="file">' in page
    response = alice.post("/assignments/svm/submissions", content_type="multipart/form-data",
                          data={"csrf_token": csrf_token(alice, "/assignments/svm"),
                                "file": (io.BytesIO(svm_file()), "my_svm.py")})
    assert response.status_code == 303
    sid = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.extensions["grader"].db.session() as session:
        sub = session.get(Submission, sid)
        assert sub.status == "queued" and [f.filename for f in sub.files] == ["linear_svm.py"]
        assert sub.files[0].content == svm_file()
    html = alice.get(f"/submissions/{sid}").get_data(as_text=True)
    assert f"Submission #{sid} received: linear_svm.py. Your file my_svm.py was submitted as linear_svm.py." in html
    assert 'id="live"' in html and "No grading worker is running right now" in html
    status = alice.get(f"/submissions/{sid}/status.json").json
    assert status["status"] == "queued" and status["final"] is False and status["worker_alive"] is False

    state = app.extensions["grader"]
    with state.db.session() as session:
        submissions.beat(session, "celery@test", 1, 2, "0.1.0")
    status = alice.get(f"/submissions/{sid}/status.json").json
    assert status["worker_alive"] is True and status["message"].startswith("Queued: next in line")
    with state.db.session() as session:
        claim = submissions.claim(session, state.settings, sid, "celery@test")
    assert alice.get(f"/submissions/{sid}/status.json").json["message"].startswith("Grading now")
    with state.db.session() as session:
        submissions.finish(session, claim, dict(engine_report(svm_file())))
    status = alice.get(f"/submissions/{sid}/status.json").json
    assert status["final"] is True and status["status"] == "graded" and status["score"] == status["max_score"]
    html = alice.get(f"/submissions/{sid}").get_data(as_text=True)
    assert 'id="live"' not in html and "Jump to a failed test" not in html


@pytest.mark.parametrize("files, status, message", [
    ([], 400, "Choose your linear_svm.py to upload."),
    ([(b"\x00\x01binary", "linear_svm.py")], 400, "linear_svm.py is a binary file"),
    ([(b"print 'hello'\n", "linear_svm.py")], 400, "This looks like Python 2 code"),
    ([(b"x" * (512 * 1024 + 1), "linear_svm.py")], 413, "a submitted file may be at most 512 KiB"),
])
def test_a_bad_upload_is_explained_on_the_form(app, people, files, status, message):
    alice = login(app, "alice")
    data: dict[str, Any] = {"csrf_token": csrf_token(alice, "/assignments/svm")}
    data["file"] = [(io.BytesIO(content), name) for content, name in files] or (io.BytesIO(b""), "")
    response = alice.post("/assignments/svm/submissions", data=data, content_type="multipart/form-data")
    assert response.status_code == status and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert message in html and 'role="alert"' in html and "Traceback" not in html
    with app.extensions["grader"].db.session() as session:
        assert session.query(Submission).count() == 0


def test_an_oversized_request_gets_a_friendly_413_page(tmp_path):
    app = make_app(tmp_path / "instance", MAX_REQUEST_BYTES=200_000)
    people = People(app)
    people.add("alice")
    alice = login(app, "alice")
    response = alice.post("/assignments/svm/submissions", content_type="multipart/form-data",
                          data={"csrf_token": csrf_token(alice, "/assignments/svm"),
                                "file": (io.BytesIO(b"#" * 300_000), "linear_svm.py")})
    assert response.status_code == 413 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "File too large" in html and "each file may be at most 512 KiB" in html and "at most 195 KiB" in html
    assert "Traceback" not in html and "RequestEntityTooLarge" not in html
    api = app.test_client().post("/api/v1/assignments/svm/submissions", data=b"x" * 300_000,
                                 content_type="multipart/form-data; boundary=x", headers=people.headers("alice"))
    assert api.status_code == 413 and "error" in api.json  # the API keeps its JSON errors


def test_the_submission_policy_is_explained_on_the_form(tmp_path):
    course = make_course(tmp_path / "course", "max_submissions_per_hour = 1")
    app = make_app(tmp_path / "instance", ASSIGNMENTS_DIR=str(course))
    People(app).add("alice")
    alice = login(app, "alice")

    def send() -> Any:
        return alice.post("/assignments/svm/submissions", content_type="multipart/form-data",
                          data={"csrf_token": csrf_token(alice, "/assignments/svm"),
                                "file": (io.BytesIO(svm_file()), "linear_svm.py")})

    assert send().status_code == 303
    limited = send()
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "at most 1 submissions of svm per hour" in limited.get_data(as_text=True)


def test_the_starter_file_downloads(app, people):
    alice = login(app, "alice")
    response = alice.get("/assignments/svm/starter/linear_svm.py")
    assert response.status_code == 200
    assert response.data == (ROOT / "assignments" / "svm" / "starter" / "linear_svm.py").read_bytes()
    assert "attachment" in response.headers["Content-Disposition"]
    for bad in ("../assignment.toml", "..%2Freference.py", "reference.py", "nope.py"):
        assert alice.get(f"/assignments/svm/starter/{bad}").status_code == 404
    assert alice.get("/assignments/nope/starter/linear_svm.py").status_code == 404
    listing = alice.get("/assignments").get_data(as_text=True)
    for aid, name in (("svm", "linear_svm.py"), ("softmax", "softmax.py"), ("two_layer_net", "neural_net.py")):
        assert f'href="/assignments/{aid}/starter/{name}"' in listing


# --------------------------------------------------------------------------- the queue banner


def test_the_banner_says_when_no_worker_runs_and_when_the_queue_is_long(app, people):
    alice = login(app, "alice")
    assert "No grading worker is running." in alice.get("/assignments").get_data(as_text=True)
    state = app.extensions["grader"]
    with state.db.session() as session:
        submissions.beat(session, "celery@test", 1, 1, "0.1.0")
    assert 'id="queue-banner"' not in alice.get("/assignments").get_data(as_text=True)
    for _ in range(12):  # 12 waiting for one grader at the assumed 15 s each: about 3 minutes
        stored_submission(app, "prof", graded=False)  # instructors have no submission limit
    html = alice.get("/assignments").get_data(as_text=True)
    assert "The grading queue is long:" in html and "12 submissions are waiting for 1 grader" in html
    assert "within about 3 minutes" in html


# --------------------------------------------------------------------------- instructors


def test_the_gradebook_applies_the_policy_sorts_and_exports(tmp_path):
    deadline = now() - timedelta(days=3)
    course = make_course(tmp_path / "course", f'deadline = {deadline.isoformat()}\nlate_penalty_per_day = 0.25\n'
                                              'max_submissions_per_hour = 0')
    app = make_app(tmp_path / "instance", ASSIGNMENTS_DIR=str(course))
    people = People(app)
    for name in ("alice", "bob", "carol"):
        people.add(name)
    people.add("prof", role="instructor")
    alice_on_time = stored_submission(app, "alice", svm_file("correct_loops"), at=deadline - timedelta(hours=1))
    bob_late = stored_submission(app, "bob", svm_file("correct_loops"), at=deadline + timedelta(hours=30))
    prof = login(app, "prof")
    html = prof.get("/instructor/gradebook").get_data(as_text=True)
    assert "−25% per day late" in html and "2 d late (raw 35)" in html
    assert f'href="/submissions/{bob_late}"' in html

    def order(url: str) -> list[str]:
        page = prof.get(url).get_data(as_text=True)
        return [re.sub(r"<[^>]+>", "", cell)  # the e-mail's domain is in a span (it wraps before the @ on phones)
                for cell in re.findall(r'<th scope="row" class="sticky">(.*?)</th>', page)]

    assert order("/instructor/gradebook") == ["alice@example.edu", "bob@example.edu", "carol@example.edu"]
    assert order("/instructor/gradebook?sort=svm&dir=desc") == ["alice@example.edu", "bob@example.edu",
                                                                "carol@example.edu"]
    assert order("/instructor/gradebook?sort=svm&dir=asc") == ["carol@example.edu", "bob@example.edu",
                                                               "alice@example.edu"]
    assert order("/instructor/gradebook?sort=email&dir=desc")[0] == "carol@example.edu"
    sorted_page = prof.get("/instructor/gradebook?sort=total&dir=desc").get_data(as_text=True)
    assert 'aria-sort="descending"' in sorted_page
    csv = prof.get("/instructor/gradebook.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert "attachment; filename=gradebook-" in csv.headers["Content-Disposition"]
    # Worked out by hand from the policy: alice on time keeps 35; bob 30 h late is 2 started days late,
    # 35 * (1 - 2 * 0.25) = 17.5; carol has nothing; the instructor is not a row.
    assert csv.get_data(as_text=True) == (
        "email,name,svm,total,svm_submission,svm_late_days\n"
        f"alice@example.edu,Alice,35,35,{alice_on_time},0\n"
        f"bob@example.edu,Bob,17.5,17.5,{bob_late},2\n"
        "carol@example.edu,Carol,,0,,\n")


def test_regrades_of_one_submission_and_a_whole_assignment_with_progress(app, people, alice_graded):
    bob_sid = stored_submission(app, "bob", svm_file("correct_loops"))
    prof = login(app, "prof")
    token = csrf_token(prof, f"/submissions/{alice_graded}")
    response = prof.post(f"/instructor/submissions/{alice_graded}/regrade", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == f"/submissions/{alice_graded}"
    html = prof.get(f"/submissions/{alice_graded}").get_data(as_text=True)
    assert f"Submission #{alice_graded} is queued for regrading" in html and "Previous report" in html
    state = app.extensions["grader"]
    with state.db.session() as session:
        claim = submissions.claim(session, state.settings, alice_graded, "w")
    running = prof.post(f"/instructor/submissions/{alice_graded}/regrade", data={"csrf_token": token})
    assert "is running; it can be regraded once it is done" in prof.get(running.headers["Location"]).get_data(
        as_text=True)
    with state.db.session() as session:
        submissions.finish(session, claim, dict(engine_report(svm_file("bug_no_reg_grad"))))

    started = prof.post("/instructor/assignments/svm/regrade", data={"csrf_token": token})
    assert started.status_code == 303
    progress_url = started.headers["Location"]
    assert progress_url.startswith("/instructor/assignments/svm/regrade?since=")
    page = prof.get(progress_url).get_data(as_text=True)
    assert "0</span> of <span data-total>2</span> submissions regraded" in page and "<progress" in page
    json_url = progress_url.replace("/regrade?", "/regrade.json?")
    assert prof.get(json_url).json == {"total": 2, "done": 0, "pending": 2, "finished": False}
    with state.db.session() as session:
        for sid, name in ((alice_graded, "bug_no_reg_grad"), (bob_sid, "correct_loops")):
            claim = submissions.claim(session, state.settings, sid, "w")
            submissions.finish(session, claim, dict(engine_report(svm_file(name))))
            if sid == alice_graded:
                assert prof.get(json_url).json["done"] == 1
    assert prof.get(json_url).json == {"total": 2, "done": 2, "pending": 0, "finished": True}
    with state.db.session() as session:
        assert len(session.get(Submission, alice_graded).reports) == 3  # every report is kept
    many = prof.get(f"/submissions/{alice_graded}").get_data(as_text=True)
    assert many.count(f'href="/submissions/{alice_graded}?report=') == 3
    assert prof.get(json_url.replace("since=", "since=bad")).status_code == 400


def test_statistics_show_the_histogram_failing_tests_and_hints(app, people):
    stored_submission(app, "alice", svm_file("bug_no_reg_grad"))
    stored_submission(app, "bob", svm_file("correct_loops"))
    html = login(app, "prof").get("/instructor/assignments/svm/stats").get_data(as_text=True)
    assert 'role="img"' in html and "Counted scores on Multiclass SVM" in html
    assert "svm_loss_naive: gradient matches reference with regularisation" in html
    assert "dW is missing the regularisation gradient 2*reg*W" in html
    assert re.search(r"<dt>With a counted submission</dt><dd>2</dd>", html)


def test_instructors_see_every_submission_with_filters(app, people, alice_graded):
    bob_sid = stored_submission(app, "bob", svm_file("correct_loops"), graded=False)
    prof = login(app, "prof")
    everything = prof.get("/instructor/submissions").get_data(as_text=True)
    assert f"#{alice_graded}<" in everything and f"#{bob_sid}<" in everything
    queued = prof.get("/instructor/submissions?status=queued&student=bob").get_data(as_text=True)
    assert f"#{bob_sid}<" in queued and f"#{alice_graded}<" not in queued
    page = prof.get(f"/submissions/{alice_graded}").get_data(as_text=True)
    assert "alice@example.edu" in page and "Regrade this submission" in page and "Submitted code" in page


# --------------------------------------------------------------------------- pages and pictures


def test_pages_send_security_headers_and_no_inline_script(app, people, alice_graded):
    alice = login(app, "alice")
    for url in ("/login", "/assignments", "/assignments/svm", f"/submissions/{alice_graded}"):
        response = alice.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        html = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url  # every script is a file
        assert " style=" not in html and " onclick=" not in html


def test_the_report_shows_errors_tolerances_tables_and_the_gradient_heatmap(app, people, alice_graded):
    html = login(app, "alice").get(f"/submissions/{alice_graded}").get_data(as_text=True)
    assert "Relative error" in html and ", tolerance</span>" in html and "1e-7" in html
    assert "Worst entries of <code>dW</code>" in html
    assert "<th scope=\"col\" class=\"axis\">feature row</th><th scope=\"col\" class=\"axis\">class column</th>" in html
    assert 'class="heatmap" role="img"' in html and "Absolute error of each entry of dW" in html
    assert "dW is missing the regularisation gradient 2*reg*W" in html
    assert "Submitted code" in html and re.search(r'<span class="line" id="code-linear_svm-py-L\d+">'
                                                  r'def svm_loss_naive\(W, X, y, reg\):</span>', html)


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def test_heatmap_svg_is_valid_labelled_and_small():
    values = [[(r * 64 + c) * 1e-6 for c in range(64)] for r in range(64)]
    svg = heatmap_svg({"values": values, "rows_per_cell": 49, "cols_per_cell": 1, "shape": [3073, 64]},
                      axis_names=["feature row", "class column"], param="dW", worst=[3072, 5], uid="h")
    assert svg is not None and len(svg) < 40_000
    root = _svg(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img" and root.get("aria-labelledby") == "h-title h-desc"
    assert root.find(f"{ns}title").text == "Absolute error of each entry of dW"
    desc = root.find(f"{ns}desc").text
    assert "3073 x 64" in desc and "each cell the largest of 49 x 1 entries" in desc and "log scale" in desc
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "feature row" in texts and "class column" in texts
    assert ["absolute", "error", "log scale"] == [t for t in texts if t in ("absolute", "error", "log scale")]
    assert "3000" in texts  # row ticks are original indices, not cells
    image = root.find(f"{ns}image").get("href")
    assert image.startswith("data:image/png;base64,")
    worst = [r for r in root.iter(f"{ns}rect") if r.get("stroke") == "#0b57d0"]
    assert len(worst) == 1 and "feature row 3072, class column 5" in worst[0].find(f"{ns}title").text


def test_heatmap_svg_handles_a_bias_infinities_and_bad_input():
    svg = heatmap_svg({"values": [[0.0, 1e-9, "inf", 1.7976931348623157e308]], "rows_per_cell": 1,
                       "cols_per_cell": 1, "shape": [1, 4]}, axis_names=["class"], param="b2", worst=[2])
    root = _svg(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "class" in texts and "inf / nan" in texts
    assert "2 cells are not finite" in root.find("{http://www.w3.org/2000/svg}desc").text
    assert heatmap_svg({"values": []}) is None and heatmap_svg({"nope": 1}) is None
    assert heatmap_svg({"values": [[1, 2], [3]]}) is None


def test_histogram_svg_counts_every_band():
    counts = [0, 1, 2, 0, 5, 0, 0, 3, 0, 7]
    labels = [f"{k * 10}–{k * 10 + 10}" for k in range(10)]
    root = _svg(histogram_svg(counts, labels, title="t", description="d"))
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    # One bar per band, left to right, each titled with its own band and count.
    assert [b.find(f"{ns}title").text for b in bars] == [
        "0–10: 0", "10–20: 1", "20–30: 2", "30–40: 0", "40–50: 5", "50–60: 0", "60–70: 0", "70–80: 3",
        "80–90: 0", "90–100: 7"]
    xs = [float(b.get("x")) for b in bars]
    assert xs == sorted(xs) and len(set(xs)) == 10
    # Heights are proportional to the counts, the tallest (7) filling the plot; empty bands have no height;
    # every bar stands on the same baseline.
    heights = [float(b.get("height")) for b in bars]
    tallest = max(heights)
    assert tallest > 0
    for height, count in zip(heights, counts):
        assert height == pytest.approx(tallest * count / 7, abs=0.1)
    assert {round(float(b.get("y")) + float(b.get("height")), 1) for b in bars} == {
        round(float(bars[-1].get("y")) + tallest, 1)}
    # The count is written above each non-empty bar, and each band's label under it.
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert [t for t in texts if t and t.isdigit()] == ["1", "2", "5", "3", "7"]
    assert [t for t in texts if t in labels] == labels


def test_the_statistics_histogram_puts_each_score_in_its_band(tmp_path):
    """Scores chosen at the band edges, binned by hand: 35 points, bands of 10 % = 3.5 points."""
    app = make_app(tmp_path / "instance")
    people = People(app)
    # score -> band: below the first edge, exactly on an edge, just under the next, a full score (top band).
    scores = {"s0": 0.0, "s1": 3.49, "s2": 3.5, "s3": 17.5, "s4": 34.99, "s5": 35.0, "s6": 20.9}
    expected = [2, 1, 0, 0, 0, 2, 0, 0, 0, 2]  # 0 and 3.49 | 3.5 | 17.5 and 20.9 (59.7 %) | 34.99 and 35
    for name, score in scores.items():
        people.add(name)
        stored_submission(app, name, svm_file("correct_loops"), report=_scored_report(score))
    people.add("nobody")  # no submission: not in the histogram
    people.add("prof", role="instructor")
    html = login(app, "prof").get("/instructor/assignments/svm/stats").get_data(as_text=True)
    chart = _svg(re.search(r'<svg[^>]*class="chart".*?</svg>', html, re.S).group(0))
    ns = "{http://www.w3.org/2000/svg}"
    titles = [r.find(f"{ns}title").text for r in chart.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert [int(t.rsplit(": ", 1)[1]) for t in titles] == expected
    assert sum(expected) == len(scores)
    assert re.search(r"<dt>With a counted submission</dt><dd>7</dd>", html)


def _scored_report(score: float) -> dict[str, Any]:
    report = dict(engine_report(svm_file("correct_loops")))
    report["score"] = score
    return report


def test_queue_waits_come_from_the_workers_and_recent_gradings(app, people):
    from grader.dashboard import queries

    state = app.extensions["grader"]
    with state.db.session() as session:
        info = queries.queue_info(session, state.settings)
        assert not info.worker_alive and info.expected_wait is None
        submissions.beat(session, "a", 1, 2, "x")
        submissions.beat(session, "b", 2, 2, "x")
        info = queries.queue_info(session, state.settings)
        assert info.capacity == 4 and info.average_seconds == queries.DEFAULT_GRADING_SECONDS
        assert info.wait_for(0) == 15 and info.wait_for(3) == 15 and info.wait_for(4) == 30
