"""End to end, with real Celery worker processes: a submission posted to the API gets graded.

Once on the embedded defaults (``grader dev``: SQLite, the filesystem broker,
a worker with beat, the web app) driven by the student CLI; once against real
Redis and PostgreSQL with ``grader worker``; and the failures of DESIGN.md's
reliability model: a worker killed mid-grading, the broker down at submit
time, the database briefly unreachable.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from grader.models import Report, Submission, TestResult
from service_fixtures import (
    FAST_RELIABILITY,
    SUBMISSIONS,
    People,
    Process,
    TcpProxy,
    free_port,
    grader_script,
    make_app,
    service_env,
    start_worker,
    svm_file,
    upload,
    wait_for,
    wait_for_heartbeat,
    wait_for_status,
)


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([grader_script(), *args], capture_output=True, text=True, env=env, timeout=timeout)


# --------------------------------------------------------------------------- embedded: grader dev + the CLI


def test_grader_dev_with_the_student_cli(tmp_path: Path) -> None:
    port = free_port()
    env = service_env(instance_path=tmp_path / "instance", worker_concurrency=1, **FAST_RELIABILITY)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["NO_COLOR"] = "1"
    # Started with SIGINT ignored, as a CI script's background job starts it: Ctrl-C must stop it all the same (it
    # did not, before grader dev installed its own SIGINT handler; seen in two fresh-clone .ci/run's).
    dev = Process([grader_script(), "dev", "--port", str(port)], env, tmp_path / "dev.log", cwd=tmp_path,
                  sigint_ignored=True)
    try:
        banner = wait_for(lambda: "Press Ctrl-C" in dev.output() and dev.output(), 60, "grader dev to start")
        url = f"http://127.0.0.1:{port}"
        assert url in banner
        logins = dict(re.findall(r"(\S+@example\.edu)\s+password (\S+)", banner))
        assert set(logins) == {"instructor@example.edu", "student@example.edu"}

        login = cli("login", "--server", url, "--email", "student@example.edu",
                    "--password", logins["student@example.edu"], env=env)
        assert login.returncode == 0, login.stderr
        assert "logged in to" in login.stdout and "student@example.edu (student)" in login.stdout
        creds = tmp_path / "config" / "grader" / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert json.loads(creds.read_text())["server"] == url

        bad = cli("login", "--server", url, "--email", "student@example.edu", "--password", "wrong", env=env)
        assert bad.returncode == 1 and bad.stderr.strip() == "error: wrong email or password (run `grader login` again)"

        submitted = cli("submit", "svm", str(SUBMISSIONS / "svm" / "bug_half_reg.py"), "--wait", env=env)
        assert submitted.returncode == 0, submitted.stderr + dev.output()[-3000:]
        assert "note: submitting bug_half_reg.py as linear_svm.py" in submitted.stderr
        out = submitted.stdout
        assert "FAIL" in out and "PASS" in out and "Hint:" in out
        assert "[hidden]" in out and "in hidden tests" in out  # the hidden test is masked for the student
        assert "Traceback" not in submitted.stderr
        sid = int(re.search(r"submission (\d+)", out).group(1))

        listed = cli("status", env=env)
        assert listed.returncode == 0 and re.search(rf"^\s*{sid}\s+svm\s.*graded", listed.stdout, re.M)
        shown = cli("status", str(sid), "--json", env=env)
        assert shown.returncode == 0
        body = json.loads(shown.stdout)
        assert body["status"] == "graded" and body["report"]["hidden_tests"] == 1

        unknown = cli("submit", "nope", str(SUBMISSIONS / "svm" / "correct_loops.py"), env=env)
        assert unknown.returncode == 2 and "unknown assignment 'nope'" in unknown.stderr
        unreadable = cli("submit", "svm", str(tmp_path / "missing.py"), env=env)
        assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr
        binary = tmp_path / "linear_svm.py"
        binary.write_bytes(b"\x00\x01\x02")
        rejected = cli("submit", "svm", str(binary), env=env)
        assert rejected.returncode == 2 and "binary file" in rejected.stderr
        other = cli("status", "99999", env=env)
        assert other.returncode == 2 and other.stderr.strip() == "error: no submission 99999"

        # The instructor sees everything, hidden tests included.
        instructor_env = {**env, "XDG_CONFIG_HOME": str(tmp_path / "config-instructor")}
        assert cli("login", "--server", url, "--email", "instructor@example.edu",
                   "--password", logins["instructor@example.edu"], env=instructor_env).returncode == 0
        full = json.loads(cli("status", str(sid), "--json", env=instructor_env).stdout)
        assert "hidden_tests" not in full["report"] and full["report"]["score"] == full["score"]
    finally:
        # Ctrl-C, to `grader dev` alone: nothing of the harness signals or kills its worker.
        started_processes = stop_like_a_user(dev, signal.SIGINT)
    # The pool process(es) and the sandbox's fork server were among them: the check covers the whole tree.
    commands = " ".join(started_processes.values())
    assert "celery" in commands and "forkserver" in commands, started_processes
    unreachable = cli("status", env=env, timeout=60)
    assert unreachable.returncode == 1 and "cannot reach the grader" in unreachable.stderr


def test_grader_dev_stops_everything_on_sigterm(tmp_path: Path) -> None:
    """`kill <pid>` of `grader dev` (a service manager, a closed terminal): the worker goes with it."""
    port = free_port()
    env = service_env(instance_path=tmp_path / "instance", worker_concurrency=1, **FAST_RELIABILITY)
    dev = Process([grader_script(), "dev", "--port", str(port)], env, tmp_path / "dev.log", cwd=tmp_path)
    try:
        wait_for(lambda: "Press Ctrl-C" in dev.output(), 60, "grader dev to start")
        # The worker is up once its pool process has started the sandbox's fork server.
        wait_for(lambda: "forkserver" in " ".join(_descendants(dev.popen.pid).values()), 60,
                 "the worker's pool process and its sandbox fork server")
    finally:
        started_processes = stop_like_a_user(dev, signal.SIGTERM)
    assert any("celery" in command for command in started_processes.values()), started_processes


# --------------------------------------------------------------------------- processes, as /proc shows them


def _process_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, state, start time in clock ticks) for every process of the machine."""
    table: dict[int, tuple[int, str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        table[int(entry)] = (int(fields[1]), fields[0], int(fields[19]))
    return table


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _descendants(root: int) -> dict[tuple[int, int], str]:
    """Every living process below ``root``, keyed by (pid, start time) so a reused pid is not mistaken for it."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found: dict[tuple[int, int], str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if table[pid][1] not in "ZX":
            found[(pid, table[pid][2])] = _command_line(pid)
        todo += children.get(pid, [])
    return found


def _still_running(processes: dict[tuple[int, int], str]) -> dict[tuple[int, int], str]:
    table = _process_table()
    return {key: command for key, command in processes.items()
            if key[0] in table and table[key[0]][2] == key[1] and table[key[0]][1] not in "ZX"}


def stop_like_a_user(dev: Process, signum: int) -> dict[tuple[int, int], str]:
    """Send ``signum`` to the `grader dev` process only, as Ctrl-C or `kill` does, and require that it exits
    with 0 and that every process it had started (the Celery worker, its pool, the sandbox's fork server and
    jobs) is gone within a few seconds: the parent-death signals of the sandbox need a moment. Survivors are
    named in the failure, then killed so that a failing run leaves nothing behind. Returns what was running."""
    started_processes = _descendants(dev.popen.pid)
    dev.popen.send_signal(signum)
    try:
        code = dev.popen.wait(40)
    except subprocess.TimeoutExpired:
        code = None
    survivors: dict[tuple[int, int], str] = {}
    try:
        wait_for(lambda: not _still_running(started_processes), 10, "the processes of grader dev to exit")
    except AssertionError:
        survivors = _still_running(started_processes)
    for pid, _ in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if code is None:
        # Hung: its threads' stacks go to its output (faulthandler on SIGUSR1) for the failure message, then the
        # harness cleans up and the test fails below.
        try:
            dev.popen.send_signal(signal.SIGUSR1)
            time.sleep(1)
        except ProcessLookupError:
            pass
        dev.stop()
    else:
        dev.log_file.close()
    assert code == 0, f"grader dev exited with {code} after signal {signum}:\n{dev.output()[-8000:]}"
    assert "stopped" in dev.output()
    assert not survivors, "still running after grader dev stopped:\n" + "\n".join(
        f"  pid {pid}: {command}" for (pid, _), command in survivors.items())
    return started_processes


# --------------------------------------------------------------------------- production: Redis + PostgreSQL


def _production_settings(database: str, broker: str, prefix: str, tmp_path: Path) -> dict[str, Any]:
    return dict(database_url=database, broker_url=broker, broker_prefix=prefix, queue=prefix.rstrip(":"),
                instance_path=tmp_path / "instance", **FAST_RELIABILITY)


def _app(settings: dict[str, Any]) -> Any:
    config = {k.upper(): v for k, v in settings.items()}
    return make_app(Path(config.pop("INSTANCE_PATH")), **config)


SLOW_SVM = b"import time\ntime.sleep(3)\n" + svm_file()


def test_redis_and_postgres_with_a_worker_killed_mid_grading(tmp_path, fresh_postgres, redis_url, redis_prefix):
    settings = _production_settings(fresh_postgres, redis_url, redis_prefix, tmp_path)
    app = _app(settings)
    people = People(app)
    people.add("alice")
    client = app.test_client()
    worker = start_worker(tmp_path, "worker-1", **settings)
    try:
        wait_for_heartbeat(app, process=worker)
        response = upload(client, people.headers("alice"))
        assert response.status_code == 202 and "warning" not in response.json
        graded = wait_for_status(app, response.json["id"], process=worker)
        assert graded.status == "graded" and graded.score == 35.0 and graded.attempts == 1
        shown = client.get(response.json["url"], headers=people.headers("alice")).json
        assert shown["status"] == "graded" and shown["report"]["status"] == "graded"
        with app.extensions["grader"].db.session() as session:
            (report,) = session.query(Report).filter_by(submission_id=graded.id).all()
            assert session.query(TestResult).filter_by(report_id=report.id).count() == len(report.data["tests"])

        # A worker killed mid-grading (kill -9 of the whole container): nothing is lost.
        slow = upload(client, people.headers("alice"), files=[("linear_svm.py", SLOW_SVM)]).json["id"]
        wait_for_status(app, slow, ("running",), timeout=30, process=worker)
        worker.kill()
    finally:
        worker.stop()
    with app.extensions["grader"].db.session() as session:
        assert session.get(Submission, slow).status == "running"  # its lease has not expired yet
    replacement = start_worker(tmp_path, "worker-2", **settings)
    try:
        done = wait_for_status(app, slow, timeout=60, process=replacement)
        assert done.status == "graded" and done.score == 35.0
        assert done.attempts == 2  # the sweeper re-queued it once the lease expired
        assert "sweeper: re-queued" in replacement.output()
    finally:
        replacement.stop()
    with app.extensions["grader"].db.session() as session:
        from grader import submissions

        assert not submissions.worker_alive(session, app.extensions["grader"].settings)  # it said goodbye


def test_broker_down_at_submit_is_graded_once_the_broker_is_back(tmp_path, fresh_postgres):
    port = free_port()
    settings = _production_settings(fresh_postgres, f"redis://127.0.0.1:{port}/0", "down-test:", tmp_path)
    app = _app(settings)
    people = People(app)
    people.add("alice")
    started = time.monotonic()
    response = upload(app.test_client(), people.headers("alice"))
    assert response.status_code == 202 and response.json["status"] == "queued"
    # A limit the product sets itself (worker/celery_app.py): publishing at submit time fails fast, three
    # attempts with a 3 s connect timeout at most, so a dead broker never holds the student's request.
    assert time.monotonic() - started < 10
    sid = response.json["id"]
    with app.extensions["grader"].db.session() as session:
        assert session.get(Submission, sid).enqueued_at is None  # stored, not yet queued
    redis = Process(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                    service_env(), tmp_path / "redis.log")
    worker = None
    try:
        wait_for(lambda: "Ready to accept connections" in redis.output(), 20, "redis-server")
        worker = start_worker(tmp_path, "worker", **settings)
        done = wait_for_status(app, sid, timeout=60, process=worker)
        assert done.status == "graded" and done.score == 35.0
    finally:
        if worker is not None:
            worker.stop()
        redis.stop()


def test_the_database_briefly_unreachable(tmp_path, fresh_postgres):
    url = make_url(fresh_postgres)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = make_app(tmp_path / "instance", DATABASE_URL=via_proxy, BROKER_URL="memory://")
    people = People(app)
    people.add("alice")
    client = app.test_client()
    assert client.get("/api/v1/submissions", headers=people.headers("alice")).status_code == 200

    # Down for longer than the retries: a clear 503, nothing half-done.
    proxy.pause()
    response = client.get("/api/v1/submissions", headers=people.headers("alice"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json == {"error": "the database is unavailable right now; nothing was stored, "
                                      "try again in a few seconds"}
    assert client.get("/healthz").status_code == 503
    failed = upload(client, people.headers("alice"))
    assert failed.status_code == 503

    # Down for a moment (a restart): the database comes back as soon as the request has run into the outage,
    # and the request rides it out.
    outage_hits: list[str] = []

    def back_once_hit(context: Any) -> None:
        outage_hits.append(type(context.original_exception).__name__)
        if proxy.listener is None:  # the first error only: later ones (other pooled connections) find it back
            proxy.resume()

    engine = app.extensions["grader"].db.engine
    event.listen(engine, "handle_error", back_once_hit)
    accepted = upload(client, people.headers("alice"))
    event.remove(engine, "handle_error", back_once_hit)
    assert outage_hits, "the upload never ran into the outage"
    assert accepted.status_code == 202, accepted.json
    listed = client.get("/api/v1/submissions", headers=people.headers("alice")).json["submissions"]
    assert [s["id"] for s in listed] == [accepted.json["id"]]  # stored exactly once
    proxy.pause()
