"""The submission service layer on the embedded database: claim, finish, release, sweep, policy, gradebook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from grader import auth, gradebook, submissions
from grader.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, TooLarge
from grader.models import Report, Submission, TestResult
from grader.reports import student_view
from service_fixtures import iso, make_app, make_course, now, svm_file


class FakeBroker:
    """A publisher that records ids, or fails like a broker that is down."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.down = False

    def __call__(self, submission_id: int) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.sent.append(submission_id)


def _submit(app: Any, user_id: int, broker: FakeBroker | None = None, files: list[tuple[str, bytes]] | None = None,
            at: Any = None, assignment: str = "svm") -> Submission:
    state = app.extensions["grader"]
    with state.db.session() as session:
        user = session.get(auth.User, user_id)
        return submissions.submit(session, state.settings, user, assignment,
                                  files if files is not None else [("linear_svm.py", svm_file())],
                                  broker if broker is not None else FakeBroker(), now=at)


def _claim(app: Any, sid: int, worker: str = "w1", at: Any = None) -> submissions.Claim | None:
    state = app.extensions["grader"]
    with state.db.session() as session:
        return submissions.claim(session, state.settings, sid, worker, now=at)


def _row(app: Any, sid: int) -> Submission:
    with app.extensions["grader"].db.session() as session:
        return session.get(Submission, sid)


def _report(score: float = 35.0, status: str = "graded") -> dict[str, Any]:
    tests = [{"id": "visible_one", "name": "visible one", "score": score - 2 if score >= 2 else 0, "max_score": 33.0,
              "status": "passed", "visibility": "visible", "output": "fine", "details": {"error": 1e-12}},
             {"id": "hidden_one", "name": "hidden one", "score": min(score, 2.0), "max_score": 2.0,
              "status": "passed" if score >= 2 else "failed", "visibility": "hidden", "output": "secret output",
              "details": {"worst": [1, 2]}}]
    return {"assignment": "svm", "status": status, "score": score, "max_score": 35.0, "seed": 7,
            "grader_version": "0.1.0", "tests": tests, "output": "2 of 2 tests passed.", "student_output": "x",
            "execution_time": 0.3, "student_time": 0.2}


def test_submit_commits_the_row_and_files_before_publishing(app, people):
    seen = {}

    def publish(sid: int) -> None:
        # The message is sent only once the row is committed: another connection sees it queued.
        seen["row"] = _row(app, sid)

    state = app.extensions["grader"]
    with state.db.session() as session:
        user = session.get(auth.User, people.ids["alice"])
        sub = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", svm_file())], publish)
    assert seen["row"].status == "queued" and seen["row"].enqueued_at is None
    row = _row(app, sub.id)
    assert row.status == "queued" and row.enqueued_at is not None and row.attempts == 0
    claim = _claim(app, sub.id)
    assert claim is not None and claim.files == {"linear_svm.py": svm_file()}


def test_broker_down_at_submit_keeps_the_submission_and_the_sweeper_queues_it_later(app, people):
    broker = FakeBroker()
    broker.down = True
    sub = _submit(app, people.ids["alice"], broker)
    row = _row(app, sub.id)
    assert row.status == "queued" and row.enqueued_at is None and broker.sent == []
    state = app.extensions["grader"]
    with state.db.session() as session:
        assert submissions.sweep(session, state.settings, broker).published == []  # still down
    broker.down = False
    with state.db.session() as session:
        assert submissions.sweep(session, state.settings, broker).published == [sub.id]
    assert broker.sent == [sub.id] and _row(app, sub.id).enqueued_at is not None
    with state.db.session() as session:  # published recently: not again
        assert submissions.sweep(session, state.settings, broker).published == []


def test_a_duplicate_delivery_claims_nothing(app, people):
    sub = _submit(app, people.ids["alice"])
    first = _claim(app, sub.id, "w1")
    assert first is not None and first.attempt == 1
    assert _claim(app, sub.id, "w2") is None
    row = _row(app, sub.id)
    assert row.status == "running" and row.worker == "w1" and row.attempts == 1


def test_finish_stores_report_results_and_status_together(app, people):
    sub = _submit(app, people.ids["alice"])
    claim = _claim(app, sub.id)
    state = app.extensions["grader"]
    with state.db.session() as session:
        assert submissions.finish(session, claim, _report(33.0))
    with state.db.session() as session:
        row = session.get(Submission, sub.id)
        assert (row.status, row.score, row.max_score, row.lease_expires) == ("graded", 33.0, 35.0, None)
        (report,) = session.query(Report).filter_by(submission_id=sub.id).all()
        assert report.data["score"] == 33.0 and report.seed == 7
        results = session.query(TestResult).filter_by(report_id=report.id).order_by(TestResult.id).all()
        assert [(r.test_id, r.visibility, r.score) for r in results] == [("visible_one", "visible", 31.0),
                                                                        ("hidden_one", "hidden", 2.0)]
    assert _claim(app, sub.id) is None  # graded rows are never claimed again


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owner(app, people):
    sub = _submit(app, people.ids["alice"])
    state = app.extensions["grader"]
    lease = timedelta(seconds=state.settings.lease_seconds + 1)
    old = _claim(app, sub.id, "slow")
    new = _claim(app, sub.id, "fresh", at=now() + lease)  # the lease expired: the row can be taken over
    assert old is not None and new is not None and new.attempt == 2
    with state.db.session() as session:
        assert not submissions.finish(session, old, _report(1.0))
        assert submissions.finish(session, new, _report(35.0))
    assert _row(app, sub.id).score == 35.0


def test_release_requeues_then_gives_up_with_a_reason(app, people):
    sub = _submit(app, people.ids["alice"])
    state = app.extensions["grader"]
    for attempt in range(1, state.settings.max_attempts + 1):
        claim = _claim(app, sub.id)
        assert claim is not None and claim.attempt == attempt
        with state.db.session() as session:
            status = submissions.release(session, state.settings, claim, "the sandbox failed")
        assert status == ("error" if attempt == state.settings.max_attempts else "queued")
    row = _row(app, sub.id)
    assert row.status == "error" and row.error == "grading failed 3 times: the sandbox failed"
    assert _claim(app, sub.id) is None


def test_sweeper_requeues_expired_leases_and_ends_in_error_after_max_attempts(app, people):
    broker = FakeBroker()
    sub = _submit(app, people.ids["alice"], broker)
    state = app.extensions["grader"]
    settings = state.settings
    t = now()
    for attempt in range(1, settings.max_attempts + 1):
        assert _claim(app, sub.id, at=t) is not None  # a worker takes it ... and dies
        t += timedelta(seconds=settings.lease_seconds + 1)
        with state.db.session() as session:
            result = submissions.sweep(session, settings, broker, now=t)
        if attempt < settings.max_attempts:
            assert result.requeued == [sub.id] and result.published == [sub.id]
            assert _row(app, sub.id).status == "queued"
        else:
            assert result.failed == [sub.id]
    row = _row(app, sub.id)
    assert row.status == "error"
    assert row.error.startswith("grading was interrupted 3 times (worker lost or timed out)")


def test_sweeper_leaves_live_leases_alone_and_republishes_lost_messages(app, people):
    broker = FakeBroker()
    running = _submit(app, people.ids["alice"], broker)
    waiting = _submit(app, people.ids["bob"], broker)
    state = app.extensions["grader"]
    later = now() + timedelta(seconds=state.settings.queued_timeout_seconds + 1)
    _claim(app, running.id, at=later - timedelta(seconds=10))  # its lease is still valid at `later`
    with state.db.session() as session:
        result = submissions.sweep(session, state.settings, broker)
    assert result.as_dict() == {"requeued": [], "published": [], "failed": []}
    with state.db.session() as session:
        result = submissions.sweep(session, state.settings, broker, now=later)
    assert result.published == [waiting.id]  # its message was lost: published again (a duplicate is harmless)


@pytest.mark.parametrize("files, error, message", [
    ([], Invalid, "no file uploaded"),
    ([("linear_svm.py", b"")], Invalid, "is empty"),
    ([("linear_svm.py", b"x = 1\n" * 100_000)], TooLarge, r"a submitted file may be at most 512 KiB"),
    ([("linear_svm.py", b"\x00\x01binary")], Invalid, "binary file"),
    ([("linear_svm.py", b"x = '\xff'\n")], Invalid, "not UTF-8"),
    ([("../linear_svm.py", svm_file())], Invalid, "contains a path"),
    ([("svm.py", svm_file())], Invalid, "unexpected file 'svm.py'"),
    ([("linear_svm.py", svm_file()), ("linear_svm.py", svm_file())], Invalid, "uploaded twice"),
    ([("linear_svm.py", b"def f(:\n")], Invalid, "SyntaxError"),
])
def test_bad_files_are_rejected_and_nothing_is_stored(app, people, files, error, message):
    broker = FakeBroker()
    with pytest.raises(error, match=message):
        _submit(app, people.ids["alice"], broker, files=files)
    assert broker.sent == []
    with app.extensions["grader"].db.session() as session:
        assert session.query(Submission).count() == 0


def test_unknown_assignment(app, people):
    with pytest.raises(NotFound, match="unknown assignment 'nope'"):
        _submit(app, people.ids["alice"], assignment="nope")


def test_regrade_keeps_earlier_reports_and_refuses_running_ones(app, people):
    broker = FakeBroker()
    sub = _submit(app, people.ids["alice"], broker)
    state = app.extensions["grader"]
    claim = _claim(app, sub.id)
    with state.db.session() as session, pytest.raises(Conflict, match="is running"):
        submissions.regrade(session, sub.id, broker)
    with state.db.session() as session:
        submissions.finish(session, claim, _report(20.0))
        again = submissions.regrade(session, sub.id, broker)
    assert again.status == "queued" and again.attempts == 0 and broker.sent == [sub.id, sub.id]
    with state.db.session() as session:
        submissions.finish(session, _claim(app, sub.id), _report(35.0))
        assert [r.score for r in session.query(Report).filter_by(submission_id=sub.id).order_by(Report.id)] == [20, 35]
        assert submissions.regrade_all(session, state.settings, "svm", broker) == [sub.id]


# --------------------------------------------------------------------------- policy


def _course_app(tmp_path, policy: str) -> Any:
    return make_app(tmp_path / "instance", ASSIGNMENTS_DIR=str(make_course(tmp_path / "course", policy)))


def _student(app: Any, name: str = "carol") -> int:
    with app.extensions["grader"].db.session() as session:
        user = auth.create_user(session, f"{name}@example.edu", password="password123")
        session.commit()
        return user.id


def test_submissions_per_hour_limit_says_when_to_retry(tmp_path):
    app = _course_app(tmp_path, "max_submissions_per_hour = 2")
    uid = _student(app)
    t = now()
    _submit(app, uid, at=t - timedelta(minutes=50))
    _submit(app, uid, at=t - timedelta(minutes=10))
    with pytest.raises(RateLimited, match="at most 2 submissions of svm per hour") as info:
        _submit(app, uid, at=t)
    assert 590 <= info.value.retry_after <= 601  # when the one from 50 minutes ago leaves the window
    _submit(app, uid, at=t + timedelta(minutes=11))


def test_cooldown_between_submissions(tmp_path):
    app = _course_app(tmp_path, "cooldown_seconds = 120\nmax_submissions_per_hour = 0")
    uid = _student(app)
    t = now()
    _submit(app, uid, at=t)
    with pytest.raises(RateLimited, match="please wait 90 s") as info:
        _submit(app, uid, at=t + timedelta(seconds=30))
    assert info.value.retry_after == 90


def test_hard_deadline_closes_submissions_for_students_only(tmp_path):
    t = now()
    app = _course_app(tmp_path, f"deadline = {iso(t - timedelta(days=3))}\nhard_deadline = {iso(t - timedelta(hours=1))}")
    uid = _student(app)
    with pytest.raises(Forbidden, match="hard deadline .* has passed"):
        _submit(app, uid)
    with app.extensions["grader"].db.session() as session:
        prof = auth.create_user(session, "prof@example.edu", role="instructor")
        session.commit()
        pid = prof.id
    assert _submit(app, pid).status == "queued"


def test_gradebook_best_and_last_with_late_penalty(tmp_path):
    t = now()
    deadline = t - timedelta(days=2)
    policy = f"deadline = {iso(deadline)}\nlate_penalty_per_day = 0.25\nmax_submissions_per_hour = 0\n"
    for rule, expected in (("best", (30.0, 0)), ("last", (17.5, 2))):
        base = tmp_path / rule
        app = make_app(base / "instance",
                       ASSIGNMENTS_DIR=str(make_course(base / "course", policy + f'policy = "{rule}"')))
        uid = _student(app)
        graded = [(deadline - timedelta(days=1), 30.0), (deadline + timedelta(hours=30), 35.0),
                  (deadline + timedelta(hours=5), 10.0)]
        state = app.extensions["grader"]
        for at, score in sorted(graded):
            sub = _submit(app, uid, at=at)
            with state.db.session() as session:
                submissions.finish(session, _claim(app, sub.id), _report(score))
        failed = _submit(app, uid, at=t)  # an infrastructure error never counts
        with state.db.session() as session:
            c = _claim(app, failed.id)
            session.execute(Submission.__table__.update().where(Submission.id == failed.id)
                            .values(attempts=state.settings.max_attempts))
            session.commit()
            submissions.release(session, state.settings, submissions.Claim(c.submission_id, 3, "svm", {}), "x")
        with state.db.session() as session:
            book = gradebook.build(session, state.settings)
        (row,) = book.students
        grade = row.grades["svm"]
        # best: 30 on time beats 35 * (1 - 2 * 0.25) = 17.5 and 10 * 0.75; last: 35 submitted 30 h late -> 2 days.
        assert (grade.score, grade.late_days) == expected, rule
        assert grade.submissions == 3
        csv_text = book.to_csv()
        assert csv_text.splitlines()[0] == "email,name,svm,total,svm_submission,svm_late_days"
        assert csv_text.splitlines()[1].startswith(f"carol@example.edu,,{expected[0]:g},{expected[0]:g},")


# --------------------------------------------------------------------------- what students see


def test_student_view_masks_hidden_and_after_due_date_tests():
    report = _report(35.0)
    report["tests"].append({"id": "late_one", "name": "late one", "score": 0.0, "max_score": 1.0, "status": "failed",
                            "visibility": "after_due_date", "output": "late secret", "details": {"x": 1}})
    before = student_view(report, deadline_passed=False)
    masked = [t for t in before["tests"] if t["status"] == "hidden"]
    assert [t["id"] for t in masked] == ["hidden_one", "late_one"]
    for t in masked:
        assert t["score"] is None and t["details"] == {} and "secret" not in t["output"]
    assert (before["score"], before["max_score"], before["hidden_max_score"]) == (33.0, 33.0, 3.0)
    assert "student_output" not in before and "execution_time" not in before
    assert "1 of 1 shown tests passed; 2 hidden tests (3 points) not shown." == before["output"]
    assert "secret" not in repr(before)
    after = student_view(report, deadline_passed=True)
    assert [t["id"] for t in after["tests"] if t["status"] == "hidden"] == ["hidden_one"]
    assert report["tests"][1]["output"] == "secret output"  # the stored report is untouched
