"""``grader dev``: the whole product on one machine, nothing to install.

SQLite and the filesystem broker in the instance folder, the schema migrated,
a real Celery worker process with embedded beat (the sweeper), the web app,
and a demo instructor and student whose logins are printed. Ctrl-C stops
everything.
"""

from __future__ import annotations

import faulthandler
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from grader.config import Settings

DEMO_USERS = (("instructor@example.edu", "instructor", "Demo Instructor"),
              ("student@example.edu", "student", "Demo Student"))


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ensure_demo_users(app: Any) -> dict[str, str]:
    """Create the demo users once; their passwords are kept in ``instance/demo-logins.json`` (mode 0600)."""
    from grader import auth

    state = app.extensions["grader"]
    path: Path = state.settings.instance_path / "demo-logins.json"
    try:
        saved: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    logins: dict[str, str] = {}
    with state.db.session() as session:
        for email, role, name in DEMO_USERS:
            password = saved.get(email) or secrets.token_urlsafe(9)
            user = auth.find_user(session, email)
            if user is None:
                auth.create_user(session, email, role=role, password=password, name=name)
            elif email not in saved:
                auth.set_password(user, password)
            logins[email] = password
        session.commit()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(logins, f, indent=2)
    return logins


def worker_command(settings: Settings, *, beat: bool, concurrency: int | None = None,
                   loglevel: str | None = None) -> list[str]:
    # A node name of its own (Celery's default is celery@<host> for every worker of a host): two workers on
    # one machine would otherwise share one heartbeat row, and the first to stop would delete it for both.
    # `grader worker` execs Celery, so this pid is the worker's own.
    command = [sys.executable, "-m", "celery", "-A", "worker.make_celery", "worker",
               "--loglevel", loglevel or settings.log_level, "-Q", settings.queue,
               "--pool", "prefork", "--concurrency", str(concurrency or settings.concurrency),
               "--hostname", f"grader-{os.getpid()}@%h"]
    if beat:
        command += ["--beat", "--schedule", str(settings.instance_path / "celerybeat-schedule")]
    return command


def run(host: str, port: int) -> None:
    from werkzeug.serving import make_server

    from grader import create_app, migrate

    os.environ["GRADER_ENV"] = "development"
    if port_in_use(host, port):
        raise click.UsageError(f"port {port} is already in use; choose another with --port")
    app = create_app()
    state = app.extensions["grader"]
    settings: Settings = state.settings
    migrate.upgrade(state.db)
    logins = ensure_demo_users(app)

    log_path = settings.instance_path / "worker.log"
    log_file = open(log_path, "ab")
    # The worker builds the same settings from the same environment.
    environment = {**os.environ, "GRADER_ENV": "development"}
    worker = subprocess.Popen(worker_command(settings, beat=True), stdout=log_file, stderr=subprocess.STDOUT,
                              env=environment, start_new_session=True)
    server = make_server(host, port, app, threaded=True)
    url = f"http://{host}:{server.server_port}"
    instructor, student = (email for email, _, _ in DEMO_USERS)
    click.echo(f"cs231n-grader (development: SQLite, filesystem broker, a Celery worker with beat)\n"
               f"  Web and API   {url}\n"
               f"  Instructor    {instructor}  password {logins[instructor]}\n"
               f"  Student       {student}  password {logins[student]}\n"
               f"  Database      {settings.database_uri}\n"
               f"  Worker log    {log_path}\n"
               f"Try:  grader login --server {url} --email {student}\n"
               f"      grader submit svm tests/submissions/svm/bug_half_reg.py --wait\n"
               f"Press Ctrl-C to stop.")
    sys.stdout.flush()

    stopping = threading.Event()

    def watch_worker() -> None:
        code = worker.wait()
        if not stopping.is_set():
            click.echo(f"warning: the worker exited with code {code}; submissions stay queued "
                       f"(see {log_path})", err=True)

    threading.Thread(target=watch_worker, daemon=True).start()

    def on_sigterm(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too, explicitly: a process started in the background of a non-interactive shell (a CI script, `cmd &`)
    # inherits SIGINT ignored, and Python then leaves it ignored, so Ctrl-C or `kill -INT` would do nothing.
    previous = {signum: signal.signal(signum, on_sigterm) for signum in (signal.SIGTERM, signal.SIGINT)}
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a `grader dev` that does not stop is waiting on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        click.echo("stopping ...", err=True)
        server.server_close()
        stop_process_group(worker)
        log_file.close()
        click.echo("stopped", err=True)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM to the main process (Celery's warm shutdown: the running job finishes), then SIGKILL the group.

    Only the main process gets SIGTERM: it stops its pool children itself, and a pool child
    terminated at the same moment can leave the pool's shutdown waiting forever on a lock.
    """
    if process.poll() is None:
        process.terminate()
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
