"""`modelbox experiments ls/show/update-checkpoint`."""

from __future__ import annotations

import json
from typing import Any

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
from modelbox.client import _queries as q

STATUSES = click.Choice(["RUNNING", "FINISHED", "FAILED", "KILLED"], case_sensitive=False)
CHECKPOINT_COLUMNS = [
    ("STEP", lambda c: c["step"]),
    ("EPOCH", lambda c: c["epoch"]),
    ("METRICS", lambda c: c["metrics"]),
    ("ID", lambda c: c["id"]),
]


def last_value(point: dict | None) -> object:
    """A point's value, or what stands for it when it is NaN or infinite."""
    if point is None:
        return None
    return point["value"] if point.get("nonFinite") is None else point["nonFinite"]


@click.group()
def experiments() -> None:
    """Training runs."""


@experiments.command("ls")
@click.argument("namespace")
@click.option("--status", type=STATUSES)
@click.option("--owner")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="repeatable")
@click.option("--limit", type=int, help="at most this many")
@json_option
@fails_cleanly
def ls(
    namespace: str,
    status: str | None,
    owner: str | None,
    labels: tuple[str, ...],
    limit: int | None,
    as_json: bool,
) -> None:
    """Experiments of NAMESPACE, newest first."""
    label_list = [{"key": k, "value": v} for k, v in pairs(labels, "KEY=VALUE").items()] or None
    listing(
        lambda client: client.experiments(
            namespace,
            limit,
            status=status.upper() if status else None,
            owner=owner,
            labels=label_list,
        ),
        [
            ("NAME", lambda e: e["name"]),
            ("STATUS", lambda e: e["status"]),
            ("OWNER", lambda e: e["owner"]),
            ("STARTED", lambda e: e["startedAt"]),
            ("ID", lambda e: e["id"]),
        ],
        as_json,
    )


@experiments.command("show")
@click.argument("experiment", metavar="NAMESPACE/NAME|ID")
@json_option
@fails_cleanly
def show(experiment: str, as_json: bool) -> None:
    """One experiment: its fields, metric series and checkpoints."""
    with Client() as client:
        found = client.experiment(experiment)
        found["checkpoints"] = client.checkpoints(found["id"])
        series = client.graphql(q.SERIES_SUMMARY, id=found["id"])["node"]["metricSeries"]
        found["metricSeries"] = series
    if as_json:
        return dump(found)
    found["namespace"] = found["namespace"]["name"]
    fields(
        found,
        [
            "id",
            "namespace",
            "name",
            "status",
            "owner",
            "framework",
            "startedAt",
            "endedAt",
            "hyperparameters",
            "labels",
        ],
    )
    click.echo("\nmetrics:")
    table(
        series,
        [
            ("KEY", lambda s: s["key"]),
            ("COUNT", lambda s: s["count"]),
            ("STEPS", lambda s: f"{s['firstStep']}..{s['lastStep']}"),
            ("MIN", lambda s: s["min"]),
            ("MAX", lambda s: s["max"]),
            ("LAST", lambda s: last_value(s["last"])),
        ],
    )
    click.echo("\ncheckpoints:")
    table(found["checkpoints"], CHECKPOINT_COLUMNS)


@experiments.command("update-checkpoint")
@click.argument("checkpoint", metavar="ID")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="repeatable")
@click.option("--clear-metrics", is_flag=True, help="remove all its metrics")
@click.option("--metadata", metavar="JSON", help="replaces its metadata (null clears it)")
@json_option
@fails_cleanly
def update_checkpoint(
    checkpoint: str,
    metrics: tuple[str, ...],
    clear_metrics: bool,
    metadata: str | None,
    as_json: bool,
) -> None:
    """Change a checkpoint's metrics (the whole list: PROMOTION policies look again) or
    metadata; what is not given stays."""
    if clear_metrics and metrics:
        raise click.UsageError("--clear-metrics and --metric exclude each other")
    changes: dict[str, Any] = {}
    if metrics or clear_metrics:
        changes["metrics"] = numbers(metrics, "KEY=VALUE")
    if metadata is not None:
        changes["metadata"] = json.loads(metadata)
    if not changes:
        raise click.UsageError("give --metric, --clear-metrics or --metadata")
    with Client() as client:
        updated = client.update_checkpoint(checkpoint, **changes)
    if as_json:
        return dump(updated)
    table([updated], CHECKPOINT_COLUMNS)
