"""Custom scalars of the schema, and DateTime and JSON checked where they enter.

What DateTime and JSON let pass the store can keep; a value they refuse is the caller's
error (BAD_USER_INPUT, naming the scalar), in a variable or a literal alike, for every
argument of the type, before any resolver runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, NewType

import strawberry
from graphql import ValueNode, value_from_ast_untyped
from strawberry.scalars import JSON
from strawberry.types.scalar import ScalarDefinition

# Steps (tokens seen, past 2^31) and sizes in bytes: JSON numbers, exact up to 2^53 in
# JavaScript and to 2^63 in clients that read integers as integers.
Long = NewType("Long", int)
LONG_RANGE = (-(2**63), 2**63 - 1)


def _parse_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Long cannot represent {value!r}: not a 64-bit integer")
    if not LONG_RANGE[0] <= value <= LONG_RANGE[1]:
        raise ValueError(f"Long cannot represent {value!r}: not a 64-bit integer")
    return value


# MongoDB refuses documents nested deeper than 100 levels, and user maps sit a few levels
# down (audit changes: changes.<field>.from.<map>).
MAX_JSON_DEPTH = 64


def parse_datetime(value: object) -> datetime:
    """An ISO-8601 time with a zone (or a bare date: midnight UTC), as UTC."""
    if not isinstance(value, str):
        raise ValueError(f"DateTime: {value!r} is not an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"DateTime: {value[:40]!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        if "T" in value.upper() or " " in value:
            raise ValueError(
                f"DateTime: {value[:40]!r} has no time zone; add Z or an offset like +02:00"
            )
        moment = moment.replace(tzinfo=UTC)  # a date alone: that day in UTC
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"DateTime: {value[:40]!r} is outside years 1 to 9999 in UTC") from None


def _serialize_datetime(value: datetime | date) -> str:
    return value.isoformat()


def check_json(value: Any, depth: int = 0) -> Any:
    """`value` if MongoDB can store it: keys without NUL, 64-bit integers, bounded depth."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError(f"JSON: the key {key[:40]!r} contains a NUL character")
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not LONG_RANGE[0] <= value <= LONG_RANGE[1]
    ):
        raise ValueError(f"JSON: the integer {str(value)[:40]} does not fit in 64 bits")
    return value


def _parse_json_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return check_json(value_from_ast_untyped(node, variables))


SCALARS: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer (a step, a size in bytes), as a JSON number.",
        serialize=int,
        parse_value=_parse_long,
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description="An ISO-8601 time with a time zone (a bare date is midnight UTC); "
        "answered in UTC.",
        serialize=_serialize_datetime,
        parse_value=parse_datetime,
    ),
    JSON: strawberry.scalar(
        name="JSON",
        description="Any JSON value: 64-bit integers, keys without NUL, "
        f"at most {MAX_JSON_DEPTH} levels deep.",
        serialize=lambda value: value,
        parse_value=check_json,
        parse_literal=_parse_json_literal,
    ),
}
