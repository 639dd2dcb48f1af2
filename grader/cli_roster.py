"""``grader users import`` and ``grader users link``: the roster and sign-in links from the command line.

Attached to the ``users`` group by :func:`grader.commands.register`. Both use the database directly, like
the other administration commands, and the service of :mod:`grader.roster` and :mod:`grader.signin` the
roster page uses. Links are absolute URLs under ``GRADER_EXTERNAL_URL`` (or ``--base-url``): a command run
on the server has no request to take the site's address from.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _base_url(app: object, given: str | None) -> str:
    settings = app.extensions["grader"].settings  # type: ignore[attr-defined]
    base = (given or settings.external_url or "").rstrip("/")
    if base and not base.startswith(("http://", "https://")):
        raise click.UsageError(f"--base-url must start with http:// or https://, not {base!r}")
    return base


def _writable(path: Path) -> bool:
    """Whether ``path`` can be written, without touching it (an earlier links file stays as it is)."""
    import os

    if path.exists():
        return path.is_file() and os.access(path, os.W_OK)
    parent = path.parent if str(path.parent) else Path(".")
    return parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)


@click.command("import")
@click.argument("roster", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--links", "links_path", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Write the new sign-in links (CSV: email,name,role,section,link,expires_at) to this file "
                   "instead of stdout.")
@click.option("--drop-missing", is_flag=True,
              help="Disable the students who are not in the file (their submissions stay; a later import that "
                   "lists them enables them again).")
@click.option("--relink", is_flag=True,
              help="Also make new links for everyone in the file who has not set a password yet "
                   "(their older links stop working).")
@click.option("--dry-run", is_flag=True, help="Check the file and say what would change; change nothing.")
@click.option("--base-url", default=None, help="The site's address for the links (default: GRADER_EXTERNAL_URL).")
def import_cmd(roster: Path, links_path: Path | None, drop_missing: bool, relink: bool, dry_run: bool,
               base_url: str | None) -> None:
    """Add and update users from ROSTER, a CSV file with the columns email,name[,role][,section].

    All or nothing: a file with any bad line changes nothing, and every bad line is listed. New users get a
    one-time sign-in link to set their password; the links are printed (or written with --links) once.
    """
    from grader import roster as roster_service
    from grader.cli_audit import cli_actor
    from grader.commands import _AppSession, _fail

    try:
        data = roster.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {roster}: {exc.strerror or exc}", 2)
    if links_path is not None and not dry_run and not _writable(links_path):
        # Checked before anything is imported: links that cannot be written would be lost.
        _fail(f"cannot write {links_path} (nothing was imported)", 2)
    with _AppSession() as (app, session):
        base = _base_url(app, base_url)
        settings = app.extensions["grader"].settings
        try:
            result = roster_service.import_roster(session, settings, data, actor=cli_actor(),
                                                  drop_missing=drop_missing, relink=relink)
        except roster_service.RosterInvalid as exc:
            session.rollback()
            for error in exc.errors:
                click.echo(f"{roster}: {error}", err=True)
            _fail(exc.message, 2)
        if result.links and not base and not dry_run:
            session.rollback()
            _fail("the sign-in links need the site's address: set GRADER_EXTERNAL_URL or pass --base-url "
                  "(nothing was imported)", 2)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    prefix = "would be: " if dry_run else ""
    click.echo(f"{prefix}{result.summary()} ({result.rows} in the file)", err=True)
    for label, emails in (("re-enabled", result.enabled), ("dropped (disabled)", result.dropped)):
        if emails:
            click.echo(f"{prefix}{label}: {', '.join(emails)}", err=True)
    for change in result.role_changes:
        click.echo(f"{prefix}role of {change['email']}: {change['from']} -> {change['to']}", err=True)
    if dry_run:
        click.echo(f"dry run: nothing was changed; {len(result.links)} sign-in links would be made", err=True)
        return
    text = roster_service.links_csv(result.links, base) if result.links else ""
    if links_path is not None:
        try:
            links_path.write_text(text, encoding="utf-8")
        except OSError as exc:
            # The import is committed; the links can be made again with --relink.
            _fail(f"imported, but cannot write {links_path}: {exc.strerror or exc}; run the import again with "
                  "--relink to make new links", 1)
    if not result.links:
        click.echo("no new sign-in links", err=True)
        return
    if links_path is not None:
        click.echo(f"wrote {len(result.links)} sign-in links to {links_path} (valid until "
                   f"{result.links[0].expires_at:%Y-%m-%d %H:%M} UTC; they cannot be shown again)", err=True)
    else:
        sys.stdout.write(text)


@click.command("link")
@click.argument("email")
@click.option("--hours", type=click.IntRange(min=1, max=24 * 366), default=None,
              help="Validity (default: GRADER_RESET_LINK_HOURS for a reset, GRADER_SIGNIN_LINK_DAYS for a first "
                   "sign-in).")
@click.option("--base-url", default=None, help="The site's address for the link (default: GRADER_EXTERNAL_URL).")
def link_cmd(email: str, hours: int | None, base_url: str | None) -> None:
    """Make a one-time sign-in link for EMAIL (a forgotten password) and print it; older unused links end."""
    from datetime import timedelta

    from grader import audit, signin
    from grader.cli_audit import cli_actor
    from grader.commands import _AppSession, _fail

    with _AppSession() as (app, session):
        base = _base_url(app, base_url)
        if not base:
            _fail("the sign-in link needs the site's address: set GRADER_EXTERNAL_URL or pass --base-url", 2)
        settings = app.extensions["grader"].settings
        link = signin.issue_for_email(session, settings, email,
                                      valid_for=timedelta(hours=hours) if hours else None)
        audit.record(session, cli_actor(), "signin.link", link.user.email, purpose=link.purpose,
                     expires_at=link.expires_at.isoformat(timespec="seconds"))
        session.commit()
        click.echo(f"{link.purpose} sign-in link for {link.user.email}, valid once until "
                   f"{link.expires_at:%Y-%m-%d %H:%M} UTC:", err=True)
        click.echo(link.url(base))


def attach(users_group: click.Group) -> None:
    """Add ``import`` and ``link`` to the ``users`` group."""
    users_group.add_command(import_cmd)
    users_group.add_command(link_cmd)
