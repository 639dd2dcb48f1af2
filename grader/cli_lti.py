"""``grader lti``: register an LMS (LTI 1.3), show what its administrator enters, list the registrations, and
send an assignment's counted scores to the LMS (issue 11). Run on the server, like ``grader users``."""

from __future__ import annotations

import json

import click


@click.group("lti")
def lti_group() -> None:
    """LTI 1.3: launches from the LMS (Canvas, Moodle, ...) and grade passback."""


@lti_group.command("add-platform")
@click.option("--issuer", required=True, help="The platform's issuer (iss), e.g. https://canvas.instructure.com.")
@click.option("--client-id", required=True, help="The client id the LMS gave this tool (the launch's aud).")
@click.option("--deployment-id", "deployment_ids", multiple=True, required=True,
              help="A deployment id of the tool in the LMS (repeat for several).")
@click.option("--auth-login-url", required=True, help="The platform's OIDC authorisation endpoint.")
@click.option("--token-url", required=True, help="The platform's OAuth2 token endpoint (for grade passback).")
@click.option("--jwks-url", required=True, help="The platform's public keys (JWKS).")
def add_platform_cmd(issuer: str, client_id: str, deployment_ids: tuple[str, ...], auth_login_url: str,
                     token_url: str, jwks_url: str) -> None:
    """Register an LMS, or update the one with this issuer and client id (deployment ids are added)."""
    from grader import lti
    from grader.cli_audit import cli_actor
    from grader.commands import _AppSession

    with _AppSession() as (_app, session):
        row, created = lti.add_platform(session, cli_actor(), issuer=issuer, client_id=client_id,
                                        deployment_ids=deployment_ids, auth_login_url=auth_login_url,
                                        auth_token_url=token_url, key_set_url=jwks_url)
        session.commit()
        click.echo(f"{'registered' if created else 'updated'} {row.issuer} (client id {row.client_id}; "
                   f"deployments {', '.join(row.deployment_ids)})")


@lti_group.command("list")
def list_cmd() -> None:
    """The registered platforms, their line items (assignments whose scores go to the LMS) and linked users."""
    from sqlalchemy import func, select

    from grader import lti
    from grader.commands import _AppSession
    from grader.models import LtiLink

    with _AppSession() as (_app, session):
        rows = lti.platforms(session)
        if not rows:
            click.echo("no LMS registered (grader lti add-platform)")
            return
        links = dict(session.execute(select(LtiLink.issuer, func.count()).group_by(LtiLink.issuer)).all())
        items = lti.line_items(session)
        for row in rows:
            click.echo(f"{row.issuer}  client id {row.client_id}  deployments {', '.join(row.deployment_ids)}")
            click.echo(f"  login {row.auth_login_url}\n  token {row.auth_token_url}\n  jwks  {row.key_set_url}")
            click.echo(f"  users linked to this issuer: {links.get(row.issuer, 0)}")
            mine = [(item, title) for item, title in items if item.platform_id == row.id]
            for item, title in mine:
                click.echo(f"  line item: {item.assignment_id} ({title}) -> {item.lineitem_url}")
            if not mine:
                click.echo("  no line item yet (a graded LMS link with assignment=<id> creates one at its first launch)")


@lti_group.command("tool-info")
@click.option("--url", default=None, help="The site's public address (default: GRADER_EXTERNAL_URL).")
@click.option("--json", "as_json", is_flag=True, help="Print the same as JSON.")
def tool_info_cmd(url: str | None, as_json: bool) -> None:
    """What the LMS administrator enters: the tool's login, launch (redirect) and JWKS URLs, and its key."""
    from grader import lti
    from grader.commands import _AppSession, _fail
    from grader.lti_views import tool_urls

    with _AppSession() as (app, _session):
        base = url or app.extensions["grader"].settings.external_url
        if not base or not base.startswith(("http://", "https://")):
            _fail("give the site's public address: --url https://grader.example.edu (or set GRADER_EXTERNAL_URL)", 2)
        key = lti.tool_key(app.extensions["grader"].db)
        info = {**tool_urls(base), "redirect_uris": [tool_urls(base)["launch_url"]], "kid": key.kid,
                "public_jwk": key.jwk(), "custom_parameters": {lti.ASSIGNMENT_PARAMETER: "<assignment id, e.g. svm>"},
                "scopes": [lti.SCORE_SCOPE]}
        if as_json:
            click.echo(json.dumps(info, indent=2))
            return
        click.echo(f"OIDC login (initiation) URL: {info['login_url']}")
        click.echo(f"Launch / redirect URL:       {info['launch_url']}")
        click.echo(f"Public JWK set URL:          {info['jwks_url']}")
        click.echo(f"Key id (kid):                {key.kid}")
        click.echo(f"Custom parameter per link:   {lti.ASSIGNMENT_PARAMETER}=<assignment id>  (e.g. assignment=svm)")
        click.echo(f"Scope for grade passback:    {lti.SCORE_SCOPE}")
        click.echo("Public JWK (if the LMS wants the key pasted rather than the URL):")
        click.echo(json.dumps(key.jwk()))


@lti_group.command("sync")
@click.argument("assignment", required=False)
def sync_cmd(assignment: str | None) -> None:
    """Send every linked student's counted score of ASSIGNMENT (default: of every assignment with an LMS line
    item) to the LMS now; e.g. after changing extensions or the late-day budget. Exit 1 if any did not go."""
    from grader import catalog, lti
    from grader.cli_audit import cli_actor
    from grader.commands import _AppSession, _fail

    with _AppSession() as (app, session):
        state = app.extensions["grader"]
        assignment_id = catalog.get(session, state.settings, assignment).id if assignment else None
        session.commit()
        if not lti.targets(session, assignment_id=assignment_id):
            session.rollback()
            which = assignment_id or "any assignment"
            _fail(f"no student of {which} is linked to an LMS line item (a student's launch from a graded LMS "
                  f"link with assignment=<id> makes one)", 1)
        session.rollback()
        result = lti.send_scores(state.db, state.settings, assignment_id=assignment_id, actor=cli_actor())
    click.echo(f"{assignment_id or 'all assignments'}: {result.summary()}")
    for line in result.failed + result.retry:
        click.echo(f"  not sent: {line}", err=True)
    if result.failed or result.retry:
        raise SystemExit(1)
