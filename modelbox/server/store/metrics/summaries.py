"""Series summaries: what folds a request's points into a series' summary, or starts it."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SummaryWrite:
    """What one request brings to a series' summary: its new points (in step order), how
    many of its new buckets are small, and the widest step range of one of them."""

    subject_id: ObjectId
    subject_type: str
    namespace: str
    series: SeriesPoints
    new_small_buckets: int = 0
    span: int = 0

    def _parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(filter, update) of the upsert that folds the new points into the summary.

        The filter is the unique index's fields alone: the embedded database scans the whole
        collection for a filter with any other field (the kind), once per series per request.
        """
        lowest, highest = extremes_of(self.series)
        stamp = now()
        return (
            {"subject_id": self.subject_id, "key": self.series.key},
            {
                "$inc": {"count": len(self.series.steps), "small_buckets": self.new_small_buckets},
                "$min": lowest,
                # The widest step range of one bucket: reads bound their bucket scans with it.
                "$max": {**highest, "max_span": self.span},
                "$set": {"updated_at": stamp},
                "$setOnInsert": {
                    "kind": self.series.kind,
                    "subject_type": self.subject_type,
                    "namespace": self.namespace,
                    "created_at": stamp,
                },
            },
        )

    def update(self) -> UpdateOne:
        """The upsert that folds the new points into the summary; the caller has checked
        that the series, if it exists, holds values of the same kind."""
        query, update = self._parts()
        return UpdateOne(query, update, upsert=True)

    def document(self) -> dict[str, Any]:
        """The summary of a new series: the document `update` would insert. An insert costs
        the embedded database a third of an upsert, and most series start in one request."""
        query, update = self._parts()
        document = dict(query)
        for fields in update.values():
            document.update(fields)
        return document
