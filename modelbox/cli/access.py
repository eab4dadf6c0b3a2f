"""`modelbox login`, `modelbox tokens create/ls/revoke`, `modelbox sync`."""

from __future__ import annotations

from pathlib import Path

import click

from modelbox.cli._output import dump, fails_cleanly, json_option, listing, pairs
from modelbox.client import Client, sync
from modelbox.client._config import DEFAULT_URL, save


@click.command()
@click.option("--url", default=DEFAULT_URL, show_default=True, help="the server")
@click.option("--token", prompt=True, hide_input=True, help="an API token (asked for if not given)")
@fails_cleanly
def login(url: str, token: str) -> None:
    """Check a token against the server and keep both for later commands (in the user's
    config directory, readable by its owner only)."""
    with Client(url, token) as client:
        viewer = client.viewer()
    path = save(url, token)
    roles = ", ".join(f"{r['namespace']}:{r['role']}" for r in viewer["roles"])
    click.echo(f"Logged in to {url} as {viewer['name']} ({roles}); saved in {path}")


@click.group()
def tokens() -> None:
    """API tokens (ADMIN)."""


@tokens.command("create")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    metavar="NAMESPACE=ROLE",
    help="VIEWER, WRITER or ADMIN; * for every namespace (repeatable)",
)
@click.option("--expires", metavar="ISO-8601", help="when it stops working")
@json_option
@fails_cleanly
def create(name: str, roles: tuple[str, ...], expires: str | None, as_json: bool) -> None:
    """Mint a token; its secret is printed this once."""
    with Client() as client:
        created = client.create_token(name, pairs(roles, "NAMESPACE=ROLE"), expires)
    if as_json:
        return dump(created)
    click.echo(created["token"])
    click.echo(f"(id {created['principal']['id']}; shown once, only its hash is kept)", err=True)


@tokens.command("ls")
@json_option
@fails_cleanly
def ls(as_json: bool) -> None:
    """Every token: name, roles, created, expires, last used; never the secret."""
    listing(
        lambda client: client.tokens(),
        [
            ("NAME", lambda t: t["name"]),
            ("ROLES", lambda t: [f"{r['namespace']}:{r['role']}" for r in t["roles"]]),
            ("CREATED", lambda t: t["createdAt"]),
            ("EXPIRES", lambda t: t["expiresAt"]),
            ("LAST USED", lambda t: t["lastUsedAt"]),
            ("REVOKED", lambda t: t["revokedAt"]),
            ("ID", lambda t: t["id"]),
        ],
        as_json,
    )


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@fails_cleanly
def revoke(token_id: str) -> None:
    """Revoke a token: it stops working at once, open subscriptions included."""
    with Client() as client:
        client.revoke_token(token_id)
    click.echo(f"revoked {token_id}")


@click.command("sync")
@click.option(
    "--spool-dir",
    type=click.Path(path_type=Path),
    help="default: MODELBOX_SPOOL_DIR or ~/.cache/modelbox/spool",
)
@click.option("--timeout", type=float, help="give up after this many seconds")
@fails_cleanly
def sync_command(spool_dir: Path | None, timeout: float | None) -> None:
    """Send what runs could not (server down at finish, a crashed job); exit 1 if
    something is still unsent."""
    results = sync(spool_dir, timeout=timeout)
    unsent = False
    for result in results:
        if result.busy:
            click.echo(f"{result.experiment}: its run is still going, left to it")
        elif result.left:
            unsent = True
            click.echo(
                f"{result.experiment}: {result.left} batches not sent (server unreachable);"
                f" kept in {result.spool}"
            )
        else:
            click.echo(f"{result.experiment}: sent {result.sent} batches, done")
        for reason in result.refused:
            click.echo(f"{result.experiment}: refused by the server: {reason}", err=True)
    if not results:
        click.echo("nothing to sync")
    if unsent:
        raise SystemExit(1)
