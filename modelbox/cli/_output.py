"""How commands print: tables for people, JSON for scripts, server errors with their code."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

import click

from modelbox.client import APIError, Client, ModelBoxError

Columns = Sequence[tuple[str, Callable[[dict[str, Any]], Any]]]

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


def fails_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Errors print the server's message and code on stderr and exit 1, no traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except APIError as error:
            click.echo(f"error: {error.message} ({error.code})", err=True)
        except ModelBoxError as error:
            click.echo(f"error: {error}", err=True)
        except (OSError, ValueError) as error:
            click.echo(f"error: {error}", err=True)
        sys.exit(1)

    return wrapper


def dump(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        if set(value) == {"key", "value"}:
            return f"{value['key']}={value['value']}"
        return json.dumps(value)
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Columns) -> None:
    """Aligned columns with a header; `columns` are (title, getter)."""
    cells = [[cell(get(row)) for _, get in columns] for row in rows]
    titles = [title for title, _ in columns]
    widths = [max([len(t), *(len(c[i]) for c in cells)]) for i, t in enumerate(titles)]
    for line in [titles, *cells]:
        click.echo(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        )


def listing(
    find: Callable[[Client], Sequence[dict[str, Any]]], columns: Columns, as_json: bool
) -> None:
    """A listing command's output: what `find` finds with the user's client, as a table, or
    as JSON with --json."""
    with Client() as client:
        found = find(client)
    if as_json:
        dump(found)
    else:
        table(found, columns)


def fields(record: dict[str, Any], names: Sequence[str]) -> None:
    """`name: value` lines for one object."""
    width = max(len(n) for n in names)
    for name in names:
        value = record.get(name)
        text = json.dumps(value) if isinstance(value, dict) else cell(value)
        click.echo(f"{name.ljust(width)}  {text}")


def pairs(values: Sequence[str], what: str) -> dict[str, str]:
    """`key=value` arguments as a dict."""
    found = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected {what}")
        found[key] = value
    return found


def numbers(values: Sequence[str], what: str) -> dict[str, float]:
    """`key=number` arguments as a dict; NaN and infinities are refused here, as JSON cannot
    carry them to the API's Float."""
    found = {}
    for key, text in pairs(values, what).items():
        try:
            value = float(text)
        except ValueError:
            raise click.BadParameter(f"{key}={text}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise click.BadParameter(f"{key}={text}: a metric's value must be finite")
        found[key] = value
    return found
