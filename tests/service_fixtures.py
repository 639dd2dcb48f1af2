"""Fixtures and helpers for the service tests (database, API, workers). Import what a test module uses.

PostgreSQL and Redis come from ``GRADER_TEST_POSTGRES_URL`` and
``GRADER_TEST_REDIS_URL`` (defaults: the local servers `.ci/run` starts).
Tests that need them FAIL when they are absent; they never skip. Each test
run gets its own PostgreSQL database (dropped afterwards) and its own Redis
key prefix and queue, so parallel runs do not collide.

Under pytest-xdist (the parallel phase of `make test`) every worker process is
a test run of its own: its databases are created on the given URL's server
with the worker's name in theirs (``grader_test_gw1_...``), worker ``gwN``
uses the Redis database index of the given URL minus N (gw0 the given one;
the given one for all when that would go below 1) besides its own key
prefixes, its temp dirs are pytest's per-worker ones, and every port is
chosen free. The modules that must not run beside others are listed in
tests/conftest.py (``SERIAL_MODULES``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... in a worker of `pytest -n`


def _worker_redis_url(url: str, worker: str) -> str:
    """``url`` with database index (its own minus N) for xdist worker gwN; unchanged outside xdist and for gw0."""
    from urllib.parse import urlsplit, urlunsplit

    if not worker.startswith("gw") or not worker[2:].isdigit():
        return url
    parts = urlsplit(url)
    path = parts.path.strip("/")
    if not path.isdigit() or int(path) - int(worker[2:]) < 1:
        return url  # no index to move from, or it would reach 0 (the default one): the key prefixes still isolate
    return urlunsplit(parts._replace(path=f"/{int(path) - int(worker[2:])}"))


POSTGRES_URL = os.environ.get("GRADER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = _worker_redis_url(os.environ.get("GRADER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), XDIST_WORKER)
RUN_ID = (f"{XDIST_WORKER}_" if XDIST_WORKER else "") + uuid.uuid4().hex[:10]
PASSWORD = "correct horse battery"
_PASSWORD_HASH: list[str] = []  # scrypt is slow on purpose: hash the test password once


def svm_file(name: str = "correct_loops") -> bytes:
    return (SUBMISSIONS / "svm" / f"{name}.py").read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def grader_script() -> str:
    script = Path(sys.executable).parent / "grader"
    return str(script) if script.exists() else shutil.which("grader") or "grader"


# --------------------------------------------------------------------------- course folders


def make_course(root: Path, policy: str = "", assignments: tuple[str, ...] = ("svm",)) -> Path:
    """A copy of some assignment folders with a [policy] table (replacing any the original has)."""
    root.mkdir(parents=True, exist_ok=True)
    for aid in assignments:
        target = root / aid
        shutil.copytree(ROOT / "assignments" / aid, target, ignore=shutil.ignore_patterns("__pycache__"))
        toml = (target / "assignment.toml").read_text()
        if "\n[policy]" in toml:
            start = toml.index("\n[policy]")
            end = toml.find("\n[", start + 1)
            toml = toml[:start] + (toml[end:] if end != -1 else "\n")
        # The policy table must come before the first [[tests]] array so its keys do not land in a test.
        first = toml.index("\n[")
        toml = toml[:first] + ("\n[policy]\n" + policy + "\n" if policy else "") + toml[first:]
        (target / "assignment.toml").write_text(toml)
    return root


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


def now() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- apps and users


_TEMPLATE: dict[str, Path] = {}


def _migrated_template() -> Path:
    """An empty, migrated SQLite database made once per test run; each app starts from a copy (fast)."""
    if "path" not in _TEMPLATE:
        import tempfile

        from grader import migrate
        from grader.db import Database

        path = Path(tempfile.mkdtemp(prefix="grader-template-")) / "grader.sqlite3"
        db = Database(f"sqlite:///{path}")
        migrate.upgrade(db)
        db.engine.dispose()  # closing the last connection checkpoints the WAL into the file
        _TEMPLATE["path"] = path
    return _TEMPLATE["path"]


def make_app(instance: Path, **config: Any) -> Any:
    """An app on a fresh, migrated database (SQLite in ``instance`` unless DATABASE_URL is given)."""
    from grader import create_app, migrate

    if "DATABASE_URL" not in config:
        instance.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_migrated_template(), instance / "grader.sqlite3")
    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True, **config})
    if "DATABASE_URL" in config:
        migrate.upgrade(app.extensions["grader"].db)
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    app = make_app(tmp_path / "instance")
    yield app
    app.extensions["grader"].db.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


class People:
    """Users of a test and their tokens: ``people.headers("alice")``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}

    def add(self, name: str, role: str = "student", *, days: float = 30) -> str:
        from grader import auth

        db = self.app.extensions["grader"].db
        with db.session() as session:
            user = auth.create_user(session, f"{name}@example.edu", role=role, name=name.title())
            if not _PASSWORD_HASH:
                auth.set_password(user, PASSWORD)
                _PASSWORD_HASH.append(user.password_hash or "")
            user.password_hash = _PASSWORD_HASH[0]
            token, _ = auth.create_token(session, user, days=days)
            session.commit()
            self.ids[name] = user.id
        self.tokens[name] = token
        return token

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
def people(app: Any) -> People:
    people = People(app)
    people.add("alice")
    people.add("bob")
    people.add("prof", role="instructor")
    return people


def upload(client: Any, headers: dict[str, str], assignment: str = "svm",
           files: list[tuple[str, bytes]] | None = None, field: str = "file") -> Any:
    import io

    files = [("linear_svm.py", svm_file())] if files is None else files
    data = {field: [(io.BytesIO(content), name) for name, content in files]}
    return client.post(f"/api/v1/assignments/{assignment}/submissions", headers=headers, data=data,
                       content_type="multipart/form-data")


# --------------------------------------------------------------------------- PostgreSQL and Redis


def _admin_engine() -> Any:
    from sqlalchemy import create_engine

    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run (dropped at the end)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    name = f"grader_test_{RUN_ID}_{uuid.uuid4().hex[:6]}"  # modules importing this fixture get one each
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL} (set GRADER_TEST_POSTGRES_URL; `.ci/run` starts "
                    f"it): {exc.orig}", pytrace=False)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def fresh_postgres(postgres_url: str) -> str:
    """The run's PostgreSQL database, emptied (tables dropped) so a test starts from migrations."""
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return postgres_url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required at {REDIS_URL} (set GRADER_TEST_REDIS_URL; `.ci/run` starts it): {exc}",
                    pytrace=False)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix (and queue) private to this test; its keys are deleted afterwards."""
    import redis

    prefix = f"grader-test-{RUN_ID}-{uuid.uuid4().hex[:6]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


# --------------------------------------------------------------------------- worker processes


class Process:
    """A service process of a test (worker, dev server), stopped and logged at the end."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None,
                 sigint_ignored: bool = False) -> None:
        """``sigint_ignored``: start it as a non-interactive shell starts a background job (`cmd &` in a script),
        with SIGINT ignored, which the process inherits."""
        self.log = log
        self.log_file = open(log, "ab")
        preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
        self.popen = subprocess.Popen(command, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                      start_new_session=True, cwd=cwd, preexec_fn=preexec)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the process and everything it started (a machine losing power)."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self.log_file.close()


# Workers started by the service tests grade through the real sandbox, as in production.
WORKER_SANDBOX_ENV: dict[str, str] = {}


def service_env(**settings: Any) -> dict[str, str]:
    """The environment of a service process: this one's, minus any GRADER_ setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update({f"GRADER_{k.upper()}": str(v) for k, v in settings.items()})
    env.update(WORKER_SANDBOX_ENV)
    env["PYTHONUNBUFFERED"] = "1"
    return env


FAST_RELIABILITY = dict(sweep_seconds=1, heartbeat_seconds=1, queued_timeout_seconds=30,
                        task_soft_time_limit=8, task_time_limit=9, lease_seconds=10, max_attempts=3)


def start_worker(tmp_path: Path, name: str, beat: bool = True, **settings: Any) -> Process:
    """A real ``grader worker`` process (Celery, prefork, one child) with the given settings."""
    env = service_env(secret_key="test-secret-key-0123456789abcdef", worker_concurrency=1, **settings)
    command = [grader_script(), "worker", "--loglevel", "INFO"] + (["--beat"] if beat else [])
    return Process(command, env, tmp_path / f"{name}.log", cwd=tmp_path)


def wait_for_heartbeat(app: Any, timeout: float = 30, process: Process | None = None) -> None:
    from grader import submissions

    def alive() -> bool:
        if process is not None and process.popen.poll() is not None:
            raise AssertionError(f"the worker exited with {process.popen.returncode}:\n{process.output()[-4000:]}")
        with app.extensions["grader"].db.session() as session:
            return submissions.worker_alive(session, app.extensions["grader"].settings)

    wait_for(alive, timeout, "a worker heartbeat")


def wait_for_status(app: Any, submission_id: int, statuses: tuple[str, ...] = ("graded", "error"),
                    timeout: float = 60, process: Process | None = None) -> Any:
    from grader.models import Submission

    def done() -> Any:
        with app.extensions["grader"].db.session() as session:
            sub = session.get(Submission, submission_id)
            if sub is not None and sub.status in statuses:
                return sub
        return None

    try:
        return wait_for(done, timeout, f"submission {submission_id} to be {'/'.join(statuses)}")
    except AssertionError:
        if process is not None:
            print(process.output()[-6000:])
        raise


def past(**delta: float) -> datetime:
    return now() - timedelta(**delta)


class TcpProxy:
    """A loopback TCP forwarder that can drop every connection and refuse new ones for a while:
    a database that is briefly unreachable."""

    def __init__(self, target: tuple[str, int]) -> None:
        import threading

        self.target = target
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.resume()

    def _serve(self, listener: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def pause(self) -> None:
        with self.lock:
            if self.listener is not None:
                try:
                    self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in _serve; close() alone would not
                except OSError:
                    pass
                self.listener.close()
                self.listener = None
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.sockets = []

    def resume(self) -> None:
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        with self.lock:
            self.listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()
