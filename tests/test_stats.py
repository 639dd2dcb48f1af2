"""The statistics page's queries on PostgreSQL: one basis (each student's counted submission), per-test pass
shares, the catalogued mistakes with their students, the other hints, and the submissions over time.

A small class on a real PostgreSQL database with real reports (the engine grades each fixture once, seed 11):

- alice: a correct SVM on time, then a last try whose code crashes in every test: her counted (best) submission
  is the correct one, so she passes every test, and her crash shows nowhere in the per-test table.
- bob: the 2016 half-reg convention (the checks recognise the catalogued ``svm_half_reg``).
- carol: no regularisation gradient (``svm_no_reg_grad``), once a day late.
- dave: only a submission the grader could not run (status error): he has no counted submission.
- erin: never submitted.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from service_fixtures import PASSWORD, SUBMISSIONS, People, iso, make_app, make_course

from grader import auth, submissions
from grader.dashboard import queries

DEADLINE = datetime(2026, 4, 19, 23, 59, tzinfo=timezone.utc)
CRASHING = b'''
def svm_loss_naive(W, X, y, reg):
    raise ValueError("not yet")


def svm_loss_vectorized(W, X, y, reg):
    raise ValueError("not yet")
'''


#: The course's SVM keeps four of its tests (grading takes a quarter of the time): what a student gets on the
#: loss at zero, the regularisation's known value, and the loss and gradient against the reference.
KEPT = ("naive_loss_at_zero", "naive_reg_known_value", "naive_loss_reference_reg", "naive_grad_reference_reg")


def keep_tests(folder: Path, kept: tuple[str, ...]) -> None:
    toml = folder / "svm" / "assignment.toml"
    head, *blocks = toml.read_text().split("\n[[tests]]\n")
    blocks = [b for b in blocks if b.split("\n", 1)[0].removeprefix("id = ").strip('"') in kept]
    assert len(blocks) == len(kept)
    toml.write_text("\n[[tests]]\n".join([head, *blocks]))


@lru_cache(maxsize=None)
def report_of(folder: Path, source: bytes) -> dict[str, Any]:
    from worker.assignments import get_assignment
    from worker.engine import grade

    return grade(get_assignment("svm", folder), {"linear_svm.py": source}, seed=11)


def fixture(name: str) -> bytes:
    return (SUBMISSIONS / "svm" / f"{name}.py").read_bytes()


def hand_in(app: Any, name: str, source: bytes, at: datetime, *, error: bool = False) -> int:
    state = app.extensions["grader"]
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        sub = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", source)], None, now=at)
        claim = submissions.claim(session, state.settings, sub.id, "test-worker")
        if error:
            submissions.fail(session, claim, "the sandbox could not start")
        else:
            submissions.finish(session, claim, report_of(state.settings.assignments_dir, source))
        return sub.id


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Any:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    tmp = tmp_path_factory.mktemp("stats")
    folder = make_course(tmp / "course", f"deadline = {iso(DEADLINE)}\nlate_penalty_per_day = 0.1\npolicy = \"best\"")
    keep_tests(folder, KEPT)
    app = make_app(tmp / "instance", DATABASE_URL=postgres_url, ASSIGNMENTS_DIR=str(folder))
    people = People(app)
    for name in ("alice", "bob", "carol", "dave", "erin"):
        people.add(name)
    people.add("prof", role="instructor")
    people.add("tara", role="ta")
    ids = {
        "alice_good": hand_in(app, "alice", fixture("correct_loops"), DEADLINE - timedelta(days=2, hours=3)),
        "alice_crash": hand_in(app, "alice", CRASHING, DEADLINE - timedelta(hours=2)),
        "bob": hand_in(app, "bob", fixture("bug_half_reg"), DEADLINE - timedelta(hours=1, minutes=30)),
        "carol": hand_in(app, "carol", fixture("bug_no_reg_grad"), DEADLINE + timedelta(hours=20)),
        "dave": hand_in(app, "dave", fixture("correct_loops"), DEADLINE - timedelta(hours=5), error=True),
    }
    yield app, ids
    app.extensions["grader"].db.engine.dispose()


def stats_of(app: Any) -> queries.AssignmentStats:
    state = app.extensions["grader"]
    with state.db.session() as session:
        return queries.assignment_stats(session, state.settings, "svm")


def test_every_figure_is_over_the_counted_submission(course: Any) -> None:
    app, ids = course
    stats = stats_of(app)
    assert (stats.students, stats.submitted) == (5, 3)  # dave's only submission could not be graded
    assert stats.submissions == {"queued": 0, "running": 0, "graded": 4, "error": 1}
    # Of 7 points: alice's full marks (not her crashed last try's 0), bob's 1, carol's 3 less 10% for a day late.
    assert sorted(stats.scores) == pytest.approx([1.0, 2.7, 7.0])
    assert stats.histogram == [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    tests = {t.test_id: t for t in stats.tests}
    assert list(tests) == [t.id for t in stats.assignment.spec.tests]  # every test, in the assignment's order
    # No test counts a crash: alice's crashed last try is not her counted submission.
    assert all(t.crashed == 0 for t in stats.tests)
    assert all(t.ran == 3 for t in stats.tests)
    assert tests["naive_loss_at_zero"].passed == 3
    reg = tests["naive_grad_reference_reg"]
    assert (reg.passed, reg.failed) == (1, 2)  # bob's half reg and carol's missing reg gradient fail it


def test_the_latest_graded_submission_would_have_shown_the_crash(course: Any) -> None:
    """The crashed report is really there (the basis is what hides it): every test of it is an error."""
    app, ids = course
    state = app.extensions["grader"]
    from grader.models import Report

    with state.db.session() as session:
        report = session.query(Report).filter(Report.submission_id == ids["alice_crash"]).one()
        statuses = {r.status for r in report.results}
    assert "error" in statuses and "passed" not in statuses


def test_the_recognised_mistakes_name_each_students_and_link_their_counted_submission(course: Any) -> None:
    app, ids = course
    stats = stats_of(app)
    found = {m.id: m for m in stats.mistakes}
    # One mistake per student: the fewest that explain all their diagnosed tests (bob's dW tests also fit a
    # missing factor 2, but his loss tests only fit the half-reg convention).
    assert set(found) == {"svm_half_reg", "svm_no_reg_grad"}
    half = found["svm_half_reg"]
    assert [(s.email, s.submission_id) for s in half.students] == [("bob@example.edu", ids["bob"])]
    assert half.message.startswith("Your loss equals what you get when you use the 2016 convention 0.5*reg")
    assert "It also equals" not in half.message
    assert "svm_loss_naive: gradient matches reference with regularisation (reg = 5e-6, 0.1, 50)" in half.tests
    no_grad = found["svm_no_reg_grad"]
    assert [(s.email, s.submission_id) for s in no_grad.students] == [("carol@example.edu", ids["carol"])]
    assert "leave the regularisation gradient 2*reg*W out of dW" in no_grad.message
    # Hints without a catalogued mistake: each counted once per student who got it.
    texts = {h.text: [s.email for s in h.students] for h in stats.hints}
    assert any("0.5*reg" in text and emails == ["bob@example.edu"] for text, emails in texts.items()), texts
    assert any("missing the regularisation gradient" in t and e == ["carol@example.edu"] for t, e in texts.items())


def test_explain_takes_the_fewest_mistakes_and_the_first_named_on_a_tie() -> None:
    assert queries.explain([("a", ["half", "factor"]), ("b", ["half"])]) == {"half": ["a", "b"]}
    assert queries.explain([("a", ["factor", "half"]), ("b", ["factor", "half"])]) == {"factor": ["a", "b"]}
    assert queries.explain([("a", ["x"]), ("b", ["y"])]) == {"x": ["a"], "y": ["b"]}
    assert queries.explain([]) == {}


def test_submissions_over_time_around_the_deadline(course: Any) -> None:
    app, _ids = course
    line = stats_of(app).timeline
    assert line is not None
    assert (line.total, line.late) == (5, 1)  # carol's, 20 hours late; dave's error counts as a submission
    assert line.deadline == DEADLINE
    # Two days and a bit: hourly bins would be more than 48, so three-hour ones.
    assert line.unit == "3 hours"
    assert line.bins[0].start <= DEADLINE - timedelta(days=2, hours=3) < line.bins[0].end
    assert line.bins[-1].start <= DEADLINE + timedelta(hours=20) < line.bins[-1].end
    assert sum(b.count for b in line.bins) == 5
    assert all(b.end - b.start == timedelta(hours=3) for b in line.bins)
    assert all(b.start.hour % 3 == 0 and b.start.minute == 0 for b in line.bins)


def test_the_page_shows_it_all_with_text_alternatives(course: Any) -> None:
    app, ids = course
    client = login(app, "prof")
    html = client.get("/instructor/assignments/svm/stats").get_data(as_text=True)
    assert "each student's <em>counted</em> submission" in html
    assert f'href="/submissions/{ids["bob"]}"' in html and f'href="/submissions/{ids["carol"]}"' in html
    assert f'href="/submissions/{ids["alice_crash"]}"' not in html
    assert "<code>svm_half_reg</code>" in html
    assert 'class="chart timeline" role="img"' in html
    assert "The deadline is Sun 19 Apr 2026 23:59 UTC; 1 of the submissions came after it." in html
    assert 'stroke-dasharray="5 3"' in html  # the deadline line
    # The per-test table: alice passes, so 100% of 3 pass the test at W = 0; the crash column is all zeros.
    row = re.search(r'<tr id="test-naive_loss_at_zero">(.*?)</tr>', html, re.S).group(1)
    assert "100%" in row and "(3)" in row
    # A TA sees the statistics too; a student does not.
    assert login(app, "tara").get("/instructor/assignments/svm/stats").status_code == 200
    assert login(app, "alice").get("/instructor/assignments/svm/stats").status_code == 403


def login(app: Any, name: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": f"{name}@example.edu", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    return client


def test_the_timeline_chart_marks_the_deadline_and_says_what_it_shows() -> None:
    from grader.dashboard.charts import timeline_svg

    start = datetime(2026, 4, 18, tzinfo=timezone.utc)
    bins = [(start + timedelta(days=k), start + timedelta(days=k + 1), n) for k, n in enumerate([2, 0, 7, 1])]
    svg = str(timeline_svg(bins, deadline=start + timedelta(days=2, hours=12), unit="day", title="T <x>",
                           description="D & d"))
    assert svg.count('fill="#0b57d0"') == 3  # a bar per non-empty day
    assert "<title id=\"timeline-title\">T &lt;x&gt;</title>" in svg and "D &amp; d" in svg
    assert "Mon 20 Apr UTC: 7" in svg  # each bar's own text
    # The deadline, halfway through the third of four days, is drawn 62.5% along the plot.
    line = re.search(r'<line x1="([0-9.]+)" x2="[0-9.]+" y1="[0-9.]+" y2="[0-9.]+" stroke="#a40e26"', svg)
    left, plot_w = 44, 680 - 44 - 14
    assert float(line.group(1)) == pytest.approx(left + 0.625 * plot_w, abs=0.1)
    assert "deadline 20 Apr 12:00 UTC" in svg
    assert "submissions per day" in svg
    assert timeline_svg([], deadline=None, unit="day", title="", description="") is None
