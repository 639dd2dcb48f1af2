"""The ta role: course staff who see and regrade everything, but manage no users and change no policy.

Every page under /instructor and every /api route must be decided here, as a staff route (instructors and
TAs) or an instructor-only one (or, for the API, a route any logged-in user may use on their own things):
a route added later without a decision fails :func:`test_every_route_has_an_access_decision`. The other
tests then check each decision against the running app: a TA gets the page (200, or the form's redirect)
or a 403; a student gets a 403.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from service_fixtures import People, iso, make_app, make_course, now, svm_file
from test_dashboard import build_url, csrf_token, login

from grader import auth, submissions
from grader.models import AuditEntry, Submission

# --------------------------------------------------------------------------- the decisions

#: Pages instructors and TAs may use: the gradebook, every submission, statistics, regrades.
STAFF_PAGES = {
    "instructor.index", "instructor.gradebook", "instructor.gradebook_csv", "instructor.all_submissions",
    "instructor.regrade_submission", "instructor.regrade_assignment", "instructor.regrade_progress",
    "instructor.regrade_progress_json", "instructor.stats",
    "extensions.index", "extensions.gradebook_canvas",  # seeing the extensions and the Canvas CSV, not changing
}
#: Pages for instructors only: users, roles, access, the roster and sign-in links, the audit log,
#: similarity (an instructor's call, issue 11), extensions and the late-day budget (policies).
INSTRUCTOR_PAGES = {
    "instructor.users", "instructor.user_access", "instructor.user_role", "audit.audit_log",
    "roster.page", "roster.upload", "roster.make_link",
    "similarity.index", "similarity.ranking", "similarity.ranking_json", "similarity.compare",
    "extensions.add", "extensions.remove", "extensions.late_days",
}
#: API routes for course staff.
STAFF_API = {"api.regrade_submission", "api.regrade_assignment", "api.get_gradebook"}
#: API routes for instructors only (none yet: users and policies are managed on the pages and the CLI).
INSTRUCTOR_API: set[str] = set()
#: API routes every logged-in user (or anyone, for a token) uses on their own things; staff see more in some
#: (every submission, the workers), checked below.
OWN_API = {
    "api.create_token", "api.list_tokens", "api.revoke_current_token", "api.revoke_token_by_id",
    "api.change_password", "api.me", "api.status", "api.list_assignments", "api.get_assignment",
    "api.get_assignment_kit", "api.create_submission", "api.create_archive_submission", "api.list_submissions",
    "api.get_submission",
}

SECRET = "hidden check output: N=500, D=3073 differs at dW[17, 3]"


def _report(score: float = 1.0) -> dict[str, Any]:
    """A report in the engine's format with one visible and one hidden test (no grading needed here)."""
    return {"status": "graded", "score": score, "max_score": 2.0, "seed": 7, "grader_version": "test",
            "output": "1 of 2 tests passed", "execution_time": 0.5,
            "tests": [{"id": "visible_check", "name": "Visible check", "score": 1.0, "max_score": 1.0,
                       "status": "passed", "visibility": "visible", "output": "ok", "details": {}},
                      {"id": "hidden_check", "name": "Hidden check", "score": score - 1.0, "max_score": 1.0,
                       "status": "failed" if score < 2 else "passed", "visibility": "hidden", "output": SECRET,
                       "details": {}}]}


def graded(app: Any, name: str, *, at: Any = None) -> int:
    """A graded submission of ``name``'s (stored through the service layer; the report is :func:`_report`)."""
    state = app.extensions["grader"]
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        sub = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", svm_file())], None,
                                 now=at or now() - timedelta(days=3))
        claim = submissions.claim(session, state.settings, sub.id, "test-worker")
        assert claim is not None and submissions.finish(session, claim, _report())
        return sub.id


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, People]]:
    """One app for the module: svm closed (its hard deadline passed an hour ago), alice and bob (students),
    tara (a TA), prof (an instructor)."""
    tmp = tmp_path_factory.mktemp("staff")
    t = now()
    folder = make_course(tmp / "course", f"deadline = {iso(t - timedelta(days=2))}\n"
                                         f"hard_deadline = {iso(t - timedelta(hours=1))}")
    app = make_app(tmp / "instance", ASSIGNMENTS_DIR=str(folder))
    people = People(app)
    for name, role in (("alice", "student"), ("bob", "student"), ("tara", "ta"), ("prof", "instructor")):
        people.add(name, role)
    yield app, people
    app.extensions["grader"].db.engine.dispose()


@pytest.fixture(scope="module")
def clients(course: tuple[Any, People]) -> dict[str, Any]:
    app, _ = course
    return {name: login(app, name) for name in ("alice", "tara", "prof")}


def _url(rule: Any, sid: int) -> str:
    url = build_url(rule, submission_id=sid, other="1")
    if rule.endpoint in ("instructor.regrade_progress", "instructor.regrade_progress_json"):
        url += f"?since=2020-01-01T00:00:00%2B00:00&upto={sid}&total=1"
    return url


def _rules(app: Any, endpoints: set[str]) -> list[Any]:
    rules = [r for r in app.url_map.iter_rules() if r.endpoint in endpoints]
    assert {r.endpoint for r in rules} == endpoints, "a listed route is gone: update the lists"
    return rules


def _audited(app: Any, action: str) -> list[AuditEntry]:
    with app.extensions["grader"].db.session() as session:
        return list(session.query(AuditEntry).filter_by(action=action).order_by(AuditEntry.id))


# --------------------------------------------------------------------------- every route is decided


def test_every_route_has_an_access_decision(course):
    app, _ = course
    pages = STAFF_PAGES | INSTRUCTOR_PAGES
    assert not STAFF_PAGES & INSTRUCTOR_PAGES and not (STAFF_API | INSTRUCTOR_API) & OWN_API
    undecided = sorted(f"{sorted(r.methods - {'HEAD', 'OPTIONS'})} {r.rule} ({r.endpoint})"
                       for r in app.url_map.iter_rules()
                       if r.rule.startswith("/instructor") and r.endpoint not in pages)
    assert not undecided, ("pages under /instructor without an access decision; add each to STAFF_PAGES or "
                           f"INSTRUCTOR_PAGES in tests/test_staff_roles.py: {undecided}")
    api = STAFF_API | INSTRUCTOR_API | OWN_API
    undecided = sorted(f"{sorted(r.methods - {'HEAD', 'OPTIONS'})} {r.rule} ({r.endpoint})"
                       for r in app.url_map.iter_rules() if r.rule.startswith("/api/") and r.endpoint not in api)
    assert not undecided, f"API routes without an access decision (STAFF_API, INSTRUCTOR_API or OWN_API): {undecided}"
    assert pages == {r.endpoint for r in app.url_map.iter_rules() if r.endpoint in pages}  # none is stale


# --------------------------------------------------------------------------- pages


def test_a_ta_gets_every_staff_page_and_a_student_gets_403(course, clients):
    app, _ = course
    sid = graded(app, "alice")
    tara, alice = clients["tara"], clients["alice"]
    for rule in _rules(app, STAFF_PAGES):
        url = _url(rule, sid)
        if "GET" in rule.methods:
            response = tara.get(url)
            assert response.status_code == (302 if rule.endpoint == "instructor.index" else 200), url
            refused = alice.get(url)
        else:  # each regrade on a graded submission (a queued one is only published again, nothing changes)
            url = _url(rule, graded(app, "alice"))
            response = tara.post(url, data={"csrf_token": csrf_token(tara, "/instructor/gradebook")})
            assert response.status_code == 303, (url, response.status_code)
            refused = alice.post(url, data={"csrf_token": csrf_token(alice, "/assignments")})
        assert refused.status_code == 403, url
        if refused.mimetype == "text/html":
            assert "This page is for course staff (instructors and TAs)." in refused.get_data(as_text=True)
    # The TA's two regrade forms were real regrades, recorded under the TA's name.
    assert [e.actor for e in _audited(app, "regrade")][-1:] == ["tara@example.edu"]
    assert [e.actor for e in _audited(app, "regrade_all")][-1:] == ["tara@example.edu"]


def test_a_ta_is_refused_every_instructor_page(course, clients):
    app, _ = course
    sid = graded(app, "alice")
    tara, prof = clients["tara"], clients["prof"]
    token = csrf_token(tara, "/instructor/gradebook")
    with app.extensions["grader"].db.session() as session:
        before = session.query(AuditEntry).count()
        roles_before = {u.email: (u.role, u.disabled_at) for u in session.query(auth.User)}
    for rule in _rules(app, INSTRUCTOR_PAGES):
        url = _url(rule, sid)
        if "GET" in rule.methods:
            response = tara.get(url)
        else:  # a TA trying to make themselves an instructor, disable a student, import, get a link
            response = tara.post(url, data={"csrf_token": token, "email": "tara@example.edu", "role": "instructor",
                                            "action": "disable",
                                            "roster": (io.BytesIO(b"email,name\nx@example.edu,X\n"), "r.csv")},
                                 content_type="multipart/form-data")
        assert response.status_code == 403, (url, response.status_code)
        assert "This page is for instructors." in response.get_data(as_text=True)
    with app.extensions["grader"].db.session() as session:
        assert session.query(AuditEntry).count() == before  # nothing was changed, so nothing recorded
        assert {u.email: (u.role, u.disabled_at) for u in session.query(auth.User)} == roles_before
    for endpoint in ("instructor.users", "audit.audit_log"):  # and the instructor gets them
        assert prof.get(_url(next(iter(_rules(app, {endpoint}))), sid)).status_code == 200


def test_a_ta_sees_hidden_tests_and_every_submission_as_instructors_do(course, clients):
    app, _ = course
    sid = graded(app, "alice")
    tara, alice = clients["tara"], clients["alice"]
    page = tara.get(f"/submissions/{sid}").get_data(as_text=True)
    assert SECRET in page and "alice@example.edu" in page and "Regrade this submission" in page
    assert SECRET not in alice.get(f"/submissions/{sid}").get_data(as_text=True)
    assert tara.get(f"/submissions/{sid}/files/linear_svm.py").data == svm_file()
    assert tara.get(f"/submissions/{sid}/status.json").json["max_score"] == 2.0  # not masked (1.0 shown)
    listing = tara.get("/instructor/submissions?student=alice").get_data(as_text=True)
    assert f"#{sid}<" in listing
    gradebook = tara.get("/instructor/gradebook.csv").get_data(as_text=True)
    assert "alice@example.edu" in gradebook and "tara@example.edu" not in gradebook  # staff are not graded


def test_the_nav_shows_a_ta_what_they_may_use(course, clients):
    tara = clients["tara"].get("/instructor/gradebook").get_data(as_text=True)
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', tara, re.S).group(1)
    assert "/instructor/gradebook" in nav and "/instructor/submissions" in nav
    for refused in ("/instructor/users", "/instructor/audit", "/instructor/roster", "/instructor/similarity"):
        assert refused not in nav
    assert '<span class="tag">TA</span>' in tara and "My submissions" not in nav
    prof = clients["prof"].get("/instructor/gradebook").get_data(as_text=True)
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', prof, re.S).group(1)
    assert "/instructor/users" in nav and "/instructor/audit" in nav
    assert clients["tara"].get("/").headers["Location"] == "/instructor/gradebook"  # a TA lands on the gradebook


# --------------------------------------------------------------------------- the API


def test_the_api_gives_a_ta_the_staff_routes_and_refuses_students(course):
    app, people = course
    client = app.test_client()
    sid = graded(app, "alice")
    tara, alice, bob = people.headers("tara"), people.headers("alice"), people.headers("bob")
    assert client.get("/api/v1/gradebook", headers=tara).status_code == 200
    assert client.get("/api/v1/gradebook?format=csv", headers=tara).mimetype == "text/csv"
    seen = client.get(f"/api/v1/submissions/{sid}", headers=tara).json
    assert seen["report"]["tests"][1]["output"] == SECRET and seen["user"] == "alice@example.edu"
    assert SECRET not in str(client.get(f"/api/v1/submissions/{sid}", headers=alice).json)
    assert client.get(f"/api/v1/submissions/{sid}", headers=bob).status_code == 404
    listed = client.get("/api/v1/submissions?user=alice@example.edu", headers=tara).json["submissions"]
    assert sid in [s["id"] for s in listed]
    assert client.get("/api/v1/submissions?user=alice@example.edu", headers=bob).json["submissions"] == []
    assert "workers" in client.get("/api/v1/status", headers=tara).json
    assert "workers" not in client.get("/api/v1/status", headers=alice).json
    for method, path in (("POST", f"/api/v1/submissions/{sid}/regrade"), ("POST", "/api/v1/assignments/svm/regrade"),
                         ("GET", "/api/v1/gradebook")):
        refused = client.open(path, method=method, headers=alice)
        assert refused.status_code == 403 and refused.json == {"error": "only course staff may do this"}
    with app.extensions["grader"].db.session() as session:
        assert session.get(Submission, sid).status == "graded"  # alice's POSTs regraded nothing
    assert client.post(f"/api/v1/submissions/{sid}/regrade", headers=tara).status_code == 202
    entry = _audited(app, "regrade")[-1]
    assert (entry.actor, entry.target) == ("tara@example.edu", f"submission {sid}")
    assert entry.details == {"assignment": "svm", "student": "alice@example.edu"}


def test_a_ta_may_submit_after_the_hard_deadline_to_try_the_assignment(course):
    app, people = course
    client = app.test_client()
    data = {"file": (io.BytesIO(svm_file()), "linear_svm.py")}
    refused = client.post("/api/v1/assignments/svm/submissions", headers=people.headers("bob"), data=dict(data),
                          content_type="multipart/form-data")
    assert refused.status_code == 403 and "closed" in refused.json["error"]
    data = {"file": (io.BytesIO(svm_file()), "linear_svm.py")}
    taken = client.post("/api/v1/assignments/svm/submissions", headers=people.headers("tara"), data=data,
                        content_type="multipart/form-data")
    assert taken.status_code == 202, taken.json


# --------------------------------------------------------------------------- roles


def test_an_instructor_changes_roles_on_the_users_page_and_the_last_instructor_stays(course, clients):
    app, _ = course
    prof = clients["prof"]
    token = csrf_token(prof, "/instructor/users")
    page = prof.get("/instructor/users").get_data(as_text=True)
    assert 'name="role"' in page and '<option value="ta" selected>TA</option>' in page  # tara's row
    made = prof.post("/instructor/users/role", data={"csrf_token": token, "email": "bob@example.edu", "role": "ta"})
    assert made.status_code == 303
    assert "bob@example.edu is now a TA (was a student)." in prof.get("/instructor/users").get_data(as_text=True)
    entry = _audited(app, "role.change")[-1]
    assert (entry.actor, entry.target, entry.details) == ("prof@example.edu", "bob@example.edu",
                                                          {"old": "student", "new": "ta"})
    bob_page = login(app, "bob").get("/instructor/gradebook")
    assert bob_page.status_code == 200  # bob's next page already has the TA's access
    last = prof.post("/instructor/users/role", data={"csrf_token": token, "email": "prof@example.edu",
                                                     "role": "ta"})
    assert last.status_code == 303
    assert ("There is no other instructor who can log in: make someone else an instructor before "
            "prof@example.edu stops being one."
            in prof.get("/instructor/users").get_data(as_text=True))
    bad = prof.post("/instructor/users/role", data={"csrf_token": token, "email": "bob@example.edu",
                                                    "role": "admin"})
    assert bad.status_code == 303
    assert "The role must be one of student, ta, instructor, not &#39;admin&#39;." in \
        prof.get("/instructor/users").get_data(as_text=True)
    assert prof.post("/instructor/users/role", data={"csrf_token": token, "email": "nobody@example.edu",
                                                     "role": "ta"}).status_code == 404
    back = prof.post("/instructor/users/role", data={"csrf_token": token, "email": "bob@example.edu",
                                                     "role": "student"})
    assert back.status_code == 303
    with app.extensions["grader"].db.session() as session:
        assert auth.find_user(session, "prof@example.edu").role == "instructor"
        assert auth.find_user(session, "bob@example.edu").role == "student"
    assert [e.details for e in _audited(app, "role.change")][-2:] == [{"old": "student", "new": "ta"},
                                                                      {"old": "ta", "new": "student"}]


def test_the_cli_adds_a_ta_and_changes_roles(tmp_path: Path):
    from click.testing import CliRunner

    from grader.cli import main

    make_app(tmp_path / "instance")  # a migrated database in the instance folder the commands use
    env = {key: None for key in ("GRADER_DATABASE_URL", "GRADER_BROKER_URL", "GRADER_ENV", "GRADER_ASSIGNMENTS_DIR")}
    runner = CliRunner(env={**env, "GRADER_INSTANCE_PATH": str(tmp_path / "instance")})
    added = runner.invoke(main, ["users", "add", "ta@example.edu", "--role", "ta", "--password", "a-long-password"])
    assert added.exit_code == 0 and added.output == "added ta ta@example.edu\n"
    assert "ta@example.edu" in runner.invoke(main, ["users", "list", "--role", "ta"]).output
    assert runner.invoke(main, ["users", "add", "prof@example.edu", "--role", "instructor"]).exit_code == 0
    changed = runner.invoke(main, ["users", "role", "TA@example.edu", "instructor"])
    assert changed.exit_code == 0 and changed.output == "ta@example.edu: ta -> instructor\n"
    same = runner.invoke(main, ["users", "role", "ta@example.edu", "instructor"])
    assert same.exit_code == 0 and same.output == "ta@example.edu is already an instructor\n"
    assert runner.invoke(main, ["users", "role", "prof@example.edu", "student"]).exit_code == 0
    last = runner.invoke(main, ["users", "role", "ta@example.edu", "ta"])
    assert last.exit_code == 1
    assert last.output == ("error: there is no other instructor who can log in: make someone else an instructor "
                           "before ta@example.edu stops being one\n")
    unknown = runner.invoke(main, ["users", "role", "nobody@example.edu", "ta"])
    assert unknown.exit_code == 2 and "no user with the email 'nobody@example.edu'" in unknown.output
    bad = runner.invoke(main, ["users", "role", "ta@example.edu", "admin"])
    assert bad.exit_code == 2 and "'admin' is not one of 'student', 'ta', 'instructor'" in bad.output
    log = runner.invoke(main, ["audit", "--action", "role.change", "--json"])
    import json

    entries = [json.loads(line) for line in log.output.splitlines()]
    assert [(e["target"], e["details"]) for e in entries] == [
        ("prof@example.edu", {"old": "instructor", "new": "student"}),
        ("ta@example.edu", {"old": "ta", "new": "instructor"})]
    assert all(e["actor"].startswith("cli") for e in entries)
