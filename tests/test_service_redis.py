"""The service layer's submit / sweep / regrade scenarios of tests/test_service.py, against the real Redis broker.

tests/test_service.py drives the service layer through a ``FakeBroker`` (fast,
and it can fail on demand). Here the same scenarios publish through the app's
own Celery publisher to Redis (``GRADER_TEST_REDIS_URL``, a key prefix and a
queue private to each test), reached through a TCP proxy that can take the
broker away; what arrived is read back from Redis with kombu, as a worker
would receive it: the task's name and the submission id, nothing else.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy.engine import make_url

from grader import auth, submissions
from grader.models import Report, Submission
from service_fixtures import People, TcpProxy, make_app, now, svm_file
from worker.celery_app import GRADE_TASK


class Broker:
    """The app's Redis broker as a worker sees it, and a switch to take it away."""

    def __init__(self, app: Any, proxy: TcpProxy, redis_url: str, prefix: str) -> None:
        self.app = app
        self.proxy = proxy
        self.redis_url = redis_url
        self.prefix = prefix
        self.queue = app.extensions["grader"].settings.queue

    def waiting(self) -> int:
        """Messages in the queue's Redis list, counted on the server itself (not through the proxy)."""
        import redis

        return int(redis.Redis.from_url(self.redis_url).llen(f"{self.prefix}{self.queue}"))

    def receive(self) -> list[int]:
        """Take every waiting message off the queue, as a worker would; returns the submission ids in order."""
        assert self.proxy.listener is not None, "the broker is down"
        received: list[int] = []
        expected = self.waiting()
        celery = self.app.extensions["grader"].celery
        with celery.connection_for_read() as connection:
            channel = connection.default_channel
            while (message := channel.basic_get(self.queue, no_ack=True)) is not None:
                assert message.headers["task"] == GRADE_TASK
                args, kwargs, _embed = message.decode()
                assert kwargs == {} and len(args) == 1 and isinstance(args[0], int), (args, kwargs)
                received.append(args[0])
        assert len(received) == expected and self.waiting() == 0
        return received


@pytest.fixture
def broker(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Broker]:
    url = make_url(redis_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 6379))
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = make_app(tmp_path / "instance", BROKER_URL=via_proxy, BROKER_PREFIX=redis_prefix,
                   QUEUE=redis_prefix.rstrip(":"))
    yield Broker(app, proxy, redis_url, redis_prefix)
    proxy.pause()
    app.extensions["grader"].db.engine.dispose()


@pytest.fixture
def students(broker: Broker) -> People:
    people = People(broker.app)
    people.add("alice")
    people.add("bob")
    return people


def _submit(broker: Broker, user_id: int) -> Submission:
    state = broker.app.extensions["grader"]
    with state.db.session() as session:
        user = session.get(auth.User, user_id)
        return submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", svm_file())],
                                  state.publish)


def _sweep(broker: Broker, at: Any = None) -> submissions.SweepResult:
    state = broker.app.extensions["grader"]
    with state.db.session() as session:
        return submissions.sweep(session, state.settings, state.publish, now=at)


def _claim(broker: Broker, sid: int, worker: str = "w1", at: Any = None) -> submissions.Claim | None:
    state = broker.app.extensions["grader"]
    with state.db.session() as session:
        return submissions.claim(session, state.settings, sid, worker, now=at)


def _row(broker: Broker, sid: int) -> Submission:
    with broker.app.extensions["grader"].db.session() as session:
        return session.get(Submission, sid)


def _report(score: float) -> dict[str, Any]:
    return {"assignment": "svm", "status": "graded", "score": score, "max_score": 35.0, "seed": 7,
            "grader_version": "0.1.0", "output": "", "tests": [
                {"id": "one", "name": "one", "score": score, "max_score": 35.0, "status": "passed",
                 "visibility": "visible", "output": "", "details": {}}]}


def test_a_submission_reaches_redis_as_its_id_and_the_worker_finds_the_committed_row(broker, students):
    sub = _submit(broker, students.ids["alice"])
    assert _row(broker, sub.id).enqueued_at is not None  # published, and recorded as such
    assert broker.receive() == [sub.id]
    claim = _claim(broker, sub.id)  # what a worker does with the message: the row and its files are there
    assert claim is not None and claim.files == {"linear_svm.py": svm_file()} and claim.attempt == 1
    assert _claim(broker, sub.id, "w2") is None  # a duplicate delivery of the same id claims nothing


def test_broker_down_at_submit_keeps_the_submission_and_the_sweeper_queues_it_once_redis_is_back(broker, students):
    broker.proxy.pause()
    sub = _submit(broker, students.ids["alice"])  # the student still gets the stored submission
    row = _row(broker, sub.id)
    assert row.status == "queued" and row.enqueued_at is None
    assert broker.waiting() == 0
    assert _sweep(broker).published == []  # still down: nothing published, nothing lost
    broker.proxy.resume()
    assert _sweep(broker).published == [sub.id]
    assert broker.receive() == [sub.id] and _row(broker, sub.id).enqueued_at is not None
    assert _sweep(broker).published == [] and broker.waiting() == 0  # published recently: not again


def test_sweeper_requeues_expired_leases_through_redis_and_ends_in_error_after_max_attempts(broker, students):
    sub = _submit(broker, students.ids["alice"])
    assert broker.receive() == [sub.id]
    settings = broker.app.extensions["grader"].settings
    t = now()
    for attempt in range(1, settings.max_attempts + 1):
        assert _claim(broker, sub.id, at=t) is not None  # a worker takes it ... and dies
        t += timedelta(seconds=settings.lease_seconds + 1)
        result = _sweep(broker, at=t)
        if attempt < settings.max_attempts:
            assert result.requeued == [sub.id] and result.published == [sub.id]
            assert broker.receive() == [sub.id]  # a new message for the next worker
        else:
            assert result.failed == [sub.id] and result.published == []
            assert broker.waiting() == 0
    row = _row(broker, sub.id)
    assert row.status == "error" and row.error.startswith("grading was interrupted 3 times")


def test_sweeper_leaves_live_leases_alone_and_republishes_lost_messages_to_redis(broker, students):
    running = _submit(broker, students.ids["alice"])
    waiting = _submit(broker, students.ids["bob"])
    assert broker.receive() == [running.id, waiting.id]  # then lost: taken off the queue, never acknowledged
    later = now() + timedelta(seconds=broker.app.extensions["grader"].settings.queued_timeout_seconds + 1)
    _claim(broker, running.id, at=later - timedelta(seconds=10))  # its lease is still valid at `later`
    assert _sweep(broker).as_dict() == {"requeued": [], "published": [], "failed": []}
    assert broker.waiting() == 0
    assert _sweep(broker, at=later).published == [waiting.id]
    assert broker.receive() == [waiting.id]


def test_regrades_publish_to_redis_and_keep_earlier_reports(broker, students):
    state = broker.app.extensions["grader"]
    first = _submit(broker, students.ids["alice"])
    second = _submit(broker, students.ids["bob"])
    assert broker.receive() == [first.id, second.id]
    for sid in (first.id, second.id):
        with state.db.session() as session:
            assert submissions.finish(session, _claim(broker, sid), _report(20.0))
    with state.db.session() as session:
        again = submissions.regrade(session, first.id, state.publish)
    assert again.status == "queued" and again.attempts == 0
    assert broker.receive() == [first.id]
    with state.db.session() as session:
        assert submissions.finish(session, _claim(broker, first.id), _report(35.0))
        assert submissions.regrade_all(session, state.settings, "svm", state.publish) == [first.id, second.id]
    assert sorted(broker.receive()) == [first.id, second.id]
    for sid in (first.id, second.id):
        with state.db.session() as session:
            assert submissions.finish(session, _claim(broker, sid), _report(35.0))
    with state.db.session() as session:
        scores = [r.score for r in session.query(Report).filter_by(submission_id=first.id).order_by(Report.id)]
    assert scores == [20, 35, 35]  # every report is kept
