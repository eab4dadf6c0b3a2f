"""NaN and ±infinity beside a float column: GraphQL's Float cannot carry them, so a column
holds a placeholder there and `nonFinite` names the positions and what stands at each."""

from __future__ import annotations

import enum
import math
from typing import Any, cast

import strawberry


@strawberry.enum(description="A float GraphQL cannot carry.")
class NonFinite(enum.Enum):
    NAN = "NAN"
    INFINITY = "INFINITY"
    NEGATIVE_INFINITY = "NEGATIVE_INFINITY"


FLOATS = {
    NonFinite.NAN: math.nan,
    NonFinite.INFINITY: math.inf,
    NonFinite.NEGATIVE_INFINITY: -math.inf,
}


def kind_of(value: float) -> NonFinite:
    if value != value:
        return NonFinite.NAN
    return NonFinite.INFINITY if value > 0 else NonFinite.NEGATIVE_INFINITY


@strawberry.type(description="Position `index` of the float column holds `value`.")
class NonFiniteValue:
    index: int
    value: NonFinite


@strawberry.input(
    description="Position `index` of `values` holds `value`; the placeholder there is ignored."
)
class NonFiniteValueInput:
    index: int
    value: NonFinite


def as_floats(items: list[NonFiniteValueInput] | None) -> list[tuple[int, float]] | None:
    return None if items is None else [(item.index, FLOATS[item.value]) for item in items]


def split(values: list[float]) -> tuple[list[float | None], list[NonFiniteValue]]:
    """A float column for the API: None where a value is not finite, and those named."""
    if all(map(math.isfinite, values)):
        return cast(list[float | None], values), []
    special = [
        NonFiniteValue(index=i, value=kind_of(v))
        for i, v in enumerate(values)
        if not math.isfinite(v)
    ]
    return [v if math.isfinite(v) else None for v in values], special


def finite_or_none(value: Any) -> float | None:
    return value if value is None or math.isfinite(value) else None
