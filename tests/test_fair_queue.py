"""The queue is fair between students (issue 10, item 7).

Messages stay first-in-first-out; what a message claims is the fairest waiting submission
(:func:`grader.submissions.claim_next`). These tests replay the messages in the order the broker
delivers them and check which submission each one grades, on SQLite and PostgreSQL (the real
workers' path, with its claims, leases and sweeper, is tests/test_faults.py).
"""

from __future__ import annotations

from typing import Any

from service_fixtures import People, make_app, svm_file, upload

from grader import submissions


def _submit(app: Any, name: str) -> int:
    state = app.extensions["grader"]
    from grader import auth

    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        return submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", svm_file())], None).id


def _take(app: Any, message_id: int, worker: str = "w") -> int | None:
    state = app.extensions["grader"]
    with state.db.session() as session:
        claim = submissions.claim_next(session, state.settings, message_id, worker)
        return None if claim is None else claim.submission_id


def _finish(app: Any, sid: int) -> None:
    from grader.models import Submission

    state = app.extensions["grader"]
    with state.db.session() as session:
        row = session.get(Submission, sid)
        claim = submissions.Claim(sid, row.attempts, row.assignment_id, {})
        assert submissions.finish(session, claim, {"status": "graded", "score": 1.0, "max_score": 1.0, "tests": []})


def _position(app: Any, sid: int) -> int:
    with app.extensions["grader"].db.session() as session:
        return submissions.queue_position(session, sid)


def _scenario(app: Any) -> None:
    people = People(app)
    for name in ("alice", "bob", "carol"):
        people.add(name)
    # Alice hands in three in a row, then Bob and Carol one each: the broker delivers a1 a2 a3 b1 c1.
    a1, a2, a3 = (_submit(app, "alice") for _ in range(3))
    b1, c1 = _submit(app, "bob"), _submit(app, "carol")
    assert [_position(app, s) for s in (a1, b1, c1, a2, a3)] == [0, 1, 2, 3, 4]
    messages = [a1, a2, a3, b1, c1]
    # Two workers take the first two messages: Alice's first, then Bob's (not Alice's second).
    assert _take(app, messages.pop(0)) == a1
    assert _take(app, messages.pop(0)) == b1
    assert _position(app, c1) == 0 and _position(app, a2) == 1
    # Alice's first is graded; her second still waits behind Carol's first.
    _finish(app, a1)
    assert _take(app, messages.pop(0)) == c1
    assert _take(app, messages.pop(0)) == a2
    assert _take(app, messages.pop(0)) == a3
    # Every message graded exactly one submission, and the extra deliveries find nothing.
    assert _take(app, a1) is None and _take(app, b1) is None


def test_a_students_second_submission_waits_behind_other_students_first(app):
    _scenario(app)


def test_the_fair_order_on_postgres(tmp_path, fresh_postgres):
    app = make_app(tmp_path / "instance", DATABASE_URL=fresh_postgres)
    try:
        _scenario(app)
    finally:
        app.extensions["grader"].db.engine.dispose()


def test_retries_keep_their_delay_and_duplicates_claim_nothing_extra(app, people):
    state = app.extensions["grader"]
    a1 = _submit(app, "alice")
    assert _take(app, a1) == a1
    with state.db.session() as session:
        from grader.models import Submission

        row = session.get(Submission, a1)
        claim = submissions.Claim(a1, row.attempts, row.assignment_id, {})
        assert submissions.release(session, state.settings, claim, "sandbox hiccup") == "queued"
    b1 = _submit(app, "bob")
    # Bob's message must not grade Alice's retry early (it waits for its own, delayed message).
    assert _take(app, b1) == b1
    assert _take(app, b1) is None
    assert _take(app, a1) == a1  # its own message


def test_a_retrys_own_message_grades_the_retry_not_a_fairer_row(app, people):
    """Otherwise the retry would be left with no message out (until the sweeper's timeout)."""
    state = app.extensions["grader"]
    a1 = _submit(app, "alice")
    assert _take(app, a1) == a1
    with state.db.session() as session:
        from grader.models import Submission

        row = session.get(Submission, a1)
        claim = submissions.Claim(a1, row.attempts, row.assignment_id, {})
        assert submissions.release(session, state.settings, claim, "sandbox hiccup") == "queued"
    b1 = _submit(app, "bob")  # fairer than Alice's retry (Alice has had a grading in this backlog)
    assert _take(app, a1) == a1  # the retry's delayed message arrives first: it grades the retry
    assert _take(app, b1) == b1


def test_the_api_shows_the_place_in_the_fair_queue(app, client, people):
    a = [upload(client, people.headers("alice")).json["id"] for _ in range(2)]
    b = upload(client, people.headers("bob")).json["id"]
    place = {sid: client.get(f"/api/v1/submissions/{sid}", headers=people.headers(
        "alice" if sid in a else "bob")).json["queue_position"] for sid in (*a, b)}
    assert place == {a[0]: 0, b: 1, a[1]: 2}


def test_a_real_worker_grades_in_the_fair_order(tmp_path, fresh_postgres, redis_url, redis_prefix):
    """Redis delivers a1 a2 a3 b1; one worker (one grading at a time) grades a1 b1 a2 a3."""
    from service_fixtures import FAST_RELIABILITY, start_worker, wait_for_heartbeat, wait_for_status

    from grader.models import Submission

    settings = dict(database_url=fresh_postgres, broker_url=redis_url, broker_prefix=redis_prefix,
                    queue=redis_prefix.rstrip(":"), instance_path=tmp_path / "instance", **FAST_RELIABILITY)
    config = {k.upper(): v for k, v in settings.items()}
    app = make_app(config.pop("INSTANCE_PATH"), **config)
    people = People(app)
    people.add("alice")
    people.add("bob")
    client = app.test_client()
    ids = [upload(client, people.headers("alice")).json["id"] for _ in range(3)]
    ids.append(upload(client, people.headers("bob")).json["id"])
    a1, a2, a3, b1 = ids
    worker = start_worker(tmp_path, "worker", **settings)
    try:
        wait_for_heartbeat(app, process=worker)
        for sid in ids:
            assert wait_for_status(app, sid, timeout=90, process=worker).status == "graded"
    finally:
        worker.stop()
    with app.extensions["grader"].db.session() as session:
        order = [s.id for s in session.query(Submission).order_by(Submission.started_at)]
        assert all(s.attempts == 1 for s in session.query(Submission))
    assert order == [a1, b1, a2, a3], worker.output()[-3000:]
    assert "is fairer, grading it first" in worker.output()


def test_a_row_queued_while_the_broker_was_down_does_not_leave_another_without_a_message(app, people):
    """a1 was stored while the broker was down (no message); b1's message grades a1 (fairer: older)...
    then b1 has no message out, and the next sweep must publish one for it at once."""
    from datetime import timedelta

    from grader.models import utcnow

    state = app.extensions["grader"]
    a1 = _submit(app, "alice")  # submitted with publish=None: enqueued_at stays NULL
    b1 = _submit(app, "bob")
    with state.db.session() as session:
        assert submissions.enqueue(session, lambda sid: None, b1)  # b1's message is out
    assert _take(app, b1) == a1
    published: list[int] = []
    with state.db.session() as session:
        result = submissions.sweep(session, state.settings, published.append, now=utcnow() + timedelta(seconds=1))
    assert published == [b1] and result.published == [b1]
