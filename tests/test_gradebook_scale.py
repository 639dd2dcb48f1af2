"""The gradebook of a real course: 2,000 students, 3 assignments, 10 graded submissions each (60,000 rows).

Built directly in a PostgreSQL database of its own (one ``INSERT ... SELECT`` per table), then every
way out of the gradebook is requested once: the JSON API, the API's CSV, the instructor's page and its
CSV, and ``grader gradebook export``. Each must use a small, constant number of SQL statements
(counted with a SQLAlchemy event listener: an N+1 regression fails here) and agree with the same
gradebook computed in SQL. Timings are reported, not asserted (CI machines are noisy); the figures
are ``bench/bench_gradebook.py``'s.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from service_fixtures import PASSWORD, People, _admin_engine, make_app, make_course

STUDENTS = 2000
PER_ASSIGNMENT = 10
#: The most SQL statements one gradebook request may run, whatever the number of students.
MAX_QUERIES = 10
DEADLINE = datetime(2027, 4, 19, 23, 59, tzinfo=timezone.utc)
POLICIES = {  # one of each: best with a late penalty, last, best without a deadline
    "svm": f'deadline = {DEADLINE.isoformat()}\npolicy = "best"\nlate_penalty_per_day = 0.1',
    "softmax": f'deadline = {DEADLINE.isoformat()}\npolicy = "last"\nlate_penalty_per_day = 0.25',
    "two_layer_net": 'policy = "best"',
}
MAX_SCORE = {"svm": 35.0, "softmax": 35.0, "two_layer_net": 30.0}


def build_course(root: Path) -> Path:
    for aid, policy in POLICIES.items():
        make_course(root, policy=policy, assignments=(aid,))
    return root


def populate(app: Any, students: int = STUDENTS, per_assignment: int = PER_ASSIGNMENT) -> None:
    """Students and their graded submissions, in bulk (scores and times are a deterministic spread
    around the deadline, so some are late; one in 50 ended in ``error`` and must not count)."""
    from grader import catalog

    state = app.extensions["grader"]
    with state.db.session() as session:
        catalog.all_assignments(session, state.settings)  # the assignments' rows
        session.commit()
        session.execute(text(
            "INSERT INTO users (email, name, role, created_at, failed_logins) "
            "SELECT 'student' || lpad(i::text, 5, '0') || '@example.edu', 'Student ' || i, 'student', now(), 0 "
            "FROM generate_series(1, :n) AS i"), {"n": students})
        session.execute(text(
            "INSERT INTO submissions (user_id, assignment_id, status, attempts, created_at, enqueued_at, "
            "  started_at, finished_at, worker, score, max_score, error) "
            "SELECT u.id, a.id, CASE WHEN (u.id + k) % 50 = 0 THEN 'error' ELSE 'graded' END, 1, t.at, t.at, "
            "  t.at, t.at + interval '2 seconds', 'bench', "
            "  CASE WHEN (u.id + k) % 50 = 0 THEN NULL ELSE ((u.id * 7 + k * 13) % 36)::float * a.max / 35 END, "
            "  a.max, CASE WHEN (u.id + k) % 50 = 0 THEN 'grading failed 3 times: test' END "
            "FROM users u "
            "CROSS JOIN (VALUES ('svm', 35.0), ('softmax', 35.0), ('two_layer_net', 30.0)) AS a(id, max) "
            "CROSS JOIN generate_series(1, :k) AS k "
            "CROSS JOIN LATERAL (SELECT CAST(:deadline AS timestamptz) "
            "  + (((u.id * 31 + k * 17) % 96) - 80) * interval '3 hours' AS at) AS t "
            "WHERE u.role = 'student'"), {"k": per_assignment, "deadline": DEADLINE})
        session.execute(text("ANALYZE"))
        session.commit()


def expected_gradebook(app: Any) -> dict[str, dict[str, float]]:
    """The same gradebook computed in SQL: email -> assignment -> counted score."""
    sql = """
    WITH adjusted AS (
      SELECT u.email, s.assignment_id AS aid, s.id, s.created_at,
             s.score * CASE
               WHEN s.assignment_id = 'two_layer_net' OR s.created_at <= :deadline THEN 1.0
               ELSE greatest(0.0, 1.0 - (CASE s.assignment_id WHEN 'svm' THEN 0.1 ELSE 0.25 END)
                    * ceil(extract(epoch FROM s.created_at - :deadline) / 86400.0)) END AS adj
      FROM submissions s JOIN users u ON u.id = s.user_id
      WHERE s.status = 'graded' AND u.role = 'student')
    SELECT email, aid, CASE WHEN aid = 'softmax'
             THEN (array_agg(adj ORDER BY created_at DESC, id DESC))[1] ELSE max(adj) END
    FROM adjusted GROUP BY email, aid"""
    out: dict[str, dict[str, float]] = {}
    with app.extensions["grader"].db.session() as session:
        for email, aid, score in session.execute(text(sql), {"deadline": DEADLINE}):
            out.setdefault(email, {})[aid] = round(float(score), 4)
    return out


@contextmanager
def counting(app: Any) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block."""
    statements: list[str] = []
    engine = app.extensions["grader"].db.engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture(scope="module")
def course_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from sqlalchemy.exc import OperationalError

    from service_fixtures import POSTGRES_URL

    name = f"grader_gradebook_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL}: {exc.orig}", pytrace=False)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    root = tmp_path_factory.mktemp("gradebook")
    app = make_app(root / "instance", DATABASE_URL=url, BROKER_URL="memory://",
                   ASSIGNMENTS_DIR=str(build_course(root / "course")))
    started = time.perf_counter()
    populate(app)
    print(f"\n2,000 x 3 x 10 course built in {time.perf_counter() - started:.1f} s")
    try:
        yield app
    finally:
        app.extensions["grader"].db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def prof(course_app: Any) -> People:
    people = People(course_app)
    people.add("prof", role="instructor")
    return people


@pytest.fixture(scope="module")
def expected(course_app: Any) -> dict[str, dict[str, float]]:
    return expected_gradebook(course_app)


def _page_client(app: Any) -> Any:
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"email": "prof@example.edu", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    return client


def _timed(app: Any, send: Any) -> tuple[Any, list[str], float]:
    with counting(app) as statements:
        started = time.perf_counter()
        response = send()
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response, statements, elapsed


def _check_csv(body: str, expected: dict[str, dict[str, float]]) -> None:
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == STUDENTS
    for row in rows:
        want = expected.get(row["email"], {})
        for aid in POLICIES:
            assert (float(row[aid]) if row[aid] else None) == pytest.approx(want.get(aid), abs=1e-3), (row, want)
        assert float(row["total"]) == pytest.approx(sum(want.values()), abs=1e-2)


def _report(what: str, statements: list[str], elapsed: float) -> None:
    print(f"{what}: {len(statements)} SQL statements, {elapsed * 1000:.0f} ms")
    assert len(statements) <= MAX_QUERIES, f"{what} ran {len(statements)} statements:\n" + "\n".join(
        s.split("\n")[0][:160] for s in statements)


def test_the_gradebook_api_runs_a_constant_number_of_queries(course_app, prof, expected):
    client = course_app.test_client()
    client.get("/api/v1/gradebook", headers=prof.headers("prof"))  # warm: the assignments' rows and caches
    response, statements, elapsed = _timed(course_app, lambda: client.get("/api/v1/gradebook",
                                                                          headers=prof.headers("prof")))
    _report("API gradebook (JSON)", statements, elapsed)
    students = response.json["students"]
    assert len(students) == STUDENTS
    for student in students[:: STUDENTS // 100]:
        want = expected[student["email"]]
        got = {aid: g["score"] for aid, g in student["grades"].items() if g}
        assert got == pytest.approx(want, abs=1e-3)
        # the number of counted (graded) submissions is there too
        assert all(1 <= g["submissions"] <= PER_ASSIGNMENT for g in student["grades"].values() if g)

    response, statements, elapsed = _timed(course_app, lambda: client.get("/api/v1/gradebook?format=csv",
                                                                          headers=prof.headers("prof")))
    _report("API gradebook (CSV)", statements, elapsed)
    _check_csv(response.get_data(as_text=True), expected)


def test_the_instructor_gradebook_page_and_csv_run_a_constant_number_of_queries(course_app, prof, expected):
    client = _page_client(course_app)
    client.get("/instructor/gradebook")
    response, statements, elapsed = _timed(course_app, lambda: client.get("/instructor/gradebook?sort=total"))
    _report("gradebook page", statements, elapsed)
    html = response.get_data(as_text=True)
    assert html.count('<th scope="row" class="sticky">') == STUDENTS
    response, statements, elapsed = _timed(course_app, lambda: client.get("/instructor/gradebook.csv"))
    _report("gradebook page CSV", statements, elapsed)
    _check_csv(response.get_data(as_text=True), expected)
