"""Custom scalars of the schema."""

from __future__ import annotations

from typing import NewType

import strawberry
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


SCALARS: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer (a step, a size in bytes), as a JSON number.",
        serialize=int,
        parse_value=_parse_long,
    )
}
