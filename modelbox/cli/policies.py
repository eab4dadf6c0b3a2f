"""`modelbox policies ls/apply/test`: promotion, labeling and retention policies."""

from __future__ import annotations

import json
from pathlib import Path

import click

from modelbox.cli._output import dump, fails_cleanly, json_option, listing
from modelbox.client import Client, _policies


@click.group()
def policies() -> None:
    """Promotion, labeling and retention policies."""


@policies.command("ls")
@click.argument("namespace")
@json_option
@fails_cleanly
def ls(namespace: str, as_json: bool) -> None:
    """Policies of NAMESPACE, by name."""
    listing(
        lambda client: _policies.policies(client, namespace),
        [
            ("NAME", lambda p: p["name"]),
            ("KIND", lambda p: p["kind"]),
            ("ENABLED", lambda p: "yes" if p["enabled"] else "no"),
            ("DRY RUN", lambda p: "yes" if p["dryRun"] else "no"),
            ("MODEL", lambda p: (p["model"] or {}).get("name")),
            ("ID", lambda p: p["id"]),
        ],
        as_json,
    )


@policies.command("apply")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@fails_cleanly
def apply(spec: Path, as_json: bool) -> None:
    """Create the policy a JSON file describes (the API's CreatePolicyInput; "model",
    "targetModel", "experiment" may be given as namespace/name), or update the policy of
    that name in its namespace."""
    with Client() as client:
        done, policy = _policies.apply(client, json.loads(spec.read_text()))
    if as_json:
        return dump(policy)
    click.echo(f"{done} {policy['namespace']['name']}/{policy['name']}  {policy['id']}")


@policies.command("test")
@click.argument("policy", metavar="NAMESPACE/NAME")
@click.option("--subject", metavar="ID", help="a checkpoint (PROMOTION) or version (LABELING)")
@json_option
@fails_cleanly
def test(policy: str, subject: str | None, as_json: bool) -> None:
    """What the policy would decide, and why, without acting (a dry run)."""
    namespace, _, name = policy.partition("/")
    with Client() as client:
        evaluations = _policies.test(client, namespace, name, subject)
    if as_json:
        return dump(evaluations)
    for evaluation in evaluations:
        who = (evaluation["subject"] or {}).get("id", "-")
        click.echo(f"{evaluation['decision']}  {who}")
        for reason in evaluation["reasons"]:
            click.echo(f"  {reason}")
