"""The ``grader`` command line.

One root click group; each subcommand imports what it needs when it runs, so
``grader --help`` works even when the configuration (or an optional
dependency) is broken. Exit codes follow DESIGN.md: 0 the command did its job
(a low score included), 1 it could not (infrastructure), 2 usage errors.
"""

from __future__ import annotations

import json
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
        except Exception as exc:  # noqa: BLE001 - the contract is one clear line, never a traceback
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)


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
        from grader.archives import is_notebook, notebook_message

        if is_notebook(path.name, data):
            raise click.UsageError(notebook_message(path.name, assignment.files, action="Give it", uncounted=False))
        files[path.name] = data
    if len(assignment.files) == 1 and len(files) == 1:
        (name, data), = files.items()
        expected = assignment.files[0]
        if name != expected:
            click.echo(f"note: grading {name} as {expected}", err=True)
            files = {expected: data}
    return files


def _run(assignment_id: str, paths: tuple[str, ...], mode: str, as_json: bool, seed: int | None,
         unsafe: bool = False) -> None:
    from worker.assignments import AssignmentError, UnknownAssignment, get_assignment
    from worker.engine import grade
    from worker.sandbox import Launcher, SubprocessLauncher, default_launcher
    from worker.sandbox.hardened import SandboxUnavailable

    try:
        assignment = get_assignment(assignment_id)
    except UnknownAssignment as exc:
        raise click.UsageError(str(exc)) from None
    except AssignmentError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    files = _read_files(assignment, paths)
    if not as_json:
        click.echo(f"{'Grading' if mode == 'grade' else 'Checking'} {', '.join(files)} for {assignment.title} ...",
                   err=True)
    launcher: Launcher
    if mode == "check" or unsafe:
        # The offline self-check runs the student's own code on the student's own machine.
        launcher = SubprocessLauncher()
        if unsafe:
            click.echo("warning: --unsafe-no-sandbox: the code runs without isolation", err=True)
    else:
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
    if report["status"] == "error" and report.get("error_kind") == "infrastructure":
        sys.exit(1)


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
def check_cmd(assignment: str, files: tuple[str, ...], as_json: bool, seed: int | None) -> None:
    """Offline self-check of your FILES for ASSIGNMENT: the public checks, no reference needed."""
    _run(assignment, files, "check", as_json, seed)


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
    # dev, serve, worker, db, users, tokens, gradebook, login, submit, status, ... (grader/commands.py)
    from grader.commands import register

    register(main)


_register_service_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
