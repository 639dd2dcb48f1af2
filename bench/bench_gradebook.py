"""Benchmark: the gradebook of a course with 2,000 students, 3 assignments and 10 submissions each.

The course (60,000 graded or failed submissions, spread around a deadline with late penalties, one
policy ``last``) is built in a fresh PostgreSQL database with the same bulk inserts as
``tests/test_gradebook_scale.py``. Then, each the median (and min) of ``--repeats`` runs, with the
number of SQL statements it ran:

- ``gradebook.build`` alone (the service layer: three queries and the policies),
- ``GET /api/v1/gradebook`` (JSON) and ``?format=csv`` (an instructor's token),
- ``GET /instructor/gradebook`` (the page, sorted by total) and ``/instructor/gradebook.csv`` (logged in).

The CPU column is this process's CPU time (the service's and the web app's Python work), which a busy machine
inflates far less than the wall time.

With ``--late-days N`` the course also has a term budget of N free late days and one student in 20 an
extension of two days on the SVM, so every student's row is charged in deadline order (the late-day rule).

Usage: python bench/bench_gradebook.py [--repeats 7] [--students 2000] [--late-days N]
PostgreSQL: ``GRADER_BENCH_POSTGRES_URL`` (default: ``GRADER_TEST_POSTGRES_URL`` or the local server).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
if os.environ.get("GRADER_BENCH_POSTGRES_URL"):  # read by service_fixtures when imported
    os.environ["GRADER_TEST_POSTGRES_URL"] = os.environ["GRADER_BENCH_POSTGRES_URL"]

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import test_gradebook_scale as scale  # noqa: E402
from service_fixtures import POSTGRES_URL, People, _admin_engine, make_app  # noqa: E402


def measure(app: Any, repeats: int, send: Callable[[], Any]) -> tuple[float, float, float, int]:
    """Median and min wall time, median CPU time of this process (the app's Python work: comparable on a busy
    machine, where wall times are not; PostgreSQL's own work is not in it), and the SQL statements."""
    send()  # warm
    times, cpu, statements = [], [], 0
    for _ in range(repeats):
        with scale.counting(app) as seen:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = send()
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        statements = len(seen)
        status = getattr(response, "status_code", 200)
        assert status == 200, status
    return statistics.median(times), min(times), statistics.median(cpu), statements


def late_days(app: Any, budget: int) -> int:
    """Set the term's budget and give one student in 20 a two-day SVM extension; returns how many."""
    from grader import deadlines

    state = app.extensions["grader"]
    with state.db.session() as session:
        deadlines.set_late_day_budget(session, "bench", budget)
        session.execute(text(
            "INSERT INTO extensions (user_id, assignment_id, deadline, hard_deadline, reason, created_at) "
            "SELECT id, 'svm', CAST(:deadline AS timestamptz) + interval '2 days', NULL, 'bench', now() "
            "FROM users WHERE role = 'student' AND id % 20 = 0"), {"deadline": scale.DEADLINE})
        session.commit()
        return int(session.execute(text("SELECT count(*) FROM extensions")).scalar() or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--students", type=int, default=scale.STUDENTS)
    parser.add_argument("--late-days", type=int, default=None, help="A term budget of free late days (and "
                                                                    "extensions for one student in 20).")
    args = parser.parse_args()

    name = f"grader_bench_gradebook_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    root = Path(tempfile.mkdtemp(prefix="grader-bench-gradebook-"))
    app = make_app(root / "instance", DATABASE_URL=url, BROKER_URL="memory://",
                   ASSIGNMENTS_DIR=str(scale.build_course(root / "course")))
    try:
        started = time.perf_counter()
        scale.populate(app, students=args.students)
        with app.extensions["grader"].db.session() as session:
            rows = session.execute(text("SELECT count(*) FROM submissions")).scalar()
        print(f"course: {args.students} students x 3 assignments x {scale.PER_ASSIGNMENT} submissions "
              f"= {rows} rows, built in {time.perf_counter() - started:.1f} s (PostgreSQL {name})")
        if args.late_days is not None:
            print(f"late days: a budget of {args.late_days}, {late_days(app, args.late_days)} extensions")
        people = People(app)
        people.add("prof", role="instructor")
        api = app.test_client()
        page = scale._page_client(app)
        headers = people.headers("prof")
        state = app.extensions["grader"]

        def build() -> Any:
            from grader import gradebook

            with state.db.session() as session:
                return gradebook.build(session, state.settings)

        cases = [
            ("gradebook.build (service layer)", build),
            ("API JSON  GET /api/v1/gradebook", lambda: api.get("/api/v1/gradebook", headers=headers)),
            ("API CSV   GET /api/v1/gradebook?format=csv",
             lambda: api.get("/api/v1/gradebook?format=csv", headers=headers)),
            ("page      GET /instructor/gradebook?sort=total", lambda: page.get("/instructor/gradebook?sort=total")),
            ("page CSV  GET /instructor/gradebook.csv", lambda: page.get("/instructor/gradebook.csv")),
        ]
        print(f"{'':48} {'median':>8} {'min':>8} {'CPU':>8} {'SQL':>4}   ({args.repeats} repeats; load "
              f"{os.getloadavg()[0]:.1f})")
        for label, send in cases:
            median, best, cpu, statements = measure(app, args.repeats, send)
            print(f"{label:48} {1000 * median:6.0f} ms {1000 * best:6.0f} ms {1000 * cpu:6.0f} ms {statements:4}")
    finally:
        state = app.extensions["grader"]
        state.db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
