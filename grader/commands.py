"""The ``grader`` commands of the service: running it, the student's remote workflow, administration.

Registered on the root group by :mod:`grader.cli`. As there, every command
imports what it needs when it runs. Exit codes (DESIGN.md): 0 done, 1 could
not (server unreachable, infrastructure, refused), 2 usage errors (unknown
assignment or submission, unreadable or rejected file).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, NoReturn

import click

from grader.render import human_size, table

# --------------------------------------------------------------------------- shared helpers


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _service_app(production_default: bool = False) -> Any:
    """The Flask app configured from the environment (for commands that use the database directly)."""
    from grader import create_app
    from grader.config import ConfigError

    if production_default:
        os.environ.setdefault("GRADER_ENV", "production")
    try:
        return create_app()
    except ConfigError as exc:
        _fail(str(exc))


class _AppSession:
    """``with _AppSession() as (app, session):`` with database errors as one line and exit 1."""

    def __init__(self) -> None:
        self.app = _service_app()
        self.ctx = self.app.app_context()

    def __enter__(self) -> tuple[Any, Any]:
        self.ctx.push()
        self.session = self.app.extensions["grader"].db.sessionmaker()
        return self.app, self.session

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from sqlalchemy.exc import DBAPIError

        from grader.errors import ServiceError

        self.session.close()
        self.ctx.pop()
        if isinstance(exc, ServiceError):
            _fail(exc.message, 1 if exc.status in (401, 403, 429, 503) else 2)
        if isinstance(exc, DBAPIError):
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            if "no such table" in detail or "does not exist" in detail:
                _fail(f"the database has no schema yet: run `grader db upgrade` ({detail})")
            from grader.db import is_connection_error

            _fail(f"cannot reach the database: {detail}" if is_connection_error(exc) else f"database error: {detail}")


def _require_schema(app: Any) -> None:
    from sqlalchemy.exc import DBAPIError

    from grader import migrate

    try:
        if not migrate.is_up_to_date(app.extensions["grader"].db):
            _fail("the database schema is not up to date: run `grader db upgrade` first")
    except DBAPIError as exc:
        _fail(f"cannot reach the database: {str(exc.orig).strip().splitlines()[0] if exc.orig else exc}")


def register(main: click.Group) -> None:
    """Add this module's commands to the root ``grader`` group."""
    for command in (dev_cmd, serve_cmd, worker_cmd, beat_cmd, db_group, users_group, tokens_group,
                    gradebook_group, regrade_cmd, healthcheck_cmd, login_cmd, logout_cmd, submit_cmd, status_cmd,
                    account_group):
        main.add_command(command)
    from grader import cli_audit  # the audit log and role changes (issue 11)
    main.add_command(cli_audit.audit_cmd)
    users_group.add_command(cli_audit.users_role_cmd)
    tokens_group.add_command(cli_audit.tokens_revoke_cmd)
    from grader import cli_roster  # users import, users link

    cli_roster.attach(users_group)
    from grader import cli_lti  # grader lti: LMS registration, tool info, grade sync (issue 11)
    main.add_command(cli_lti.lti_group)
    from grader import cli_similarity  # grader similarity ASSIGNMENT

    main.add_command(cli_similarity.similarity_cmd)
    from grader import cli_course  # grader extensions, grader late-days, grader gradebook canvas-ids (issue 11)

    cli_course.attach(main, gradebook_group)


# --------------------------------------------------------------------------- running the service


@click.command("dev")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def dev_cmd(port: int, host: str) -> None:
    """Run everything on this machine: SQLite, a serverless broker, a Celery worker, the web app."""
    from grader import dev

    dev.run(host, port)


@click.command("serve")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default: GRADER_PORT (8000).")
@click.option("--host", default="127.0.0.1", show_default=True, help="0.0.0.0 in a container.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Default: GRADER_WEB_WORKERS (2).")
def serve_cmd(port: int | None, host: str, workers: int | None) -> None:
    """Run the web app with gunicorn (production; configured from GRADER_* variables)."""
    app = _service_app(production_default=True)
    _require_schema(app)
    settings = app.extensions["grader"].settings
    command = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port or settings.port}",
               "--workers", str(workers or settings.web_workers), "--timeout", "60",
               "--access-logfile", "-", "--forwarded-allow-ips", "*" if settings.proxy_count else "127.0.0.1",
               "grader:create_app()"]
    os.execve(sys.executable, command, {**os.environ, "GRADER_ENV": settings.env})


@click.command("worker")
@click.option("--concurrency", "-c", type=click.IntRange(1, 256), default=None,
              help="Gradings at a time (default: GRADER_WORKER_CONCURRENCY, else the number of cores).")
@click.option("--beat", is_flag=True, help="Also run the sweeper's schedule in this process (one per deployment).")
@click.option("--loglevel", default=None, help="Default: GRADER_LOG_LEVEL (INFO).")
def worker_cmd(concurrency: int | None, beat: bool, loglevel: str | None) -> None:
    """Run a Celery worker that grades submissions (production; configured from GRADER_* variables)."""
    from grader.dev import worker_command

    app = _service_app(production_default=True)
    _require_schema(app)
    settings = app.extensions["grader"].settings
    command = worker_command(settings, beat=beat, concurrency=concurrency, loglevel=loglevel)
    os.execve(sys.executable, command, {**os.environ, "GRADER_ENV": settings.env})


@click.command("beat")
@click.option("--loglevel", default=None, help="Default: GRADER_LOG_LEVEL (INFO).")
def beat_cmd(loglevel: str | None) -> None:
    """Run the schedule that triggers the sweeper (exactly one per deployment)."""
    app = _service_app(production_default=True)
    settings = app.extensions["grader"].settings
    command = [sys.executable, "-m", "celery", "-A", "worker.make_celery", "beat",
               "--loglevel", loglevel or settings.log_level,
               "--schedule", str(settings.instance_path / "celerybeat-schedule")]
    os.execve(sys.executable, command, {**os.environ, "GRADER_ENV": settings.env})


@click.group("db")
def db_group() -> None:
    """The database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade_cmd(revision: str) -> None:
    """Create or migrate the schema to REVISION (idempotent; run before starting new code)."""
    from sqlalchemy.exc import DBAPIError

    from grader import migrate

    app = _service_app()
    db = app.extensions["grader"].db
    try:
        migrate.upgrade(db, revision)
        current = migrate.current_revision(db)
    except DBAPIError as exc:
        _fail(f"cannot migrate the database: {str(exc.orig).strip().splitlines()[0] if exc.orig else exc}")
    click.echo(f"database at revision {current} ({_redacted(db.url)})")


@db_group.command("current")
def db_current_cmd() -> None:
    """Print the schema revision of the database and whether it is up to date."""
    from grader import migrate

    app = _service_app()
    db = app.extensions["grader"].db
    current, head = migrate.current_revision(db), migrate.head_revision()
    click.echo(f"{current or 'empty'} (head {head}){'' if current == head else ': run grader db upgrade'}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.command("healthcheck")
@click.argument("what", type=click.Choice(["web", "worker"]))
@click.option("--url", default=None, help="web: the base URL (default http://127.0.0.1:GRADER_PORT).")
def healthcheck_cmd(what: str, url: str | None) -> None:
    """Exit 0 if the web app answers, or if this host's worker has a fresh heartbeat (for container health checks)."""
    import socket

    if what == "web":
        import requests

        from grader.config import Settings

        base = url or f"http://127.0.0.1:{Settings.from_env().port}"
        try:
            response = requests.get(f"{base.rstrip('/')}/healthz", timeout=5)
        except requests.RequestException as exc:
            _fail(f"the web app at {base} does not answer ({type(exc).__name__})")
        if response.status_code != 200:
            _fail(f"the web app at {base} is unhealthy: {response.status_code} {response.text[:200]}")
        click.echo("web: ok")
        return
    from grader import submissions

    with _AppSession() as (app, session):
        workers = submissions.live_workers(session, app.extensions["grader"].settings)
        mine = [w for w in workers if w.hostname.split("@")[-1] == socket.gethostname()]
        if not mine:
            _fail(f"no fresh heartbeat from a worker on {socket.gethostname()}")
        click.echo(f"worker: ok ({', '.join(w.hostname for w in mine)})")


# --------------------------------------------------------------------------- administration


@click.group("users")
def users_group() -> None:
    """Manage users (students, TAs and instructors)."""


@users_group.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["student", "ta", "instructor"]), required=True)
@click.option("--password", default=None, help="Default: a random one, printed once.")
@click.option("--name", default="", help="The person's name, for the gradebook.")
def users_add_cmd(email: str, role: str, password: str | None, name: str) -> None:
    """Add a user who can log in with EMAIL and the password."""
    import secrets

    from grader import auth

    generated = password is None
    password = password if password is not None else secrets.token_urlsafe(12)
    with _AppSession() as (_app, session):
        user = auth.create_user(session, email, role=role, password=password, name=name)
        from grader import audit
        from grader.cli_audit import cli_actor

        audit.record(session, cli_actor(), "user.add", user.email, role=user.role)
        session.commit()
        click.echo(f"added {user.role} {user.email}" + (f" with password {password}" if generated else ""))


@users_group.command("list")
@click.option("--role", type=click.Choice(["student", "ta", "instructor"]), default=None)
def users_list_cmd(role: str | None) -> None:
    """List users."""
    from sqlalchemy import select

    from grader.models import User

    with _AppSession() as (_app, session):
        query = select(User).order_by(User.role, User.email)
        if role:
            query = query.where(User.role == role)
        users = list(session.scalars(query))
        if not users:
            click.echo("no users" + (f" with the role {role}" if role else ""))
            return
        click.echo(table(["EMAIL", "ROLE", "STATUS", "NAME"],
                         [[u.email, u.role, "disabled" if u.disabled_at else "active", u.name] for u in users]))


def _set_disabled(email: str, disabled: bool) -> None:
    from grader import roles
    from grader.cli_audit import cli_actor
    from grader.errors import NotFound

    with _AppSession() as (_app, session):
        try:
            user = roles.set_access(session, cli_actor(), email, disabled)  # audited
        except NotFound:
            _fail(f"no user with the email {email!r}", 2)
        session.commit()
        click.echo(f"{user.email} is {'disabled (every session and token ended)' if disabled else 'enabled'}")


@users_group.command("password")
@click.argument("email")
@click.option("--password", default=None, help="Default: a random one, printed once.")
def users_password_cmd(email: str, password: str | None) -> None:
    """Set a new password for EMAIL (a forgotten one); their sessions and tokens end."""
    import secrets

    from grader import auth

    generated = password is None
    password = password if password is not None else secrets.token_urlsafe(12)
    with _AppSession() as (_app, session):
        user = auth.find_user(session, email)
        if user is None:
            _fail(f"no user with the email {email!r}", 2)
        auth.change_password(session, user, password)
        from grader import audit
        from grader.cli_audit import cli_actor

        audit.record(session, cli_actor(), "password.reset", user.email)
        session.commit()
        click.echo(f"new password for {user.email}" + (f": {password}" if generated else "")
                   + "; their sessions and tokens have ended")


@users_group.command("disable")
@click.argument("email")
def users_disable_cmd(email: str) -> None:
    """Disable EMAIL: their page sessions and tokens end now, and they cannot log in (submissions are kept)."""
    _set_disabled(email, True)


@users_group.command("enable")
@click.argument("email")
def users_enable_cmd(email: str) -> None:
    """Let a disabled user log in again."""
    _set_disabled(email, False)


@click.group("tokens")
def tokens_group() -> None:
    """API tokens (for scripts, or students without a password)."""


@tokens_group.command("create")
@click.argument("email")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Validity (default: GRADER_TOKEN_DAYS, 90).")
@click.option("--label", default="created with grader tokens create")
def tokens_create_cmd(email: str, days: float | None, label: str) -> None:
    """Create a token for EMAIL and print it (it cannot be shown again)."""
    from grader import auth

    with _AppSession() as (app, session):
        user = auth.find_user(session, email)
        if user is None:
            _fail(f"no user with the email {email!r} (add one with `grader users add`)", 2)
        settings = app.extensions["grader"].settings
        token, row = auth.create_token(session, user, days=days or settings.token_days, label=label)
        session.commit()
        click.echo(f"token for {user.email}, valid until {row.expires_at.isoformat()}:", err=True)
        click.echo(token)


@click.group("gradebook", invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "canvas"]), default=None,
              help="Export to stdout in this format: `grader gradebook --format canvas` is "
                   "`grader gradebook export --format canvas`.")
@click.pass_context
def gradebook_group(ctx: click.Context, fmt: str | None) -> None:
    """The gradebook."""
    if ctx.invoked_subcommand is None:
        if fmt is None:
            click.echo(ctx.get_help())
            return
        ctx.invoke(gradebook_export_cmd, csv_path=None, fmt=fmt)


@gradebook_group.command("export")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["csv", "canvas"]), default="csv", show_default=True,
              help="canvas: the CSV Canvas's gradebook import takes as it is (see `grader gradebook canvas-ids`).")
def gradebook_export_cmd(csv_path: str | None, fmt: str) -> None:
    """Export the gradebook as CSV: one row per student, each assignment's score by its policy."""
    from grader import gradebook

    with _AppSession() as (app, session):
        book = gradebook.build(session, app.extensions["grader"].settings)
        text = book.to_canvas_csv(gradebook.canvas_ids(session)) if fmt == "canvas" else book.to_csv()
    if csv_path:
        Path(csv_path).write_text(text, encoding="utf-8")
        students = text.count(chr(10)) - (2 if fmt == "canvas" else 1)  # the header (and Points Possible) rows
        click.echo(f"wrote {csv_path} ({students} students)", err=True)
    else:
        click.echo(text, nl=False)


@click.command("regrade")
@click.argument("submission_ids", nargs=-1, type=int)
@click.option("--assignment", default=None, help="Regrade every finished submission of this assignment.")
def regrade_cmd(submission_ids: tuple[int, ...], assignment: str | None) -> None:
    """Grade submissions again (after fixing a test); earlier reports are kept."""
    from grader import submissions

    if not submission_ids and not assignment:
        raise click.UsageError("give submission ids or --assignment")
    with _AppSession() as (app, session):
        state = app.extensions["grader"]
        from grader.cli_audit import cli_actor

        done = list(submission_ids)
        for sid in submission_ids:
            submissions.regrade(session, sid, state.publish, actor=cli_actor())  # each one audited
        if assignment:
            done += submissions.regrade_all(session, state.settings, assignment, state.publish, actor=cli_actor())
    click.echo(f"queued {len(done)} submission{'s' if len(done) != 1 else ''} for regrading")


# --------------------------------------------------------------------------- the student's workflow


def _client(server: str | None = None, *, need_token: bool = True) -> Any:
    from grader.client import ApiClient, load_credentials

    creds = load_credentials()
    if need_token and not creds.token:
        _fail("you are not logged in: run `grader login --server URL` first")
    return ApiClient(server or creds.server, creds.token)


def _api_fail(exc: Any) -> NoReturn:
    """One line for an API error; usage-type errors (bad file, unknown id) exit 2."""
    message = exc.message
    if exc.status == 401:
        message += " (run `grader login` again)"
    if exc.status == 429 and exc.retry_after:
        message += f" [retry after {exc.retry_after} s]"
    _fail(message, 2 if exc.status in (400, 404, 413) else 1)


@click.command("login")
@click.option("--server", default=None, help="The grader's URL (default: the last one used, else http://127.0.0.1:5000).")
@click.option("--email", prompt=True, help="Your login.")
@click.option("--password", prompt=True, hide_input=True, help="Prompted for when not given.")
def login_cmd(server: str | None, email: str, password: str) -> None:
    """Log in to a grader server and keep the token in your config directory."""
    from grader.client import ApiClient, ApiError, Credentials, load_credentials, save_credentials

    server = (server or load_credentials().server).rstrip("/")
    client = ApiClient(server)
    try:
        answer = client.login(email, password)
    except ApiError as exc:
        _api_fail(exc)
    path = save_credentials(Credentials(server=server, token=answer["token"], email=answer["user"]["email"],
                                        expires_at=answer.get("expires_at")))
    click.echo(f"logged in to {server} as {answer['user']['email']} ({answer['user']['role']}); "
               f"token valid until {answer.get('expires_at')}, saved in {path}")


@click.command("logout")
def logout_cmd() -> None:
    """Revoke the saved token and forget it."""
    from grader.client import ApiError, forget_credentials, load_credentials

    if load_credentials().token:
        try:
            _client().logout()
        except ApiError:
            pass  # already invalid, or the server is gone: forgetting it locally is what matters
    forget_credentials()
    click.echo("logged out")


@click.group("account")
def account_group() -> None:
    """Your own account on the server you logged in to: password and tokens."""


@account_group.command("password")
@click.option("--current", prompt="Current password", hide_input=True, help="Prompted for when not given.")
@click.option("--new", prompt="New password", hide_input=True, confirmation_prompt=True,
              help="Prompted for (twice) when not given.")
def account_password_cmd(current: str, new: str) -> None:
    """Change your password: every session and token ends; this computer gets a new token."""
    from grader.client import ApiError, Credentials, load_credentials, save_credentials

    creds = load_credentials()
    try:
        answer = _client().change_password(current, new)
    except ApiError as exc:
        _api_fail(exc)
    save_credentials(Credentials(server=creds.server, token=answer["token"], email=answer["user"]["email"],
                                 expires_at=answer.get("expires_at")))
    click.echo("password changed; your other sessions and tokens have ended (this computer stays logged in)")


@account_group.command("tokens")
def account_tokens_cmd() -> None:
    """List your tokens (id, label, dates, status); `*` marks the one this computer uses."""
    from grader.client import ApiError

    try:
        tokens = _client().tokens()
    except ApiError as exc:
        _api_fail(exc)
    if not tokens:
        click.echo("no tokens")
        return
    click.echo(table(["", "ID", "STATUS", "CREATED", "LAST USED", "EXPIRES", "LABEL"],
                     [["*" if t.get("current") else "", t["id"], t["status"], t["created_at"][:16].replace("T", " "),
                       (t.get("last_used_at") or "never")[:16].replace("T", " "), t["expires_at"][:10],
                       t.get("label", "")] for t in tokens], right=[1]))


@account_group.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
def account_revoke_cmd(token_id: int) -> None:
    """Revoke one of your tokens by its id (see `grader account tokens`)."""
    from grader.client import ApiError

    try:
        _client().revoke_token(token_id)
    except ApiError as exc:
        _api_fail(exc)
    click.echo(f"token {token_id} revoked")


def _spinner() -> Iterator[str]:
    while True:
        yield from "|/-\\"


def _wait(client: Any, submission_id: int, timeout: float) -> dict[str, Any]:
    """Poll until the submission is graded or failed, with a progress line on stderr."""
    from grader.client import ApiError

    tty = sys.stderr.isatty()
    spin = _spinner()
    started = time.monotonic()
    # Quick at first (a grading takes well under a second), then slower: 0.1 s growing by 1.3 up to 3 s.
    last_status, warned, delay, failures = "", False, 0.1, 0
    while True:
        try:
            sub = client.submission(submission_id)
            failures = 0
        except ApiError as exc:
            failures += 1
            if exc.status != 0 and exc.status != 503 or failures > 10:
                raise
            sub = {"status": last_status or "queued"}
        status = sub["status"]
        elapsed = time.monotonic() - started
        if status in ("graded", "error"):
            if tty:
                click.echo("\r\033[K", nl=False, err=True)
            return sub  # type: ignore[no-any-return]
        if sub.get("worker_alive") is False and not warned:
            warned = True
            click.echo(("\r\033[K" if tty else "") + "note: no grading worker is running right now; your "
                       "submission is stored and will be graded when one starts", err=True)
        place = sub.get("queue_position")
        shown = status if place is None else (f"{status}, next in line" if place == 0 else
                                              f"{status}, {place} ahead of yours")
        if tty:
            click.echo(f"\r\033[K{next(spin)} submission {submission_id}: {shown} ({elapsed:.0f} s)",
                       nl=False, err=True)
        elif status != last_status:
            click.echo(f"submission {submission_id}: {status}", err=True)
        last_status = status
        if elapsed > timeout:
            if tty:
                click.echo("", err=True)
            _fail(f"still {status} after {timeout:g} s; the submission is safe: check later with "
                  f"`grader status {submission_id}`")
        time.sleep(delay)
        delay = min(delay * 1.3, 3.0)


def _show(sub: dict[str, Any], as_json: bool) -> None:
    from grader.render import render_report

    if as_json:
        click.echo(json.dumps(sub, indent=2))
        return
    if sub.get("report"):
        click.echo(render_report(sub["report"], color=sys.stdout.isatty()))
    elif sub["status"] == "error":
        click.echo(f"submission {sub['id']} could not be graded: {sub.get('error') or 'unknown error'}")
    else:
        click.echo(f"submission {sub['id']} ({sub['assignment']}): {sub['status']}")
    if sub.get("late_days"):
        click.echo(f"submitted {sub['late_days']} day{'s' if sub['late_days'] != 1 else ''} late")


#: What `grader submit --all DIR` leaves out, as collectSubmission.sh does (and anything hidden).
_PACK_SKIPPED = {"datasets", "__pycache__", "__MACOSX", ".ipynb_checkpoints", ".git"}


def _pack_directory(folder: Path) -> bytes:
    """The assignment folder's .py files as a zip made in memory (paths relative to ``folder``); symlinks
    and hidden or dataset folders are left out, as the course's collectSubmission.sh leaves them out."""
    import io
    import zipfile

    from grader.archives import MAX_ENTRIES

    buffer = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, dirs, names in os.walk(folder, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in _PACK_SKIPPED and not d.startswith("."))
            for name in sorted(names):
                path = Path(root) / name
                if not name.endswith(".py") or name.startswith(".") or path.is_symlink() or not path.is_file():
                    continue
                count += 1
                if count > MAX_ENTRIES:
                    raise click.UsageError(f"{folder} has more than {MAX_ENTRIES} .py files; point --all at the "
                                           "assignment folder (the one with cs231n/ in it)")
                try:
                    archive.writestr(path.relative_to(folder).as_posix(), path.read_bytes())
                except OSError as exc:
                    raise click.UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if count == 0:
        raise click.UsageError(f"{folder} has no .py files; point --all at the assignment folder "
                               "(the one with cs231n/ in it) or at its zip")
    return buffer.getvalue()


def _check_sizes(uploads: dict[str, bytes]) -> None:
    """Refuse a file over the per-file limit here, naming it and the limit, before the server's request limit
    (which a large file meets first) answers with a less useful message."""
    from worker.engine import MAX_FILE_BYTES

    for name, data in uploads.items():
        if len(data) > MAX_FILE_BYTES:
            _fail(f"{name} is {human_size(len(data))}; a submitted file may be at most {human_size(MAX_FILE_BYTES)}",
                  2)


def _utc(iso: str) -> str:
    """An API timestamp as a table cell: 2026-04-19 23:59:00 (UTC)."""
    return iso[:19].replace("T", " ")


def _submit_all(client: Any, target: str, wait: bool, timeout: float, as_json: bool, dry_run: bool = False) -> None:
    """`grader submit --all ZIP_OR_DIR`: one submission per assignment found; the server says what it found,
    ignored and is missing before anything is queued (a refused archive queues nothing)."""
    from grader.client import ApiError

    path = Path(target)
    if path.is_dir():
        data, name = _pack_directory(path), f"{path.resolve().name or 'assignment'}.zip"
    else:
        try:
            data, name = path.read_bytes(), path.name
        except OSError as exc:
            raise click.UsageError(f"cannot read {target}: {exc.strerror or exc}") from None
    from grader.archives import MAX_ARCHIVE_BYTES

    if len(data) > MAX_ARCHIVE_BYTES:
        _fail(f"{name} is {human_size(len(data))}; an archive may be at most {human_size(MAX_ARCHIVE_BYTES)}", 2)
    out = sys.stderr if as_json else sys.stdout
    try:
        answer = client.submit_archive(name, data, dry_run=dry_run)
    except ApiError as exc:
        _api_fail(exc)
    for item in answer.get("found") or []:
        click.echo(f"would submit {item['assignment']}: {', '.join(item['files'])}", file=out)
    for sub in answer["submissions"]:
        paths = ", ".join(sub.get("files") or {})
        click.echo(f"found {sub['assignment']}: {paths} -> submission {sub['id']} ({sub['status']})", file=out)
    for item in answer["missing"]:
        click.echo(f"missing {item['assignment']}: no {', '.join(item['files'])} in {name} (not submitted)", file=out)
    if answer["ignored"]:
        shown = answer["ignored"][:8]
        more = len(answer["ignored"]) - len(shown)
        click.echo(f"ignored {len(answer['ignored'])} file{'s' if len(answer['ignored']) != 1 else ''}: "
                   + ", ".join(i["path"] for i in shown) + (f" and {more} more" if more else ""), file=out)
    if answer.get("warning"):
        click.echo(f"note: {answer['warning']}", err=True)
    if dry_run:
        if as_json:
            click.echo(json.dumps(answer, indent=2))
        else:
            click.echo("nothing was submitted (--dry-run)")
        return
    if not wait:
        if as_json:
            click.echo(json.dumps(answer, indent=2))
        else:
            click.echo("see the results with: grader status " + " / ".join(str(s["id"]) for s in answer["submissions"]))
        return
    try:
        results = [_wait(client, int(s["id"]), timeout) for s in answer["submissions"]]
    except ApiError as exc:
        _api_fail(exc)
    if as_json:
        # Each submission as `grader status ID --json` shows it, with where its files were in the archive.
        merged = [{**sub, "archive_files": item.get("files") or {}} for sub, item in zip(results, answer["submissions"])]
        click.echo(json.dumps({**answer, "submissions": merged}, indent=2))
        return
    for sub in results:
        click.echo(f"\n== {sub['assignment']}: submission {sub['id']} ==")
        _show(sub, False)


@click.command("submit")
@click.argument("assignment", required=False)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--all", "everything", default=None, metavar="ZIP_OR_DIR",
              help="Hand in the whole assignment: the zip collectSubmission.sh makes, or the assignment folder; "
                   "one submission per assignment found.")
@click.option("--dry-run", is_flag=True, help="With --all: check the archive and say what would be submitted; "
                                                 "submit nothing.")
@click.option("--wait", is_flag=True, help="Wait for the grading and print the report.")
@click.option("--timeout", type=click.FloatRange(min=1), default=900, show_default=True,
              help="With --wait: give up waiting after this many seconds (the submission stays queued).")
@click.option("--json", "as_json", is_flag=True, help="Print the submission (and report) JSON on stdout.")
def submit_cmd(assignment: str | None, files: tuple[str, ...], everything: str | None, dry_run: bool, wait: bool,
               timeout: float, as_json: bool) -> None:
    """Hand in FILES for ASSIGNMENT to the grader server (or everything with --all ZIP_OR_DIR)."""
    from grader.archives import is_notebook, notebook_message
    from grader.client import ApiError

    if everything is not None:
        if assignment or files:
            raise click.UsageError("--all takes the zip or the folder alone: grader submit --all a1_code_submission.zip")
        _submit_all(_client(), everything, wait, timeout, as_json, dry_run)
        return
    if dry_run:
        raise click.UsageError("--dry-run goes with --all (a single file is checked offline with `grader check`)")
    if not assignment or not files:
        raise click.UsageError("give the assignment and its file(s): grader submit svm linear_svm.py "
                               "(or the whole assignment: grader submit --all ZIP_OR_DIR)")
    client = _client()
    uploads: dict[str, bytes] = {}
    for name in files:
        try:
            uploads[Path(name).name] = Path(name).read_bytes()
        except OSError as exc:
            raise click.UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    # A notebook (often over the size limit with its plots) is refused below with the file to submit instead.
    _check_sizes({name: data for name, data in uploads.items() if not is_notebook(name, data)})
    try:
        known = {a["id"]: a for a in client.assignments()}
        if assignment not in known:
            raise click.UsageError(f"unknown assignment {assignment!r} (known: {', '.join(sorted(known)) or 'none'})")
        expected = known[assignment]["files"]
        for name, data in uploads.items():
            if is_notebook(name, data):  # before the one-file renaming below, so the message names this file
                _fail(notebook_message(name, expected), 2)
        if len(expected) == 1 and len(uploads) == 1 and next(iter(uploads)) != expected[0]:
            ((name, data),) = uploads.items()
            click.echo(f"note: submitting {name} as {expected[0]}", err=True)
            uploads = {expected[0]: data}
        answer = client.submit(assignment, uploads)
        if not as_json or not wait:
            target = sys.stderr if as_json else sys.stdout
            click.echo(f"submitted {', '.join(uploads)} for {assignment}: submission {answer['id']} "
                       f"({answer['status']})", file=target)
        if answer.get("warning"):
            click.echo(f"note: {answer['warning']}", err=True)
        if not wait:
            if as_json:
                click.echo(json.dumps(answer, indent=2))
            else:
                click.echo(f"see the result with: grader status {answer['id']}")
            return
        sub = _wait(client, int(answer["id"]), timeout)
    except ApiError as exc:
        _api_fail(exc)
    _show(sub, as_json)


@click.command("status")
@click.argument("submission_id", required=False, type=int)
@click.option("--assignment", default=None, help="Only this assignment's submissions (without an ID).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def status_cmd(submission_id: int | None, assignment: str | None, as_json: bool) -> None:
    """Show submission ID with its report, or list your submissions."""
    from grader.client import ApiError

    client = _client()
    try:
        if submission_id is not None:
            _show(client.submission(submission_id), as_json)
            return
        items = client.submissions(assignment)
        service = client.status()
    except ApiError as exc:
        _api_fail(exc)
    if as_json:
        click.echo(json.dumps({"submissions": items, "worker_alive": service.get("worker_alive")}, indent=2))
        return
    if not items:
        click.echo("no submissions yet")
    else:
        click.echo(table(["ID", "ASSIGNMENT", "SUBMITTED (UTC)", "STATUS", "SCORE", "LATE"],
                         [[sub["id"], sub["assignment"], _utc(sub["created_at"]), sub["status"],
                           "" if sub.get("score") is None else f"{sub['score']:g} / {sub['max_score']:g}",
                           f"{sub['late_days']} d" if sub.get("late_days") else ""] for sub in items], right=[0]))
    if not service.get("worker_alive"):
        click.echo("note: no grading worker is running right now; queued submissions wait for one", err=True)
