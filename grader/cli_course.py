"""``grader extensions`` (per-student deadline extensions), ``grader late-days`` (the term's late-day budget) and
``grader gradebook canvas-ids`` (the Canvas assignment ids of the Canvas export): commands run on the server,
against the database, like ``grader users``. Every change is audited with the actor ``cli:<login>``.
"""

from __future__ import annotations

import json
import re

import click

from grader.commands import _AppSession, _fail


def _actor() -> str:
    from grader.cli_audit import cli_actor

    return cli_actor()


def _when(value: object) -> str:
    return value.isoformat() if value is not None else "-"  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- extensions


@click.group("extensions")
def extensions_group() -> None:
    """Per-student deadline extensions (the student's own deadline and hard deadline for one assignment)."""


@extensions_group.command("add")
@click.argument("email")
@click.argument("assignment")
@click.option("--days", type=float, default=None, help="Move the assignment's deadline (and hard deadline) by N days.")
@click.option("--until", "until", default=None, help="The student's deadline, ISO with a UTC offset "
                                                     "(2027-04-21T23:59:00-07:00).")
@click.option("--hard-until", default=None, help="The student's hard deadline (default: the assignment's distance "
                                                 "from its deadline, kept).")
@click.option("--reason", default="", help="Why (shown to the student and in the audit log).")
def extensions_add_cmd(email: str, assignment: str, days: float | None, until: str | None, hard_until: str | None,
                       reason: str) -> None:
    """Give EMAIL their own deadline for ASSIGNMENT (replacing an extension they had for it)."""
    from grader import deadlines

    with _AppSession() as (app, session):
        row = deadlines.add_extension(
            session, app.extensions["grader"].settings, _actor(), email, assignment, days=days,
            until=deadlines.parse_time(until, "--until") if until is not None else None,
            hard_until=deadlines.parse_time(hard_until, "--hard-until") if hard_until is not None else None,
            reason=reason)
        session.commit()
        click.echo(f"extension for {email.strip().lower()} on {assignment}: due {_when(row.deadline)}, "
                   f"submissions close {_when(row.hard_deadline) if row.hard_deadline else 'never'}")


@extensions_group.command("list")
@click.option("--assignment", default=None, help="Only this assignment's extensions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per extension, one per line.")
def extensions_list_cmd(assignment: str | None, as_json: bool) -> None:
    """List the extensions, by assignment then e-mail."""
    from grader import deadlines

    with _AppSession() as (_app, session):
        rows = deadlines.list_extensions(session, assignment)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.as_dict()))
        return
    if not rows:
        click.echo("no extensions" + (f" for {assignment}" if assignment else ""), err=True)
        return
    click.echo(f"{'ASSIGNMENT':16} {'STUDENT':32} {'DEADLINE':26} {'HARD DEADLINE':26} REASON")
    for row in rows:
        click.echo(f"{row.assignment_id:16} {row.email:32} {_when(row.deadline):26} {_when(row.hard_deadline):26} "
                   f"{row.reason}")


@extensions_group.command("remove")
@click.argument("email")
@click.argument("assignment")
def extensions_remove_cmd(email: str, assignment: str) -> None:
    """Remove EMAIL's extension for ASSIGNMENT (the assignment's deadlines apply again)."""
    from grader import deadlines

    with _AppSession() as (_app, session):
        deadlines.remove_extension(session, _actor(), email, assignment)
        session.commit()
    click.echo(f"removed the extension of {email.strip().lower()} for {assignment}")


# --------------------------------------------------------------------------- the late-day budget


@click.group("late-days")
def late_days_group() -> None:
    """The term's budget of free late days per student (spent automatically, in whole days)."""


@late_days_group.command("set", context_settings={"ignore_unknown_options": True})  # "-1" is a number, not an option
@click.argument("days", type=int)
def late_days_set_cmd(days: int) -> None:
    """Give every student DAYS free late days for the term (0: none, the late penalty from the first day)."""
    from grader import deadlines

    with _AppSession() as (_app, session):
        before = deadlines.set_late_day_budget(session, _actor(), days)
        session.commit()
    click.echo(f"late-day budget: {days} day{'s' if days != 1 else ''} per student"
               + (f" (was {before})" if before is not None else " (was none)"))


@late_days_group.command("clear")
def late_days_clear_cmd() -> None:
    """Remove the budget: each assignment's late penalty applies from the first day, as without one."""
    from grader import deadlines

    with _AppSession() as (_app, session):
        before = deadlines.set_late_day_budget(session, _actor(), None)
        session.commit()
    click.echo("late-day budget removed" + (f" (was {before})" if before is not None else " (there was none)"))


@late_days_group.command("show")
def late_days_show_cmd() -> None:
    """Print the budget and, for each student who spent late days, how many."""
    from grader import gradebook

    with _AppSession() as (app, session):
        book = gradebook.build(session, app.extensions["grader"].settings)
    if book.late_day_budget is None:
        click.echo("no late-day budget (set one with `grader late-days set N`)")
        return
    click.echo(f"late-day budget: {book.late_day_budget} day{'s' if book.late_day_budget != 1 else ''} per student")
    for row in book.students:
        if row.late_days_used:
            per = ", ".join(f"{aid} {g.late_days_used}" for aid, g in row.grades.items() if g and g.late_days_used)
            click.echo(f"{row.email:32} {row.late_days_used} used ({per}), {book.late_day_budget - row.late_days_used} left")


# --------------------------------------------------------------------------- Canvas


@click.command("canvas-ids")
@click.argument("pairs", nargs=-1)
def canvas_ids_cmd(pairs: tuple[str, ...]) -> None:
    """Show, or set with ASSIGNMENT=CANVAS_ID (ASSIGNMENT= forgets it), the Canvas assignment ids used by
    `grader gradebook export --format canvas`: with an id, the column updates that Canvas assignment."""
    from grader import gradebook

    changes: dict[str, str | None] = {}
    for pair in pairs:
        match = re.fullmatch(r"([^=\s]+)=(\S*)", pair)
        if match is None:
            _fail(f"give ASSIGNMENT=CANVAS_ID (e.g. svm=12345), not {pair!r}", 2)
        changes[match.group(1)] = match.group(2) or None
    with _AppSession() as (app, session):
        ids = (gradebook.set_canvas_ids(session, app.extensions["grader"].settings, _actor(), changes) if changes
               else gradebook.canvas_ids(session))
        session.commit()
    if not ids:
        click.echo("no Canvas assignment ids: the Canvas export names each column by the assignment's title",
                   err=True)
    for aid, canvas_id in sorted(ids.items()):
        click.echo(f"{aid}={canvas_id}")


def attach(main: click.Group, gradebook_group: click.Group) -> None:
    """Register these commands (one line in grader/commands.py's ``register``)."""
    main.add_command(extensions_group)
    main.add_command(late_days_group)
    gradebook_group.add_command(canvas_ids_cmd)
