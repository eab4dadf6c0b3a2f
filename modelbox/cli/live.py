"""`modelbox metrics tail` and `modelbox events tail`: live, one line per point or event."""

from __future__ import annotations

import base64
import itertools
import json
import math
from typing import Any

import click

from modelbox.cli._output import fails_cleanly, json_option
from modelbox.client import Client, Point
from modelbox.client._columns import non_finite_name


def as_json_point(point: Point) -> dict[str, Any]:
    """A point as strict JSON: NaN and infinities as the API gives them, in nonFinite."""
    found: dict[str, Any] = point._asdict()
    value = point.value
    if isinstance(value, float) and not math.isfinite(value):
        found["value"] = None
        found["nonFinite"] = non_finite_name(value)
    elif isinstance(value, bytes):
        found["value"] = base64.b64encode(value).decode()
    return found


@click.group()
def metrics() -> None:
    """Metric series."""


@metrics.command("tail")
@click.argument("experiment", metavar="NAMESPACE/NAME|ID")
@click.option("--key", "keys", multiple=True, help="only this series (repeatable)")
@click.option(
    "--from-step", type=int, help="first the stored points from this step, then live ones"
)
@click.option("-n", "--count", type=int, help="stop after this many points")
@json_option
@fails_cleanly
def tail_metrics(
    experiment: str, keys: tuple[str, ...], from_step: int | None, count: int | None, as_json: bool
) -> None:
    """Points as they are logged (Ctrl-C stops)."""
    with Client() as client:
        points = client.watch_metrics(experiment, list(keys) or None, from_step)
        for point in itertools.islice(points, count):
            if as_json:
                click.echo(json.dumps(as_json_point(point)))
            else:
                click.echo(f"{point.step:>10}  {point.key}  {point.value}")


@click.group()
def events() -> None:
    """Events reported about experiments, checkpoints, models and versions."""


@events.command("tail")
@click.option("--subject", metavar="ID", help="events of this object")
@click.option("--namespace", help="events of this namespace")
@click.option("--name", "names", multiple=True, help="only events of this name (repeatable)")
@click.option("-n", "--count", type=int, help="stop after this many events")
@json_option
@fails_cleanly
def tail_events(
    subject: str | None,
    namespace: str | None,
    names: tuple[str, ...],
    count: int | None,
    as_json: bool,
) -> None:
    """Events as they are logged (Ctrl-C stops)."""
    with Client() as client:
        for event in itertools.islice(
            client.watch_events(subject, namespace, list(names) or None), count
        ):
            if as_json:
                click.echo(json.dumps(event))
            else:
                payload = json.dumps(event["payload"]) if event["payload"] is not None else ""
                click.echo(
                    f"{event['wallclock']}  {event['name']}  {event['source'] or '-'}  {payload}"
                )
