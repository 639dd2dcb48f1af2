"""Fault injection against the real components: nothing is lost, nothing is graded twice.

DESIGN.md's reliability model, tested with real Celery worker processes (``grader worker``, the
real sandbox), PostgreSQL (a fresh database per run), Redis and, for the web restart, ``grader
serve`` (gunicorn), all on 127.0.0.1. Each test submits a batch, injects one fault while the batch is
queued and running, waits (bounded) and checks the invariant on the database:

- every submission ends ``graded`` with exactly one report (and one test-result row per test),
  or ``error`` with a non-empty reason;
- nothing is left ``queued`` or ``running``;
- attempts stay within ``GRADER_MAX_ATTEMPTS``, and a grading started at most once per attempt.

"In the middle of grading" is made observable and wide by a test-only check added to a copy of the
svm assignment (``GRADER_ASSIGNMENTS_DIR``): it runs on the worker's trusted side, appends
``start <token> <pid>`` to a log file for every grading it takes part in (so the tests count
gradings and know which process grades what), and, driven by comments in the submitted file, sleeps
(``# fault: sleep=2``) or SIGKILLs its own worker process (``# fault: kill-worker``: a grading that
keeps killing the worker, like an OOM kill or a crash in native code would).

The Redis test restarts and flushes a private ``redis-server`` on another port, so the shared one is
untouched. Like the other service tests these FAIL, never skip, without PostgreSQL or Redis.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from grader.models import Report, Submission, SubmissionFile, TestResult
from service_fixtures import (
    People,
    Process,
    free_port,
    grader_script,
    make_app,
    make_course,
    service_env,
    svm_file,
    upload,
    wait_for,
    wait_for_heartbeat,
)

SECRET = "test-secret-key-0123456789abcdef"
#: Short leases and limits so that recovery happens within seconds (the lease must exceed the hard limit).
FAULT_RELIABILITY = dict(sweep_seconds=1, heartbeat_seconds=1, queued_timeout_seconds=6, task_soft_time_limit=6,
                         task_time_limit=7, lease_seconds=8, max_attempts=3)
FINAL = ("graded", "error")

HOOK_TEST = """
[[tests]]
id = "fault_hook"
name = "fault injection hook (tests only)"
points = 1
visibility = "visible"
check = "fault_hook"
"""

HOOK = '''

# --- test-only fault injection (tests/test_faults.py) --------------------------------------------
import os as _os
import re as _re
import signal as _signal
import time as _time

from worker.checks.context import Outcome as _Outcome

_FAULT_LOG = {log!r}


def fault_hook(ctx):
    source = "\\n".join(ctx.sources.values())
    token = _re.search(r"# fault-token: (\\S+)", source)
    with open(_FAULT_LOG, "a") as log:
        log.write(f"start {{token.group(1) if token else '-'}} {{_os.getpid()}}\\n")
    if "# fault: kill-worker" in source:
        _os.kill(_os.getpid(), _signal.SIGKILL)
    if "# fault: hang" in source:  # ignores Celery's soft time limit: only the hard limit stops it
        _end = _time.monotonic() + 120
        while _time.monotonic() < _end:
            try:
                _time.sleep(0.5)
            except BaseException:
                pass
    sleep = _re.search(r"# fault: sleep=([0-9.]+)", source)
    if sleep:
        _time.sleep(float(sleep.group(1)))
    return _Outcome("fault hook passed")
'''

CORRECT = ("correct_loops", "correct_masks", "correct_choose", "correct_chatty")
BUGGY = ("bug_half_reg", "bug_grad_sign", "bug_no_reg", "bug_mutates_input")


# --------------------------------------------------------------------------- the harness


class Course:
    """A copy of the svm assignment (no submission limits) with the fault hook as its first test."""

    def __init__(self, root: Path) -> None:
        self.dir = make_course(root / "course", policy="max_submissions_per_hour = 0\ncooldown_seconds = 0")
        self.log = root / "fault-hook.log"
        self.log.touch()
        svm = self.dir / "svm"
        toml = (svm / "assignment.toml").read_text()
        first = toml.index("\n[[tests]]")
        (svm / "assignment.toml").write_text(toml[:first] + "\n" + HOOK_TEST + toml[first:])
        with open(svm / "tests.py", "a") as f:
            f.write(HOOK.format(log=str(self.log)))

    def starts(self) -> list[tuple[str, int]]:
        """(token, pid) of every grading the hook saw start, in order."""
        out = []
        for line in self.log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():  # (a line being written is complete next time)
                out.append((parts[1], int(parts[2])))
        return out


def source(name: str = "correct_loops", *, sleep: float = 0, kill: bool = False, hang: bool = False,
           token: str | None = None) -> tuple[str, bytes]:
    """A fixture submission with a unique token (and fault directives for the hook)."""
    token = token or uuid.uuid4().hex
    extra = f"\n# fault-token: {token}\n"
    if sleep:
        extra += f"# fault: sleep={sleep}\n"
    if kill:
        extra += "# fault: kill-worker\n"
    if hang:
        extra += "# fault: hang\n"
    return token, svm_file(name) + extra.encode()


def mix(n: int, *, sleep: float = 0, every: int = 1) -> list[tuple[str, bytes]]:
    """``n`` submissions, correct and buggy alternating; every ``every``-th one sleeps ``sleep`` s."""
    names = [name for pair in zip(CORRECT, BUGGY) for name in pair]
    return [source(names[i % len(names)], sleep=sleep if i % every == 0 else 0) for i in range(n)]


class Deployment:
    """Settings shared by the test's app (in-process), its workers and its web servers."""

    def __init__(self, tmp_path: Path, database: str, broker: str, prefix: str, course: Course,
                 **overrides: Any) -> None:
        self.tmp_path = tmp_path
        self.course = course
        self.settings: dict[str, Any] = dict(
            database_url=database, broker_url=broker, broker_prefix=prefix, queue=(prefix.rstrip(":") or "grader"),
            instance_path=tmp_path / "instance", assignments_dir=course.dir, **{**FAULT_RELIABILITY, **overrides})
        config = {k.upper(): v for k, v in self.settings.items()}
        # The test's own connections are named, so the PostgreSQL test can spare them.
        config["DATABASE_URL"] = _with_application_name(database, "grader-fault-test")
        self.app = make_app(Path(config.pop("INSTANCE_PATH")), **config)
        self.people = People(self.app)
        self.processes: list[Process] = []

    @property
    def db(self) -> Any:
        return self.app.extensions["grader"].db

    def worker(self, name: str, *, concurrency: int = 2, beat: bool = True) -> Process:
        env = service_env(secret_key=SECRET, **self.settings)
        command = [grader_script(), "worker", "--loglevel", "INFO", "--concurrency", str(concurrency)]
        process = Process(command + (["--beat"] if beat else []), env, self.tmp_path / f"{name}.log",
                          cwd=self.tmp_path)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(f"===== {p.log.name}\n{p.output()[-5000:]}" for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.db.engine.dispose()

    def submit(self, student: str, files: list[tuple[str, bytes]]) -> dict[str, int]:
        """Upload through the API (in-process Flask client); token -> submission id."""
        client = self.app.test_client()
        out = {}
        for token, content in files:
            response = upload(client, self.people.headers(student), files=[("linear_svm.py", content)])
            assert response.status_code == 202, response.get_data(as_text=True)
            out[token] = response.json["id"]
        return out

    def statuses(self, ids: Any = None) -> dict[int, str]:
        with self.db.session() as session:
            query = select(Submission.id, Submission.status)
            if ids is not None:
                query = query.where(Submission.id.in_(list(ids)))
            return dict(session.execute(query).all())

    def wait_until(self, predicate: Any, timeout: float, what: str) -> Any:
        try:
            return wait_for(predicate, timeout, what, interval=0.1)
        except AssertionError:
            print(self.logs())
            raise

    def wait_running(self, ids: Any, n: int = 1, timeout: float = 30) -> list[int]:
        def running() -> list[int] | None:
            found = [i for i, s in self.statuses(ids).items() if s == "running"]
            return found if len(found) >= n else None

        return self.wait_until(running, timeout, f"{n} submission(s) running")

    def wait_final(self, ids: Any, timeout: float) -> None:
        ids = set(ids)
        self.wait_until(lambda: all(s in FINAL for s in self.statuses(ids).values()), timeout,
                        "every submission graded or in error")

    def check_invariant(self, ids: Any, timeout: float = 60) -> dict[int, Submission]:
        """Wait for the batch, then: graded exactly once or error with a reason; nothing queued or running."""
        ids = set(ids)
        self.wait_final(ids, timeout)
        max_attempts = self.settings["max_attempts"]
        with self.db.session() as session:
            rows = {s.id: s for s in session.scalars(select(Submission))}
            assert set(rows) >= ids
            stuck = {i: s.status for i, s in rows.items() if s.status not in FINAL}
            assert not stuck, f"submissions left behind: {stuck}"
            reports = Counter(session.scalars(select(Report.submission_id)))
            results = dict(session.execute(select(Report.id, func.count(TestResult.id))
                                           .join(TestResult, TestResult.report_id == Report.id)
                                           .group_by(Report.id)).all())
            for sid, sub in rows.items():
                assert 1 <= sub.attempts <= max_attempts, (sid, sub.attempts)
                if sub.status == "graded":
                    assert reports[sid] == 1, f"submission {sid} has {reports[sid]} reports"
                    (report,) = session.scalars(select(Report).where(Report.submission_id == sid))
                    assert results.get(report.id, 0) == len(report.data["tests"]) > 0
                    assert sub.score == report.score and sub.finished_at is not None and sub.lease_expires is None
                else:
                    assert sub.error and sub.error.strip(), f"submission {sid} is in error without a reason"
                    assert reports[sid] <= 1
            session.expunge_all()
        return rows

    def check_gradings(self, rows: dict[int, Submission], *, exactly_once: bool = False) -> Counter[str]:
        """The hook's log against the rows: a grading started at most once per attempt (exactly once if asked).

        Rows are grouped by their file's token: a client that retried an upload whose answer it never got
        may have stored the same file twice (two rows, each graded once).
        """
        starts = Counter(token for token, _ in self.course.starts())
        tokens = self.tokens_of(rows)
        attempts: Counter[str] = Counter()
        graded: Counter[str] = Counter()
        for sid, sub in rows.items():
            attempts[tokens[sid]] += sub.attempts
            graded[tokens[sid]] += sub.status == "graded"
        for token in attempts:
            assert starts[token] <= attempts[token], \
                f"{token}: {starts[token]} gradings started in {attempts[token]} attempts"
            assert starts[token] >= graded[token], f"{token}: graded without the grading having started"
            if exactly_once:
                assert starts[token] == attempts[token] == 1, \
                    f"{token}: {starts[token]} gradings, {attempts[token]} attempts"
        assert set(starts) <= set(attempts), "a grading started for a file that is not in the database"
        return starts

    def tokens_of(self, ids: Any) -> dict[int, str]:
        with self.db.session() as session:
            files = session.execute(select(SubmissionFile.submission_id, SubmissionFile.content)
                                    .where(SubmissionFile.submission_id.in_(list(ids)))).all()
        return {sid: re.search(rb"# fault-token: (\S+)", content).group(1).decode() for sid, content in files}


def _with_application_name(url: str, name: str) -> str:
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


@pytest.fixture
def course(tmp_path: Path) -> Course:
    return Course(tmp_path)


@pytest.fixture
def deployment(tmp_path: Path, fresh_postgres: str, redis_url: str, redis_prefix: str, course: Course
               ) -> Iterator[Deployment]:
    d = Deployment(tmp_path, fresh_postgres, redis_url, redis_prefix, course)
    d.people.add("alice")
    yield d
    d.stop()


# --------------------------------------------------------------------------- the faults


def test_a_worker_process_killed_mid_grading(deployment: Deployment) -> None:
    """SIGKILL of the pool process that grades, then of the whole worker (power loss): all recovered."""
    d = deployment
    worker = d.worker("worker-1")
    wait_for_heartbeat(d.app, process=worker)
    started = time.monotonic()
    files = mix(10, sleep=1.5, every=3)
    sleepers = {token for token, content in files if b"# fault: sleep=" in content}
    batch = d.submit("alice", files)
    ids = set(batch.values())
    # The pool process grading a slow submission, from the hook's log: killed while it grades.
    token, pid = d.wait_until(lambda: next((s for s in d.course.starts() if s[0] in sleepers), None), 30,
                              "a slow grading to start")
    assert d.statuses([batch[token]])[batch[token]] == "running"
    os.kill(pid, signal.SIGKILL)
    # Then the whole worker and its children, while others are running.
    d.wait_running(ids, 1)
    worker.kill()
    replacement = d.worker("worker-2")
    rows = d.check_invariant(ids, timeout=90)
    d.check_gradings(rows)
    print(f"recovered in {time.monotonic() - started:.1f} s")
    assert all(rows[i].status == "graded" for i in ids), {i: rows[i].error for i in ids}
    assert rows[batch[token]].attempts >= 2
    assert "sweeper: re-queued" in replacement.output() + worker.output()


class RedisServer:
    """A private redis-server on its own port (the shared one is never restarted or flushed)."""

    def __init__(self, tmp_path: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is required for the Redis fault test (apt-get install redis-server)",
                        pytrace=False)
        self.tmp_path = tmp_path
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.generation = 0
        self.process: Process | None = None
        self.start()

    def start(self) -> None:
        self.generation += 1
        log = self.tmp_path / f"redis-{self.generation}.log"
        self.process = Process(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(self.tmp_path)], service_env(), log)
        wait_for(lambda: "Ready to accept connections" in self.process.output(), 20, "redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()  # SIGTERM: without --save nothing is written, the queue is gone
            self.process = None

    def flushall(self) -> None:
        import redis

        redis.Redis.from_url(self.url, socket_connect_timeout=3).flushall()


def test_redis_restarted_and_flushed_while_submissions_are_queued_and_running(tmp_path, fresh_postgres, course):
    """A private Redis (no persistence, like the README's) restarted while a batch is queued and running, with
    uploads while it is down; later flushed while another batch is queued and running."""
    server = RedisServer(tmp_path)
    d = Deployment(tmp_path, fresh_postgres, server.url, "faults:", course)
    d.people.add("alice")
    try:
        worker = d.worker("worker")
        wait_for_heartbeat(d.app, process=worker)
        first = d.submit("alice", mix(10, sleep=1.5, every=2))
        d.wait_running(first.values(), 1)
        assert "queued" in d.statuses(first.values()).values()
        # Restart: the queued messages and the unacknowledged one die with the server.
        server.stop()
        during = d.submit("alice", mix(3))  # accepted while the broker is down (published by the sweeper)
        server.start()
        d.wait_until(lambda: sum(s == "graded" for s in d.statuses(first.values()).values()) >= 3, 60,
                     "gradings after the restart")
        second = d.submit("alice", mix(8, sleep=1.5, every=2))
        d.wait_running(second.values(), 1)
        assert "queued" in d.statuses(second.values()).values()
        server.flushall()  # everything in Redis is gone at once
        ids = {*first.values(), *during.values(), *second.values()}
        rows = d.check_invariant(ids, timeout=120)
        d.check_gradings(rows)
        assert all(rows[i].status == "graded" for i in ids), {i: rows[i].error for i in ids}
        # The gradings in progress during the restart were not interrupted (no attempt wasted), and the
        # messages lost with Redis were published again by the sweeper.
        assert all(rows[i].attempts == 1 for i in ids), {i: rows[i].attempts for i in ids}
        assert "Connection to broker lost" in worker.output() and "sweeper: published" in worker.output()
    finally:
        d.stop()
        server.stop()


SLOW_WRITES = """
CREATE FUNCTION fault_slow_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.25); RETURN NEW; END $$;
CREATE TRIGGER fault_slow_claim BEFORE UPDATE ON submissions FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION fault_slow_write();
CREATE TRIGGER fault_slow_report BEFORE INSERT ON reports FOR EACH ROW EXECUTE FUNCTION fault_slow_write();
"""


def test_postgres_connections_dropped_while_the_worker_writes(deployment: Deployment) -> None:
    """The worker's PostgreSQL connection is terminated (pg_terminate_backend) in the middle of its writes.
    Test-only triggers make each status change (the claim, storing the result) and each report insert take
    250 ms; a killer thread terminates the worker backend running one of them, alternately, about once a
    second. The worker retries the transaction on a new connection; nothing is lost or stored twice."""
    d = deployment
    admin = create_engine(_with_application_name(d.settings["database_url"], "grader-fault-killer"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(SLOW_WRITES))
    worker = d.worker("worker")
    wait_for_heartbeat(d.app, process=worker)
    batch = d.submit("alice", mix(12, sleep=0.3, every=2))
    ids = set(batch.values())
    killed: list[str] = []
    stop = threading.Event()
    targets = ["UPDATE submissions", "INSERT INTO reports"]  # the claim (or release), then storing a report

    def killer() -> None:
        while not stop.wait(0.02):
            target = targets[len(killed) % 2]
            with admin.connect() as conn:
                row = conn.execute(text(
                    "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                    "AND application_name NOT IN ('grader-fault-test', 'grader-fault-killer') "
                    "AND state = 'active' AND query LIKE :q LIMIT 1"), {"q": target + "%"}).first()
                hit = row is not None and conn.execute(text("SELECT pg_terminate_backend(:p)"),
                                                       {"p": row.pid}).scalar()
            if hit:
                killed.append(target)
                stop.wait(1.0)  # let the retry through, then strike again

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        d.wait_until(lambda: sum(s in FINAL for s in d.statuses(ids).values()) >= len(ids) - 2, 90,
                     "the batch graded under fire")
    finally:
        stop.set()
        thread.join(10)
    admin.dispose()  # (the triggers stay: dropping them would lock both tables against the worker's writes)
    rows = d.check_invariant(ids, timeout=90)
    d.check_gradings(rows)
    assert all(rows[i].status == "graded" for i in ids), {i: rows[i].error for i in ids}
    writes = Counter(killed)
    print(f"terminated the worker's connection {len(killed)} times, in: {dict(writes)}")
    assert writes["UPDATE submissions"] >= 2 and writes["INSERT INTO reports"] >= 2, writes


def test_the_same_message_delivered_twice_and_two_workers_racing(deployment: Deployment) -> None:
    """Two worker processes; every submission's message published three times: each graded once."""
    d = deployment
    workers = [d.worker("worker-a", concurrency=1, beat=True), d.worker("worker-b", concurrency=1, beat=False)]
    for worker in workers:
        wait_for(lambda: "ready." in worker.output(), 30, "both workers ready")
    publish = d.app.extensions["grader"].publish
    batch = d.submit("alice", mix(8, sleep=0.5))
    for sid in batch.values():  # two more deliveries of each message, both workers consuming
        publish(sid)
        publish(sid)
    ids = set(batch.values())
    rows = d.check_invariant(ids, timeout=60)
    d.check_gradings(rows, exactly_once=True)
    assert all(rows[i].status == "graded" for i in ids)
    skipped = sum(w.output().count("nothing to claim") for w in workers)
    assert skipped >= len(ids), f"only {skipped} duplicate deliveries were seen and skipped"
    graders = Counter(r.worker for r in rows.values())
    print(f"graded by {dict(graders)}; {skipped} duplicate deliveries skipped")
    assert len(graders) == 2  # both workers took part (each has a node name of its own)

    # Two workers on one machine have a heartbeat row each: stopping one leaves the other "alive".
    from grader import submissions

    workers[1].stop()
    with d.db.session() as session:
        alive = submissions.live_workers(session, d.app.extensions["grader"].settings)
        assert len(alive) == 1 and alive[0].hostname.startswith("grader-"), alive


def test_concurrent_claims_of_one_row_on_postgres(tmp_path, fresh_postgres) -> None:
    """The claim is one conditional UPDATE: of 6 threads racing for each row, exactly one wins; after a
    lease is taken over, only the new owner's report is stored."""
    from grader import submissions
    from grader.models import User

    app = make_app(tmp_path / "instance", DATABASE_URL=fresh_postgres, BROKER_URL="memory://")
    people = People(app)
    people.add("prof", role="instructor")  # not rate-limited
    state = app.extensions["grader"]
    settings = state.settings
    with state.db.session() as session:
        prof = session.get(User, people.ids["prof"])
        ids = [submissions.submit(session, settings, prof, "svm", [("linear_svm.py", svm_file())], None).id
               for _ in range(20)]
    barrier = threading.Barrier(6)
    wins: list[tuple[int, str]] = []

    def racer(name: str) -> None:
        for sid in ids:
            barrier.wait(10)
            with state.db.session() as session:
                if submissions.claim(session, settings, sid, name) is not None:
                    wins.append((sid, name))

    threads = [threading.Thread(target=racer, args=(f"worker-{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(sid for sid, _ in wins) == ids  # each row claimed exactly once
    assert len({name for _, name in wins}) > 1  # really a race

    # A lease taken over: the old and the new owner finish at the same moment; one report is stored.
    sid = ids[0]
    with state.db.session() as session:
        old = submissions.Claim(sid, 1, "svm", {})
        session.execute(text("UPDATE submissions SET lease_expires = now() - interval '1 minute' WHERE id = :i"),
                        {"i": sid})
        session.commit()
        new = submissions.claim(session, settings, sid, "worker-new")
        assert new is not None and new.attempt == 2
    report = {"status": "graded", "score": 1.0, "max_score": 2.0, "tests": []}
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def finisher(claim: Any) -> None:
        barrier.wait(10)
        with state.db.session() as session:
            results.append(submissions.finish(session, claim, report))

    threads = [threading.Thread(target=finisher, args=(c,)) for c in (old, new)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, True]
    with state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Report).where(Report.submission_id == sid)) == 1
        assert session.get(Submission, sid).attempts == 2
    state.db.engine.dispose()


SLOW_ENQUEUE = """
CREATE FUNCTION fault_slow_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$;
CREATE TRIGGER fault_slow_enqueue BEFORE UPDATE ON submissions FOR EACH ROW
    WHEN (OLD.enqueued_at IS NULL AND NEW.enqueued_at IS NOT NULL) EXECUTE FUNCTION fault_slow_enqueue();
"""


def test_the_web_process_restarted_during_uploads(deployment: Deployment) -> None:
    """``grader serve`` (gunicorn) stopped with SIGTERM, then killed with SIGKILL, during a burst of uploads
    from 6 clients that retry on connection errors: every accepted upload is graded, nothing is lost."""
    import requests

    d = deployment
    worker = d.worker("worker")
    students = [f"student{i}" for i in range(6)]
    for name in students:
        d.people.add(name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = service_env(secret_key=SECRET, **d.settings)
    servers: list[Process] = []

    def serve() -> Process:
        process = Process([grader_script(), "serve", "--port", str(port), "--workers", "2"], env,
                          d.tmp_path / f"web-{len(servers) + 1}.log", cwd=d.tmp_path)
        servers.append(process)
        d.processes.append(process)
        return process

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    admin = create_engine(_with_application_name(d.settings["database_url"], "grader-fault-killer"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(SLOW_ENQUEUE))

    def in_enqueue() -> bool:
        with admin.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                "AND query LIKE 'UPDATE submissions SET enqueued_at%'")).scalar())

    web = serve()
    d.wait_until(up, 30, "grader serve")
    wait_for_heartbeat(d.app, process=worker)

    lock = threading.Lock()
    accepted: dict[str, int] = {}  # token -> the id of its 202
    unanswered: Counter[str] = Counter()  # token -> attempts that got no answer (maybe stored, maybe not)
    refused: Counter[int] = Counter()
    deadline = time.monotonic() + 90

    def client(student: str) -> None:
        session = requests.Session()
        headers = d.people.headers(student)
        for token, content in mix(6, sleep=0.2, every=3):
            while time.monotonic() < deadline:
                try:
                    response = session.post(f"{url}/api/v1/assignments/svm/submissions", headers=headers,
                                            files=[("file", ("linear_svm.py", content))], timeout=15)
                except requests.RequestException:
                    with lock:
                        unanswered[token] += 1
                    time.sleep(0.1)
                    continue
                if response.status_code == 202:
                    with lock:
                        accepted[token] = response.json()["id"]
                    break
                with lock:
                    refused[response.status_code] += 1
                assert response.status_code in (502, 503), response.text
                time.sleep(0.2)
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(s,), daemon=True) for s in students]
    for t in threads:
        t.start()
    d.wait_until(lambda: len(accepted) >= 6, 30, "the first uploads")
    web.popen.send_signal(signal.SIGTERM)  # a deploy: graceful stop, then a new server
    web.popen.wait(40)
    web = serve()
    d.wait_until(lambda: len(accepted) >= 18, 60, "uploads after the first restart")
    # A crash (master and workers die at once) at the worst moment: a request has committed its row and
    # published the message but not answered yet (it is recording enqueued_at, slowed down by a trigger).
    d.wait_until(in_enqueue, 30, "an upload between its commit and its answer")
    web.kill()
    web = serve()
    for t in threads:
        t.join(max(1, deadline - time.monotonic()))
    assert len(accepted) == 36, f"only {len(accepted)} of 36 uploads were accepted; refused: {refused}"
    admin.dispose()

    rows = d.check_invariant(accepted.values(), timeout=90)
    tokens = d.tokens_of(rows)
    assert set(tokens.values()) == set(accepted), "a stored file no client uploaded, or an upload lost"
    per_token = Counter(tokens.values())
    for token, n in per_token.items():
        assert n == 1 or unanswered[token] >= n - 1, f"{token} stored {n} times but answered every time"
        assert tokens[accepted[token]] == token
    d.check_gradings(rows)
    assert all(r.status == "graded" for r in rows.values()), {i: r.error for i, r in rows.items()}
    twice = sum(n - 1 for n in per_token.values())
    print(f"{len(accepted)} accepted, {sum(unanswered.values())} attempts without an answer, "
          f"{twice} stored twice (both graded), refused: {dict(refused)}")
    assert twice >= 1  # the crash did hit a request after its commit: its retry is a second, graded row


def test_a_grading_that_keeps_killing_the_worker_ends_in_error_after_bounded_attempts(
        tmp_path, fresh_postgres, redis_url, redis_prefix, course) -> None:
    """Three poison submissions next to normal ones: one SIGKILLs its worker process, one outlasts the soft
    time limit, one ignores the soft limit until the hard limit kills the process. Each is tried
    ``max_attempts`` times, then ends in ``error`` with the reason; the normal ones are graded."""
    d = Deployment(tmp_path, fresh_postgres, redis_url, redis_prefix, course,
                   task_soft_time_limit=5, task_time_limit=6, lease_seconds=7)
    d.people.add("alice")
    try:
        worker = d.worker("worker")
        wait_for_heartbeat(d.app, process=worker)
        started = time.monotonic()
        kill = source(kill=True)
        slow = source(sleep=30)
        hang = source(hang=True)
        normal = mix(4)
        batch = d.submit("alice", [kill, slow, hang, *normal])
        rows = d.check_invariant(batch.values(), timeout=120)
        starts = d.check_gradings(rows)
        elapsed = time.monotonic() - started
        for token, _ in normal:
            assert rows[batch[token]].status == "graded"
        for token, reason in ((kill[0], "grading was interrupted 3 times (worker lost or timed out)"),
                              (hang[0], "grading was interrupted 3 times (worker lost or timed out)"),
                              (slow[0], "grading failed 3 times: grading took longer than 5 s")):
            row = rows[batch[token]]
            assert row.status == "error" and row.attempts == 3, (row.status, row.attempts, row.error)
            assert reason in (row.error or ""), row.error
            assert starts[token] == 3
        print(f"three poison submissions settled in {elapsed:.1f} s")
    finally:
        d.stop()

