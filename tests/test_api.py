"""The HTTP API (DESIGN.md): authorization of every route, bad inputs, what students may see."""

from __future__ import annotations

from datetime import timedelta
import tomllib
from pathlib import Path
from typing import Any

import pytest

import worker
from grader import auth, submissions
from grader.models import Submission
from service_fixtures import (
    PASSWORD,
    People,
    iso,
    make_app,
    make_course,
    now,
    svm_file,
    upload,
)

PROTECTED = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/assignments"),
    ("GET", "/api/v1/assignments/svm"),
    ("POST", "/api/v1/assignments/svm/submissions"),
    ("GET", "/api/v1/submissions"),
    ("GET", "/api/v1/submissions/{id}"),
    ("POST", "/api/v1/submissions/{id}/regrade"),
    ("POST", "/api/v1/assignments/svm/regrade"),
    ("GET", "/api/v1/gradebook"),
    ("DELETE", "/api/v1/tokens/current"),
]
ROOT = Path(__file__).resolve().parent.parent
INSTRUCTOR_ONLY = [
    ("POST", "/api/v1/submissions/{id}/regrade"),
    ("POST", "/api/v1/assignments/svm/regrade"),
    ("GET", "/api/v1/gradebook"),
]


def _finished(app: Any, sid: int, report: dict[str, Any] | None = None) -> None:
    """Play the worker: claim and store a report for submission ``sid``."""
    state = app.extensions["grader"]
    with state.db.session() as session:
        claim = submissions.claim(session, state.settings, sid, "test-worker")
        assert claim is not None
        submissions.finish(session, claim, report or _engine_report())


def _engine_report() -> dict[str, Any]:
    from worker.engine import grade

    return grade("svm", {"linear_svm.py": svm_file("bug_half_reg")}, seed=5)


@pytest.fixture
def alice_submission(app, client, people) -> int:
    response = upload(client, people.headers("alice"))
    assert response.status_code == 202, response.json
    return int(response.json["id"])


def _credentials(app: Any, people: People, kind: str) -> dict[str, str]:
    if kind == "none":
        return {}
    if kind == "malformed":
        return {"Authorization": "Token abc"}
    if kind == "forged":
        return {"Authorization": "Bearer gr_" + "A" * 43}
    with app.extensions["grader"].db.session() as session:
        user = auth.find_user(session, "alice@example.edu")
        if kind == "expired":
            token, _ = auth.create_token(session, user, days=1, now=now() - timedelta(days=2))
        else:  # revoked
            token, _ = auth.create_token(session, user, days=1)
            auth.revoke_token(session, token)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("method, path", PROTECTED)
@pytest.mark.parametrize("kind, message", [("none", "missing token"), ("malformed", "malformed Authorization"),
                                           ("forged", "invalid token"), ("expired", "expired"),
                                           ("revoked", "revoked")])
def test_every_route_needs_a_valid_token(app, client, people, alice_submission, method, path, kind, message):
    response = client.open(path.format(id=alice_submission), method=method, headers=_credentials(app, people, kind))
    assert response.status_code == 401
    assert message in response.json["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method, path", INSTRUCTOR_ONLY)
def test_instructor_routes_refuse_students(client, people, alice_submission, method, path):
    response = client.open(path.format(id=alice_submission), method=method, headers=people.headers("alice"))
    assert response.status_code == 403
    assert response.json == {"error": "only course staff may do this"}  # instructors and TAs (test_staff_roles)


def _from_toml(assignment_id: str, **policy: Any) -> dict[str, Any]:
    """What the API must say about an assignment, read from its assignment.toml here, not by the service."""
    spec = tomllib.loads((ROOT / "assignments" / assignment_id / "assignment.toml").read_text())
    table = {**spec.get("policy", {}), **policy}
    return {"id": assignment_id, "title": spec["title"], "files": spec["files"],
            "max_score": sum(test["points"] for test in spec["tests"]), "description": spec["description"].strip(),
            "deadline": table.get("deadline"), "hard_deadline": table.get("hard_deadline"),
            "policy": table["policy"], "late_penalty_per_day": table["late_penalty_per_day"],
            "max_submissions_per_hour": table["max_submissions_per_hour"],
            "cooldown_seconds": table["cooldown_seconds"]}


def _assert_assignment(entry: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(entry) == set(expected), set(entry) ^ set(expected)  # nothing missing, nothing leaked (paths, ...)
    assert entry == expected
    assert isinstance(entry["title"], str) and isinstance(entry["files"], list)
    assert isinstance(entry["max_score"], (int, float)) and not isinstance(entry["max_score"], bool)


def _is_iso(value: Any) -> bool:
    from datetime import datetime

    return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None


STUDENT_ROUTES = [(m, p) for m, p in PROTECTED if (m, p) not in INSTRUCTOR_ONLY]


def test_student_routes_answer_with_the_contract(app, client, people, alice_submission):
    """Every route students may use, as alice and as an instructor, checked against DESIGN.md and the
    assignment folders (not against the service's own output)."""
    checked: set[tuple[str, str]] = set()

    def get(path: str, who: str) -> Any:
        checked.add(("GET", path))
        response = client.get(path.format(id=alice_submission), headers=people.headers(who))
        assert response.status_code == 200, (path, who, response.json)
        assert response.mimetype == "application/json"
        return response.json

    ids = sorted(p.name for p in (ROOT / "assignments").iterdir() if (p / "assignment.toml").is_file())
    assert ids == ["fc_net", "softmax", "svm", "two_layer_net"]
    for who, role in (("alice", "student"), ("prof", "instructor")):
        me = get("/api/v1/me", who)
        assert me == {"id": people.ids[who], "email": f"{who}@example.edu", "name": who.title(), "role": role}

        status = get("/api/v1/status", who)
        assert status["worker_alive"] is False and status["version"] == worker.__version__
        assert status["queue"] == {"queued": 1, "running": 0, "graded": 0, "error": 0}  # alice's submission
        assert ("workers" in status) == (role == "instructor")  # who runs the workers is staff business
        if role == "instructor":
            assert status["workers"] == []

        listed = get("/api/v1/assignments", who)
        assert list(listed) == ["assignments"]
        assert [entry["id"] for entry in listed["assignments"]] == ids
        for entry in listed["assignments"]:
            _assert_assignment(entry, _from_toml(entry["id"]))
        _assert_assignment(get("/api/v1/assignments/svm", who), _from_toml("svm"))

        own = get("/api/v1/submissions", who)["submissions"]
        if who == "prof":
            assert own == []  # an instructor's own list; a student's is asked for with ?user=
            continue
        (item,) = own
        assert item["id"] == alice_submission and item["assignment"] == "svm" and item["status"] == "queued"
        assert item["user"] == "alice@example.edu" and item["attempts"] == 0 and item["late_days"] == 0
        assert item["score"] is None and item["max_score"] is None and "report" not in item
        assert item["url"] == f"http://localhost/api/v1/submissions/{alice_submission}"
        assert _is_iso(item["created_at"]) and item["started_at"] is None and item["finished_at"] is None
        assert get("/api/v1/submissions?assignment=softmax", who) == {"submissions": []}
        assert get("/api/v1/submissions?assignment=svm", who)["submissions"] == own

    for who in ("alice", "prof"):
        shown = get("/api/v1/submissions/{id}", who)
        assert shown["id"] == alice_submission and shown["status"] == "queued" and shown["report"] is None
        assert shown["files"] == ["linear_svm.py"] and shown["worker_alive"] is False
        assert shown["url"] == f"http://localhost/api/v1/submissions/{alice_submission}"

    # Uploading: an empty form is refused after authorization (a real upload is test_submit_returns_202_...).
    for who in ("alice", "prof"):
        empty = client.post("/api/v1/assignments/svm/submissions", headers=people.headers(who), data={},
                            content_type="multipart/form-data")
        assert empty.status_code == 400 and "no file uploaded" in empty.json["error"]
    checked.add(("POST", "/api/v1/assignments/svm/submissions"))

    # Logging out: 204 with no body, and that token (only that one) stops working.
    for who, role in (("alice2", "student"), ("prof2", "instructor")):
        people.add(who, role=role)
        with app.extensions["grader"].db.session() as session:  # a second token of the same user
            second, _ = auth.create_token(session, auth.find_user(session, f"{who}@example.edu"), days=1)
            session.commit()
        response = client.delete("/api/v1/tokens/current", headers=people.headers(who))
        assert response.status_code == 204 and response.data == b""
        assert client.get("/api/v1/me", headers=people.headers(who)).status_code == 401
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"}).json["email"] == \
            f"{who}@example.edu"
    checked.add(("DELETE", "/api/v1/tokens/current"))
    assert checked >= set(STUDENT_ROUTES), set(STUDENT_ROUTES) - checked  # a new route needs its checks here


def test_instructor_routes_work_for_instructors(app, client, people, alice_submission):
    _finished(app, alice_submission)
    prof = people.headers("prof")
    regrade = client.post(f"/api/v1/submissions/{alice_submission}/regrade", headers=prof)
    assert regrade.status_code == 202 and regrade.json["status"] == "queued"
    again = client.post(f"/api/v1/submissions/{alice_submission}/regrade", headers=prof)
    assert again.status_code == 202  # queued already: publishing it again is harmless
    _finished(app, alice_submission)
    everything = client.post("/api/v1/assignments/svm/regrade", headers=prof)
    assert everything.status_code == 202 and everything.json["regraded"] == [alice_submission]
    _finished(app, alice_submission)
    book = client.get("/api/v1/gradebook", headers=prof)
    assert book.status_code == 200 and book.mimetype == "application/json"
    # Against values from outside the gradebook: the engine's own report of the graded file (the same seed, so
    # the same score), each assignment's points from its assignment.toml, the people this test added.
    score = _engine_report()["score"]
    assert 0 < score < 35
    ids = sorted(p.name for p in (ROOT / "assignments").iterdir() if (p / "assignment.toml").is_file())
    assert [a["id"] for a in book.json["assignments"]] == ids
    for entry in book.json["assignments"]:
        assert entry["max_score"] == _from_toml(entry["id"])["max_score"]
    assert [(s["email"], s["name"]) for s in book.json["students"]] == [("alice@example.edu", "Alice"),
                                                                        ("bob@example.edu", "Bob")]  # no staff
    alice, bob = book.json["students"]
    assert alice["grades"]["svm"] == {"score": score, "raw_score": score, "max_score": 35.0,
                                      "submission_id": alice_submission, "late_days": 0, "late_days_used": 0,
                                      "submissions": 1}
    assert alice["total"] == score and bob["total"] == 0
    assert all(alice["grades"][a] is None for a in ids if a != "svm") and set(alice["grades"]) == set(ids)
    assert bob["grades"] == {a: None for a in ids}
    csv = client.get("/api/v1/gradebook?format=csv", headers=prof)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    number = f"{score:g}"
    assert csv.data.decode() == (
        ",".join(["email", "name", *ids, "total", *(f"{a}_submission" for a in ids),
                  *(f"{a}_late_days" for a in ids)]) + "\n"
        + ",".join(["alice@example.edu", "Alice", *(number if a == "svm" else "" for a in ids), number,
                    *(str(alice_submission) if a == "svm" else "" for a in ids),
                    *("0" if a == "svm" else "" for a in ids)]) + "\n"
        + ",".join(["bob@example.edu", "Bob", *("" for _ in ids), "0", *("" for _ in ids), *("" for _ in ids)])
        + "\n")


def test_regrading_a_running_submission_is_a_conflict(app, client, people, alice_submission):
    state = app.extensions["grader"]
    with state.db.session() as session:
        submissions.claim(session, state.settings, alice_submission, "w")
    response = client.post(f"/api/v1/submissions/{alice_submission}/regrade", headers=people.headers("prof"))
    assert response.status_code == 409 and "is running" in response.json["error"]


def test_another_students_submission_is_not_found(client, people, alice_submission):
    response = client.get(f"/api/v1/submissions/{alice_submission}", headers=people.headers("bob"))
    assert response.status_code == 404
    assert response.json == {"error": f"no submission {alice_submission}"}
    missing = client.get("/api/v1/submissions/999999", headers=people.headers("bob"))
    assert missing.status_code == 404  # indistinguishable from one that does not exist
    assert missing.json == {"error": "no submission 999999"}
    listed = client.get("/api/v1/submissions", headers=people.headers("bob"))
    assert listed.json == {"submissions": []}
    as_prof = client.get("/api/v1/submissions?user=alice@example.edu", headers=people.headers("prof"))
    assert [s["id"] for s in as_prof.json["submissions"]] == [alice_submission]
    as_bob = client.get("/api/v1/submissions?user=alice@example.edu", headers=people.headers("bob"))
    assert as_bob.json == {"submissions": []}  # students cannot look at others' lists


def test_submit_returns_202_with_the_id_and_url(client, people):
    response = upload(client, people.headers("alice"))
    assert response.status_code == 202
    body = response.json
    assert body["status"] == "queued" and isinstance(body["id"], int)
    assert body["url"].endswith(f"/api/v1/submissions/{body['id']}")
    assert response.headers["Location"] == body["url"]
    assert "no grading worker is running" in body["warning"]
    shown = client.get(body["url"], headers=people.headers("alice")).json
    assert shown["status"] == "queued" and shown["report"] is None and shown["worker_alive"] is False


@pytest.mark.parametrize("files, status, message", [
    ([("linear_svm.py", b"")], 400, "linear_svm.py is empty"),
    ([("linear_svm.py", b"# x\n" * 140_000)], 413, "a submitted file may be at most 512 KiB"),
    ([("linear_svm.py", b"\x7fELF\x02\x01\x01\x00\x00")], 400, "binary file"),
    ([("linear_svm.py", "x = 'caf\u00e9'\n".encode("latin-1"))], 400, "not UTF-8 text (invalid byte 0xe9 on line 1)"),
    ([("src/linear_svm.py", svm_file())], 400, "contains a path; upload just linear_svm.py"),
    ([("svm.py", svm_file())], 400, "unexpected file 'svm.py': assignment svm expects linear_svm.py"),
    ([], 400, "no file uploaded: send linear_svm.py in a form field named 'file'"),
    ([("linear_svm.py", b"print 'hello'\n")], 400, "This looks like Python 2 code"),
])
def test_bad_uploads_get_a_clear_error_and_store_nothing(app, client, people, files, status, message):
    response = upload(client, people.headers("alice"), files=files)
    assert response.status_code == status
    assert message in response.json["error"]
    with app.extensions["grader"].db.session() as session:
        assert session.query(Submission).count() == 0


def test_a_wrong_field_name_and_a_non_multipart_body(client, people):
    response = upload(client, people.headers("alice"), field="files")
    assert response.status_code == 400 and "field named 'file' (got a field named 'files')" in response.json["error"]
    response = client.post("/api/v1/assignments/svm/submissions", headers=people.headers("alice"), json={})
    assert response.status_code == 400 and "multipart/form-data" in response.json["error"]


def test_a_missing_file_of_a_two_file_assignment(tmp_path, people):
    course = make_course(tmp_path / "course", assignments=("svm",))
    toml = course / "svm" / "assignment.toml"
    toml.write_text(toml.read_text().replace('files = ["linear_svm.py"]', 'files = ["linear_svm.py", "helpers.py"]'))
    app = make_app(tmp_path / "instance2", ASSIGNMENTS_DIR=str(course))
    students = People(app)
    students.add("dana")
    response = upload(app.test_client(), students.headers("dana"))
    assert response.status_code == 400
    assert response.json["error"] == "missing file helpers.py (assignment svm expects linear_svm.py, helpers.py)"


def test_a_request_over_the_size_limit_is_413(tmp_path):
    app = make_app(tmp_path / "instance", MAX_REQUEST_BYTES=100_000)
    people = People(app)
    people.add("erin")
    response = upload(app.test_client(), people.headers("erin"), files=[("linear_svm.py", b"#" * 200_000)])
    assert response.status_code == 413 and "larger than the limit of 97.7 KiB for one request (each file may be at most 512 KiB)" \
        in response.json["error"]


def test_unknown_assignment_and_unknown_routes_are_json_404(client, people):
    response = upload(client, people.headers("alice"), assignment="nope")
    assert response.status_code == 404 and "unknown assignment 'nope'" in response.json["error"]
    assert client.get("/api/v1/nothing-here", headers=people.headers("alice")).status_code == 404
    assert client.get("/api/v1/nothing-here").json["error"]
    assert client.put("/api/v1/assignments", headers=people.headers("alice")).status_code == 405


def test_too_many_submissions_is_429_with_retry_after(tmp_path):
    app = make_app(tmp_path / "instance",
                   ASSIGNMENTS_DIR=str(make_course(tmp_path / "course", "max_submissions_per_hour = 2")))
    people = People(app)
    people.add("fay")
    people.add("prof", role="instructor")
    client = app.test_client()
    assert upload(client, people.headers("fay")).status_code == 202
    assert upload(client, people.headers("fay")).status_code == 202
    response = upload(client, people.headers("fay"))
    assert response.status_code == 429
    assert "at most 2 submissions of svm per hour" in response.json["error"]
    assert 3590 <= int(response.headers["Retry-After"]) <= 3601
    for _ in range(3):  # instructors are not limited
        assert upload(client, people.headers("prof")).status_code == 202


def test_after_the_hard_deadline_students_get_403(tmp_path):
    t = now()
    policy = f"deadline = {iso(t - timedelta(days=2))}\nhard_deadline = {iso(t - timedelta(seconds=1))}"
    app = make_app(tmp_path / "instance", ASSIGNMENTS_DIR=str(make_course(tmp_path / "course", policy)))
    people = People(app)
    people.add("gus")
    response = upload(app.test_client(), people.headers("gus"))
    assert response.status_code == 403 and "the hard deadline of svm" in response.json["error"]
    assert "submissions are closed" in response.json["error"]
    entry = app.test_client().get("/api/v1/assignments/svm", headers=people.headers("gus")).json
    assert entry["deadline"] == iso(t - timedelta(days=2)) and entry["hard_deadline"] == iso(t - timedelta(seconds=1))


def test_login_trades_a_password_for_a_token_and_locks_after_failures(app, client, people):
    response = client.post("/api/v1/tokens", json={"email": "Alice@Example.edu", "password": PASSWORD})
    assert response.status_code == 201
    assert response.json["user"]["email"] == "alice@example.edu" and response.json["token"].startswith("gr_")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json['token']}"})
    assert me.json["role"] == "student"
    assert client.post("/api/v1/tokens", json={"email": "nobody@example.edu", "password": "x"},
                       environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 401  # the address's own limit
    assert client.post("/api/v1/tokens", json={"email": "alice@example.edu"}).status_code == 400
    limit = app.extensions["grader"].settings.login_max_failures
    for _ in range(limit):
        wrong = client.post("/api/v1/tokens", json={"email": "alice@example.edu", "password": "wrong"})
        assert wrong.status_code == 401 and wrong.json == {"error": "wrong email or password"}
    locked = client.post("/api/v1/tokens", json={"email": "alice@example.edu", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_logout_revokes_the_token(client, people):
    headers = people.headers("alice")
    assert client.delete("/api/v1/tokens/current", headers=headers).status_code == 204
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json["error"]


def test_students_never_see_hidden_test_details(app, client, people, alice_submission):
    report = _engine_report()
    hidden = [t for t in report["tests"] if t["visibility"] == "hidden"]
    assert hidden, "the svm assignment has a hidden test"
    _finished(app, alice_submission, report)
    student = client.get(f"/api/v1/submissions/{alice_submission}", headers=people.headers("alice")).json
    shown = {t["id"]: t for t in student["report"]["tests"]}
    for test in hidden:
        masked = shown[test["id"]]
        assert masked["status"] == "hidden" and masked["score"] is None and masked["details"] == {}
        assert masked["output"] != test["output"] or not test["output"]
    body = repr(student)
    for test in hidden:
        for value in test["details"].values():
            if isinstance(value, float) and len(repr(value)) > 6:  # measured numbers, unique to the test
                assert repr(value) not in body
    assert student["report"]["hidden_max_score"] == sum(t["max_score"] for t in hidden)
    assert student["score"] == student["report"]["score"] <= report["max_score"] - student["hidden_max_score"]
    assert "student_output" not in student["report"]
    instructor = client.get(f"/api/v1/submissions/{alice_submission}", headers=people.headers("prof")).json
    assert instructor["report"] == report and instructor["score"] == report["score"]


def test_after_due_date_tests_are_shown_once_the_deadline_passed(tmp_path):
    from worker.assignments import get_assignment
    from worker.engine import grade

    course = make_course(tmp_path / "course")
    toml = course / "svm" / "assignment.toml"
    text = toml.read_text().replace('id = "vectorized_no_loops"\nname = "svm_loss_vectorized: no loops (fully vectorized)"\n'
                                    'points = 2\nvisibility = "visible"',
                                    'id = "vectorized_no_loops"\nname = "svm_loss_vectorized: no loops (fully vectorized)"\n'
                                    'points = 2\nvisibility = "after_due_date"')
    assert "after_due_date" in text
    marker = text.index("\n[limits]")
    results = {}
    for label, deadline in (("before", now() + timedelta(days=1)), ("after", now() - timedelta(days=1))):
        toml.write_text(text[:marker] + f"\n[policy]\ndeadline = {iso(deadline)}\n" + text[marker:])
        app = make_app(tmp_path / f"instance-{label}", ASSIGNMENTS_DIR=str(course))
        people = People(app)
        people.add("hal")
        sid = upload(app.test_client(), people.headers("hal")).json["id"]
        report = grade(get_assignment("svm", course), {"linear_svm.py": svm_file()}, seed=3)
        _finished(app, sid, report)
        view = app.test_client().get(f"/api/v1/submissions/{sid}", headers=people.headers("hal")).json
        results[label] = {t["id"]: t["status"] for t in view["report"]["tests"]}
    assert results["before"]["vectorized_no_loops"] == "hidden"
    assert results["after"]["vectorized_no_loops"] in ("passed", "failed")


def test_status_reports_the_worker_heartbeat(app, client, people):
    assert client.get("/api/v1/status", headers=people.headers("alice")).json["worker_alive"] is False
    with app.extensions["grader"].db.session() as session:
        submissions.beat(session, "celery@test", 1, 2, "0.1.0")
    status = client.get("/api/v1/status", headers=people.headers("alice")).json
    assert status["worker_alive"] is True and "workers" not in status
    status = client.get("/api/v1/status", headers=people.headers("prof")).json
    assert [w["hostname"] for w in status["workers"]] == ["celery@test"]
    with app.extensions["grader"].db.session() as session:
        submissions.beat(session, "celery@test", 1, 2, "0.1.0", now=now() - timedelta(minutes=5))
    assert client.get("/api/v1/status", headers=people.headers("alice")).json["worker_alive"] is False


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}
