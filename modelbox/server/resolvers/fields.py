"""Validation of the fields that models, versions, experiments and checkpoints share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelbox.server.errors import BadUserInput
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context

# Fields every object has a value for: an update may change them, not clear them.
NOT_NULL = frozenset({"status", "name", "enabled", "dry_run", "action"})


def refuse_nulls(changes: dict[str, Any], nullable: frozenset[str] = frozenset()) -> None:
    """BAD_USER_INPUT for a null given to a field that cannot be cleared."""
    for key, value in changes.items():
        if key in NOT_NULL - nullable and value is None:
            raise BadUserInput(f"{key}: cannot be null (leave it out to keep it)", field=key)


def clean_fields(ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """Check every field by its kind; short free-text fields are bounded in length."""
    limit = ctx.settings.max_metadata_bytes
    checks: dict[str, Callable[[Any], Any]] = {
        "description": lambda v: validation.text(v, "description"),
        "labels": validation.labels,
        "datasets": validation.datasets,
        "metadata": lambda v: validation.json_value(v, "metadata", limit),
        "hyperparameters": lambda v: validation.json_value(v, "hyperparameters", limit),
        "aliases": validation.aliases,
        "metrics": validation.key_values,
    }
    # A version's name may be cleared; an experiment's status may not.
    refuse_nulls(fields, nullable=frozenset({"name"}))
    cleaned = dict(fields)
    for key, value in fields.items():
        if key in checks:
            cleaned[key] = checks[key](value)
        elif isinstance(value, str):
            validation.text(value, key, validation.MAX_SHORT_TEXT)
    return cleaned
