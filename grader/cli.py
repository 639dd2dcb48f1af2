"""The ``grader`` command line.

One root click group; each subcommand imports what it needs when it runs, so
``grader --help`` works even when the configuration (or an optional
dependency) is broken. Exit codes follow DESIGN.md: 0 the command did its job
(a low score included), 1 it could not (infrastructure), 2 usage errors.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click


class GraderGroup(click.Group):
    """Turns any unexpected exception into one line on stderr and exit code 1 (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in SERVER_MODULES:
                # The student install (no server extra) has every student command; the service's need more.
                click.echo(f"error: `grader {ctx.invoked_subcommand}` is part of the server: "
                           "pip install 'cs231n-grader[server]'", err=True)
                sys.exit(1)
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - the contract is one clear line, never a traceback
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)


# What `pip install cs231n-grader` leaves out (the `server` extra): the commands that need them say so.
SERVER_MODULES = frozenset({"flask", "werkzeug", "jinja2", "sqlalchemy", "alembic", "celery", "kombu", "billiard",
                            "redis", "psycopg", "gunicorn", "flask_wtf", "wtforms", "limits", "pyseccomp",
                            "sklearn", "scipy", "matplotlib", "tomli_w", "pylti1p3", "jwt", "jwcrypto",
                            "copydetect"})


@click.group(cls=GraderGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cs231n-grader", prog_name="grader")
def main() -> None:
    """Autograder for CS231n assignment 1 (SVM, softmax, two-layer net)."""


def _read_files(assignment: Any, paths: tuple[str, ...]) -> dict[str, bytes]:
    """Read the given files; a single file under another name is taken as the assignment's one file."""
    files: dict[str, bytes] = {}
    for p in paths:
        path = Path(p)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise click.UsageError(f"cannot read {p}: {exc.strerror or exc}") from None
        from grader.archives import is_notebook, notebook_hints, notebook_message

        if is_notebook(path.name, data):
            raise click.UsageError(notebook_message(path.name, assignment.files, action="Give it", uncounted=False,
                                                    hints=notebook_hints([assignment])))
        files[path.name] = data
    if len(assignment.files) == 1 and len(files) == 1:
        (name, data), = files.items()
        expected = assignment.files[0]
        if name != expected:
            click.echo(f"note: grading {name} as {expected}", err=True)
            files = {expected: data}
    return files


def _check_assignment(assignment_id: str, kit: str | None) -> tuple[Any, Any]:
    """The assignment ``grader check`` runs: ``--kit`` (a kit folder or zip), else the course's folder when
    there is one (a clone of the repository, ``GRADER_ASSIGNMENTS_DIR``), else the kit ``grader fetch``
    stored. Returns ``(assignment, installed kit or None)``."""
    from grader.kits import KitError, default_kits_root, installed_kit, unpack_kit_file
    from worker.assignments import AssignmentError, get_assignment, list_assignment_ids, load_assignment_dir

    try:
        if kit is not None:
            path = Path(kit)
            if path.is_file():
                path = unpack_kit_file(path, assignment_id)
            elif not path.is_dir():
                raise click.UsageError(f"--kit {kit}: no such kit folder or zip")
            found = installed_kit(path, assignment_id)
        elif assignment_id in list_assignment_ids():
            return get_assignment(assignment_id), None
        else:
            folder = default_kits_root() / assignment_id
            if not (folder / "kit.json").is_file():
                raise click.UsageError(
                    f"no kit for {assignment_id!r} on this computer: run `grader fetch {assignment_id}` first "
                    f"(or give a kit with --kit; fetched kits: {', '.join(_fetched_kits()) or 'none'})")
            found = installed_kit(folder, assignment_id)
        assignment = load_assignment_dir(found.path, assignment_id)
    except KitError as exc:
        raise click.UsageError(str(exc)) from None
    except AssignmentError as exc:
        raise click.UsageError(f"the kit of {assignment_id} cannot be loaded: {exc}") from None
    assignment.kit_version = found.version
    return assignment, found


def _fetched_kits() -> list[str]:
    from grader.kits import default_kits_root

    root = default_kits_root()
    return sorted(p.name for p in root.iterdir() if (p / "kit.json").is_file()) if root.is_dir() else []


class _NewerKit:
    """Asks the course's server, in the background while the check runs, whether its kit is newer than the
    one used (a HEAD request with a short timeout; offline, or not logged in, it says nothing)."""

    def __init__(self, assignment_id: str, kit: Any) -> None:
        import threading

        self.answer: str | None = None
        self.thread: Any = None
        if kit is None or not kit.server:
            return
        self.thread = threading.Thread(target=self._ask, args=(assignment_id, kit), daemon=True)
        self.thread.start()

    def _ask(self, assignment_id: str, kit: Any) -> None:
        try:
            from grader.client import ApiClient, load_credentials

            creds = load_credentials()
            if not creds.token or creds.server.rstrip("/") != kit.server.rstrip("/"):
                return
            version = ApiClient(creds.server, creds.token, timeout=2.0).kit_version(assignment_id)
            if version and version != kit.version:
                self.answer = version
        except Exception:  # noqa: BLE001 - only a hint: offline or refused, the check goes on silently
            pass

    def report(self, assignment_id: str) -> None:
        if self.thread is None:
            return
        self.thread.join(3.0)
        if self.answer:
            click.echo(f"note: the server has a newer kit of {assignment_id} (version {self.answer[:12]}): "
                       f"run `grader fetch {assignment_id}` to check against it", err=True)


def _run(assignment_id: str, paths: tuple[str, ...], mode: str, as_json: bool, seed: int | None,
         unsafe: bool = False, kit: str | None = None) -> None:
    from worker.assignments import AssignmentError, UnknownAssignment, get_assignment
    from worker.engine import grade
    from worker.sandbox import Launcher, SubprocessLauncher

    installed = None
    if mode == "grade" and _native_windows():
        # Grading needs the Linux sandbox (and its pipes); the offline check has a portable channel.
        click.echo("error: `grader grade` does not run on native Windows: use WSL (Windows Subsystem for Linux); "
                   "`grader check` does run here", err=True)
        sys.exit(1)
    try:
        if mode == "check":
            assignment, installed = _check_assignment(assignment_id, kit)
        else:
            assignment = get_assignment(assignment_id)
    except UnknownAssignment as exc:
        raise click.UsageError(str(exc)) from None
    except AssignmentError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    newer = _NewerKit(assignment_id, installed)
    files = _read_files(assignment, paths)
    if not as_json:
        click.echo(f"{'Grading' if mode == 'grade' else 'Checking'} {', '.join(files)} for {assignment.title} ...",
                   err=True)
    launcher: Launcher
    if mode == "check" or unsafe:
        # The offline self-check runs the student's own code on the student's own machine: over pipes, or
        # over a loopback socket on Windows (or with GRADER_CHECK_TRANSPORT=socket; worker/sandbox/portable.py).
        launcher = SubprocessLauncher()
        if mode == "check":
            from worker.sandbox.portable import TransportError, check_launcher

            try:
                launcher = check_launcher(windows=_native_windows())
            except TransportError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(2)
        if unsafe:
            click.echo("warning: --unsafe-no-sandbox: the code runs without isolation", err=True)
        if installed is not None and not as_json:
            click.echo(f"(the public checks of kit {installed.version[:12]}"
                       + (f" from {installed.server})" if installed.server else ")"), err=True)
    else:
        from worker.sandbox import default_launcher
        from worker.sandbox.hardened import SandboxUnavailable

        try:
            launcher = default_launcher()
        except SandboxUnavailable as exc:
            click.echo(f"error: {exc} (see `grader doctor`; --unsafe-no-sandbox skips isolation)", err=True)
            sys.exit(1)
    report = grade(assignment, files, seed=seed, mode=mode, launcher=launcher)
    if as_json:
        click.echo(json.dumps(report, indent=2, allow_nan=False, default=str))
    else:
        from grader.render import render_report

        click.echo(render_report(report, color=sys.stdout.isatty()))
    newer.report(assignment_id)
    if report["status"] == "error" and report.get("error_kind") == "infrastructure":
        sys.exit(1)


def _native_windows() -> bool:
    return os.name == "nt"


_seed_option = click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None,
                            help="Reproduce a run: the seed printed in an earlier report.")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the report JSON (and nothing else) on stdout.")


@main.command("grade")
@click.argument("assignment")
@click.argument("files", nargs=-1, required=True)
@_json_option
@_seed_option
@click.option("--unsafe-no-sandbox", "unsafe", is_flag=True,
              help="Run the code WITHOUT the sandbox (only for code you trust, on a machine that cannot isolate).")
def grade_cmd(assignment: str, files: tuple[str, ...], as_json: bool, seed: int | None, unsafe: bool) -> None:
    """Full server-side grading of local FILES for ASSIGNMENT (with the reference and the sandbox)."""
    _run(assignment, files, "grade", as_json, seed, unsafe)


@main.command("check")
@click.argument("assignment")
@click.argument("files", nargs=-1, required=True)
@_json_option
@_seed_option
@click.option("--kit", default=None, metavar="FOLDER_OR_ZIP",
              help="Check against this kit (a folder or a zip) instead of the one `grader fetch` stored.")
def check_cmd(assignment: str, files: tuple[str, ...], as_json: bool, seed: int | None, kit: str | None) -> None:
    """Offline self-check of your FILES for ASSIGNMENT: the public checks of its kit, no reference, no server.

    The kit comes from `grader fetch ASSIGNMENT` (or --kit); in a clone of the grader's repository, the
    course's own folder is used."""
    _run(assignment, files, "check", as_json, seed, kit=kit)


@main.command("fetch")
@click.argument("assignment")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where the starter files go (existing files are never overwritten).")
def fetch_cmd(assignment: str, directory: str) -> None:
    """Download ASSIGNMENT's kit from the course's server: its starter files and public checks.

    The public checks go to your cache folder (for `grader check`); the starter files go to --dir,
    and a file that already exists there is left as it is."""
    from grader.client import ApiError, load_credentials
    from grader.kits import KitError, default_kits_root, install_kit, read_kit

    creds = load_credentials()
    if not creds.token:
        click.echo("error: you are not logged in: run `grader login --server URL` first", err=True)
        sys.exit(1)
    from grader.client import ApiClient

    client = ApiClient(creds.server, creds.token)
    try:
        data, version = client.kit(assignment)
    except ApiError as exc:
        message = exc.message + (" (run `grader login` again)" if exc.status == 401 else "")
        click.echo(f"error: {message}", err=True)
        sys.exit(2 if exc.status in (400, 404) else 1)
    try:
        kit = read_kit(data, assignment)
    except KitError as exc:
        click.echo(f"error: the server sent a kit that cannot be used: {exc}", err=True)
        sys.exit(1)
    if version and version != kit.version:
        click.echo(f"error: the kit's content ({kit.version[:12]}) is not the version the server announced "
                   f"({version[:12]}): fetch it again", err=True)
        sys.exit(1)
    folder = install_kit(kit, default_kits_root(), server=client.server)
    click.echo(f"kit {assignment} {kit.version[:12]}: public checks in {folder}")
    target = Path(directory)
    starters = sorted(name for name in kit.files if name.startswith("starter/"))
    for name in starters:
        rel = name[len("starter/"):]
        path = target.joinpath(*rel.split("/"))
        if path.exists():
            click.echo(f"  kept {path} (it exists; the starter is in {folder / 'starter'})")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as f:  # never replaces a file that appeared meanwhile
            f.write(kit.files[name])
        click.echo(f"  wrote {path}")
    click.echo(f"next: edit the files, then `grader check {assignment} FILES` and `grader submit {assignment} FILES`")


@main.group("kit")
def kit_group() -> None:
    """Public kits for students (instructors): built from the course's assignment folders."""


@kit_group.command("build")
@click.argument("assignments", nargs=-1)
@click.option("--out", "out", type=click.Path(file_okay=False), default="kits", show_default=True,
              help="The folder the zips go to.")
def kit_build_cmd(assignments: tuple[str, ...], out: str) -> None:
    """Build the kits of ASSIGNMENTS (default: all) as zips to publish anywhere (`grader check --kit ZIP`)."""
    from grader.kits import KitError, build_kit
    from worker.assignments import AssignmentError, UnknownAssignment, get_assignment, list_assignment_ids

    ids = list(assignments) or list_assignment_ids()
    if not ids:
        raise click.UsageError("no assignments found (set GRADER_ASSIGNMENTS_DIR to the course's folder)")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for aid in ids:
        try:
            kit = build_kit(get_assignment(aid))
        except UnknownAssignment as exc:
            raise click.UsageError(str(exc)) from None
        except (KitError, AssignmentError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        path = folder / f"{aid}.zip"
        path.write_bytes(kit.zip_bytes())
        click.echo(f"{path}  version {kit.version}")


@main.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def doctor_cmd(as_json: bool) -> None:
    """Show which sandbox layers are active on this machine and run the sandbox self-test."""
    from worker.sandbox import unsafe_opt_out
    from worker.sandbox.hardened import ForkServerLauncher, SandboxUnavailable, describe_layers

    launcher = ForkServerLauncher()
    try:
        launcher.start()
        result = launcher.self_test()
    except SandboxUnavailable as exc:
        result = {"ok": False, "error": str(exc), "checks": [], "layers": launcher.layers}
    finally:
        launcher.close()
    result["notes"] = launcher.notes
    result["unsafe_opt_out"] = unsafe_opt_out()
    if as_json:
        click.echo(json.dumps({k: v for k, v in result.items() if k != "probe"}, indent=2))
    else:
        click.echo("Sandbox layers:")
        for name, active, detail in describe_layers(result.get("layers", {})):
            click.echo(f"  [{'x' if active else ' '}] {name}: {detail}")
        for note in result["notes"]:
            click.echo(f"  note: {note}")
        click.echo("Self-test:")
        if result.get("error"):
            click.echo(f"  FAILED: {result['error']}")
        for name, ok, detail in result.get("checks", []):
            click.echo(f"  {'ok  ' if ok else 'FAIL'} {name} ({detail})")
        click.echo("Result: " + ("the sandbox works" if result["ok"] else "the sandbox is NOT working"))
        if result["unsafe_opt_out"]:
            click.echo("warning: GRADER_UNSAFE_NO_SANDBOX is set: the worker grades WITHOUT the sandbox")
    sys.exit(0 if result["ok"] else 1)


@main.command("assignments")
def assignments_cmd() -> None:
    """List the assignments, their files and points."""
    from worker.assignments import get_assignment, list_assignment_ids

    for aid in list_assignment_ids():
        a = get_assignment(aid)
        click.echo(f"{aid:15} {a.max_score:5g} pts  {', '.join(a.files):20} {a.title}")


def _register_service_commands() -> None:
    # dev, serve, worker, db, users, tokens, gradebook, login, submit, status, ... (grader/commands.py). The
    # module imports only click at the top, so this works without the server extra; a command that needs the
    # server says so when it runs (GraderGroup).
    from grader.commands import register

    try:
        register(main)
    except ModuleNotFoundError as exc:
        # A module of the service's commands imports a server package at the top: without the server extra,
        # the commands registered before it (every student command among them) are still there.
        if (exc.name or "").split(".")[0] not in SERVER_MODULES:
            raise


_register_service_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
