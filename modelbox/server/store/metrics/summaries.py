"""Series summaries: the upsert that folds a request's points into a series' summary."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from bson import ObjectId
from pymongo import UpdateOne

from modelbox.server.store.metrics.columns import FLOAT, POINT_FIELD, SeriesPoints
from modelbox.server.store.records import now


class SeriesRecord(TypedDict):
    """A series' summary as the store hands it up (the upsert below keeps it)."""

    id: str
    subject_id: str
    subject_type: str
    namespace: str
    key: str
    kind: str
    count: int
    first_step: int
    last_step: int
    # The last point: {step, wallclock, and the kind's value field (POINT_FIELD)}.
    last: dict[str, Any]
    # The widest step range of one of its buckets, and how many are small (compaction).
    max_span: int
    small_buckets: int
    created_at: datetime
    updated_at: datetime
    # FLOAT series with a finite value only.
    min: NotRequired[float]
    max: NotRequired[float]


def extremes_of(series: SeriesPoints) -> tuple[dict[str, Any], dict[str, Any]]:
    """What new points (in step order) bring to a summary's `$min` and `$max`."""
    steps, wallclocks, column = series.steps, series.wallclocks, series.column
    # The last point: the greatest step, and of several there the latest wallclock.
    last = len(steps) - 1
    for i in range(last - 1, -1, -1):
        if steps[i] != steps[last]:
            break
        if wallclocks[i] > wallclocks[last]:
            last = i
    value_field = POINT_FIELD[series.kind]
    lowest: dict[str, Any] = {"first_step": steps[0]}
    highest: dict[str, Any] = {
        "last_step": steps[last],
        "last": {"step": steps[last], "wallclock": wallclocks[last], value_field: column[last]},
    }
    if series.kind == FLOAT:
        # NaN and infinities are points of the series, not its range: min and max are
        # those of its finite values (none when it has only non-finite ones).
        finite = (
            column if all(map(math.isfinite, column)) else [v for v in column if math.isfinite(v)]
        )
        if finite:
            lowest["min"] = min(finite)
            highest["max"] = max(finite)
    return lowest, highest


def summary_update(
    subject_id: ObjectId,
    subject_type: str,
    namespace: str,
    series: SeriesPoints,
    new_small_buckets: int = 0,
    span: int = 0,
) -> UpdateOne:
    """The upsert that folds one series' new points (in step order) into its summary."""
    lowest, highest = extremes_of(series)
    stamp = now()
    return UpdateOne(
        {"subject_id": subject_id, "key": series.key, "kind": series.kind},
        {
            "$inc": {"count": len(series.steps), "small_buckets": new_small_buckets},
            "$min": lowest,
            # The widest step range of one bucket: reads bound their bucket scans with it.
            "$max": {**highest, "max_span": span},
            "$set": {"updated_at": stamp},
            "$setOnInsert": {
                "subject_type": subject_type,
                "namespace": namespace,
                "created_at": stamp,
            },
        },
        upsert=True,
    )
