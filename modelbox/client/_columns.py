"""Points between Python and the API's columnar form, non-finite floats included.

GraphQL's Float cannot carry NaN or ±infinity, so a float column travels with a
placeholder at those positions and `nonFinite: [{index, value}]` naming what stands there;
these functions put them in and take them out, so users only ever see Python floats.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from typing import Any

NON_FINITE = {"NAN": math.nan, "INFINITY": math.inf, "NEGATIVE_INFINITY": -math.inf}
FLOAT, TENSOR, BYTES = "FLOAT", "TENSOR", "BYTES"
COLUMN = {FLOAT: "values", TENSOR: "tensors", BYTES: "bytes"}


def non_finite_name(value: float) -> str:
    if value != value:
        return "NAN"
    return "INFINITY" if value > 0 else "NEGATIVE_INFINITY"


def encode_floats(values: list[float]) -> tuple[list[float], list[dict[str, Any]]]:
    """The column with 0.0 where a value is not finite, and the list naming those."""
    if all(map(math.isfinite, values)):
        return values, []
    special = [
        {"index": i, "value": non_finite_name(v)}
        for i, v in enumerate(values)
        if not math.isfinite(v)
    ]
    column = [v if math.isfinite(v) else 0.0 for v in values]
    return column, special


def decode_floats(values: list[Any], special: Iterable[dict[str, Any]] | None) -> list[Any]:
    """The float column as Python floats, NaN and infinities back in their places."""
    if not special:
        return values
    values = list(values)
    for item in special:
        values[item["index"]] = NON_FINITE[item["value"]]
    return values


def kind_of(value: Any) -> str:
    if isinstance(value, str):
        return TENSOR
    if isinstance(value, bytes | bytearray | memoryview):
        return BYTES
    return FLOAT


def series_input(
    key: str, steps: list[Any], wallclocks: list[float], values: list[Any], kind: str
) -> dict[str, Any]:
    """One `MetricSeriesInput`; values already of `kind` (floats, strings or bytes)."""
    item: dict[str, Any] = {"key": key, "steps": list(map(int, steps)), "wallclocks": wallclocks}
    if kind == FLOAT:
        column, special = encode_floats(values)
        item["values"] = column
        if special:
            item["nonFinite"] = special
    elif kind == TENSOR:
        item["tensors"] = values
    else:
        item["bytes"] = [base64.b64encode(bytes(v)).decode() for v in values]
    return item


def as_floats(values: list[Any]) -> list[float] | None:
    """`values` as floats (ints, bools, numpy and torch scalars), or None if some are not."""
    try:
        return list(map(float, values))
    except (TypeError, ValueError):
        return None


def points_of(kind: str, points: dict[str, Any]) -> list[Any]:
    """The value column of an API `MetricPoints`, decoded."""
    if kind == FLOAT:
        return decode_floats(points.get("values") or [], points.get("nonFinite"))
    if kind == BYTES:
        return [base64.b64decode(v) for v in points.get("bytes") or []]
    return list(points.get("tensors") or [])
