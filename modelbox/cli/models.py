"""`modelbox models ls/show` and `modelbox versions register/alias/label`."""

from __future__ import annotations

import click

from modelbox.cli._output import (
    dump,
    fails_cleanly,
    fields,
    json_option,
    listing,
    numbers,
    pairs,
    table,
)
from modelbox.client import Client

VERSION_COLUMNS = [
    ("VERSION", lambda v: v["version"]),
    ("ALIASES", lambda v: v["aliases"]),
    ("LABELS", lambda v: v["labels"]),
    ("METRICS", lambda v: v["metrics"]),
    ("FRAMEWORK", lambda v: v["framework"]),
    ("ID", lambda v: v["id"]),
]


@click.group()
def models() -> None:
    """Registered models."""


@models.command("ls")
@click.argument("namespace")
@click.option("--limit", type=int, help="at most this many")
@json_option
@fails_cleanly
def ls(namespace: str, limit: int | None, as_json: bool) -> None:
    """Models of NAMESPACE."""
    listing(
        lambda client: client.models(namespace, limit),
        [
            ("NAME", lambda m: m["name"]),
            ("TASK", lambda m: m["task"]),
            ("LATEST", lambda m: (m["latestVersion"] or {}).get("version")),
            ("ID", lambda m: m["id"]),
        ],
        as_json,
    )


@models.command("show")
@click.argument("model", metavar="NAMESPACE/MODEL")
@json_option
@fails_cleanly
def show(model: str, as_json: bool) -> None:
    """A model and its versions, newest first."""
    with Client() as client:
        found = client.model(model)
        found["versions"] = client.versions(model)
    if as_json:
        return dump(found)
    found["namespace"] = found["namespace"]["name"]
    fields(found, ["id", "namespace", "name", "task", "owner", "labels"])
    click.echo("\nversions:")
    table(found["versions"], VERSION_COLUMNS)


@click.group()
def versions() -> None:
    """Model versions: register, alias, label. Name a version NAMESPACE/MODEL:N,
    NAMESPACE/MODEL@ALIAS or by id."""


def _print_version(version: dict, as_json: bool) -> None:
    if as_json:
        return dump(version)
    model = version["model"]
    click.echo(
        f"{model['namespace']['name']}/{model['name']}:{version['version']}  {version['id']}"
    )
    table([version], VERSION_COLUMNS[1:-1])


@versions.command("register")
@click.argument("model", metavar="NAMESPACE/MODEL")
@click.option("--from-checkpoint", "checkpoint", metavar="ID", help="the checkpoint it came from")
@click.option("--experiment", metavar="NAMESPACE/NAME|ID", help="the experiment it came from")
@click.option("--alias", "aliases", multiple=True, help="repeatable")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="repeatable")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="repeatable")
@click.option("--framework")
@json_option
@fails_cleanly
def register(
    model: str,
    checkpoint: str | None,
    experiment: str | None,
    aliases: tuple[str, ...],
    labels: tuple[str, ...],
    metrics: tuple[str, ...],
    framework: str | None,
    as_json: bool,
) -> None:
    """Register a new version of MODEL (created if new)."""
    values = numbers(metrics, "KEY=VALUE")
    with Client() as client:
        version = client.register_version(
            model,
            from_checkpoint=checkpoint,
            experiment=experiment,
            aliases=list(aliases),
            labels=pairs(labels, "KEY=VALUE"),
            metrics=values or None,
            framework=framework,
        )
    _print_version(version, as_json)


@versions.command("alias")
@click.argument("version")
@click.argument("alias")
@json_option
@fails_cleanly
def alias(version: str, alias: str, as_json: bool) -> None:
    """Give ALIAS to VERSION (moved from the version that held it)."""
    with Client() as client:
        _print_version(client.set_alias(version, alias), as_json)


@versions.command("label")
@click.argument("version")
@click.argument("labels", nargs=-1, required=True, metavar="KEY=VALUE...")
@json_option
@fails_cleanly
def label(version: str, labels: tuple[str, ...], as_json: bool) -> None:
    """Add or change labels of VERSION."""
    with Client() as client:
        _print_version(client.set_labels(version, pairs(labels, "KEY=VALUE")), as_json)
