"""``grader audit`` (the audit log) and ``grader users role`` (a user's role, audited): commands run on the
server, against the database, like ``grader users``.

Changes made from the command line are recorded with the actor ``cli:<login>`` (the account that ran the
command), since no user of the grader is logged in there.
"""

from __future__ import annotations

import getpass
import json

import click

from grader.commands import _AppSession, _fail


def cli_actor() -> str:
    """``cli:<the operating-system login>`` (``cli`` when there is none, e.g. a container's numeric uid)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.command("audit")
@click.option("--action", default=None, help="Only entries of this action (e.g. regrade, role.change).")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True,
              help="How many entries, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry, one per line.")
def audit_cmd(action: str | None, limit: int, as_json: bool) -> None:
    """Print the audit log, newest first: who regraded, changed a role or policy, imported, extended, when."""
    from grader import audit

    with _AppSession() as (_app, session):
        rows = audit.entries(session, limit=limit, action=action)
        known = audit.actions(session) if not rows and action else []
        if rows and not as_json:
            click.echo(f"{'WHEN (UTC)':20}  {'WHO':30}  {'ACTION':14}  TARGET (DETAILS)")
        for entry in rows:
            if as_json:
                click.echo(json.dumps({"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
                                       "target": entry.target, "details": entry.details}, sort_keys=True))
            else:
                details = "; ".join(audit.describe(entry.details))
                click.echo(f"{entry.at:%Y-%m-%d %H:%M:%S}Z  {entry.actor or 'unknown':30}  {entry.action:14}  "
                           f"{entry.target}" + (f"  ({details})" if details else ""))
    if not rows and not as_json:
        hint = f" (recorded actions: {', '.join(known)})" if known else ""
        click.echo(f"no audit entries{' for ' + action if action else ''}{hint}", err=True)


@click.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(["student", "ta", "instructor"]))
def users_role_cmd(email: str, role: str) -> None:
    """Make EMAIL a student, a TA or an instructor (recorded in the audit log; the last instructor stays one)."""
    from grader import roles
    from grader.errors import Conflict, NotFound

    with _AppSession() as (_app, session):
        try:
            user, old = roles.change_role(session, cli_actor(), email, role)
        except NotFound as exc:
            _fail(exc.message, 2)
        except Conflict as exc:
            _fail(exc.message, 1)
        session.commit()
        click.echo(f"{user.email} is already {roles.ROLE_NAMES[role]}" if old == role
                   else f"{user.email}: {old} -> {role}")


@click.command("revoke")
@click.argument("email")
@click.option("--id", "token_id", type=click.IntRange(1, 2**63 - 1), default=None,
              help="Only this token of EMAIL (its id, as `grader account tokens` shows it to its owner).")
def tokens_revoke_cmd(email: str, token_id: int | None) -> None:
    """Revoke EMAIL's API tokens (all active ones, or one with --id), e.g. a token that leaked; recorded in the
    audit log. Their page sessions and password are unchanged (`grader users disable` ends everything)."""
    from sqlalchemy import select

    from grader import audit, auth
    from grader.errors import NotFound
    from grader.models import ApiToken, utcnow

    with _AppSession() as (_app, session):
        user = auth.find_user(session, email)
        if user is None:
            _fail(f"no user with the email {email!r}", 2)
        if token_id is not None:
            try:
                rows = [auth.revoke_token_id(session, user, token_id)]
            except NotFound:
                _fail(f"{user.email} has no token {token_id}", 2)
        else:
            at = utcnow()
            rows = list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                               ApiToken.revoked_at.is_(None),
                                                               ApiToken.expires_at > at)))
            for row in rows:
                row.revoked_at = at
        ids = [row.id for row in rows]
        if ids:
            audit.record(session, cli_actor(), "token.revoke", user.email, tokens=ids)
        session.commit()
        click.echo(f"revoked {len(ids)} token{'s' if len(ids) != 1 else ''} of {user.email}"
                   + (f" ({', '.join(map(str, ids))})" if ids else " (none was active)"))
