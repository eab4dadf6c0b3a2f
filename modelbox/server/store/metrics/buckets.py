"""Bucketing: a series' new points cut into bucket documents, each with its rollup."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from modelbox.server.store.metrics.columns import COLUMN, FLOAT, ROLLUP, SeriesPoints, pack
from modelbox.server.store.metrics.downsampling import extremes

# A full bucket: big enough to make writes and reads cheap, far below MongoDB's 16 MiB.
BUCKET_POINTS = 1000
# Tensor and bytes buckets are also cut by size, since a single value may be large.
BUCKET_BYTES = 4 * 1024 * 1024
# FLOAT buckets also keep the first, last, min and max point of this many slices of
# themselves (at most 128 of 1,000 points), under ROLLUP-prefixed columns.
ROLLUP_GROUPS = 32
# Buckets under SMALL_BUCKET points and SMALL_BYTES of values come from small requests and
# are compacted (compaction.py). Both count: a bucket of a few large tensors is big enough
# to read on its own, and merging it again and again would be work without end.
SMALL_BUCKET = 100
SMALL_BYTES = BUCKET_BYTES // 8
# The buckets that are small, as a query (buckets stored without a `size` count by points).
SMALL = {"count": {"$lt": SMALL_BUCKET}, "size": {"$not": {"$gte": SMALL_BYTES}}}


def _size(kind: str, value: Any) -> int:
    return 8 if kind == FLOAT else len(value) + 16


def _chunks(series: SeriesPoints) -> Iterable[tuple[int, int]]:
    """`(start, stop)` ranges of at most BUCKET_POINTS points and about BUCKET_BYTES each."""
    n = len(series.steps)
    if series.kind == FLOAT:
        yield from ((i, min(i + BUCKET_POINTS, n)) for i in range(0, n, BUCKET_POINTS))
        return
    start, size = 0, 0
    for i, value in enumerate(series.column):
        size += _size(series.kind, value)
        if i > start and (i - start >= BUCKET_POINTS or size > BUCKET_BYTES):
            yield start, i
            start, size = i, _size(series.kind, value)
    if start < n:
        yield start, n


def in_step_order(series: SeriesPoints) -> SeriesPoints:
    steps = series.steps
    if all(itertools.starmap(operator.le, itertools.pairwise(steps))):
        return series
    order = sorted(range(len(steps)), key=steps.__getitem__)
    return SeriesPoints(
        series.key,
        series.kind,
        [steps[i] for i in order],
        [series.wallclocks[i] for i in order],
        [series.column[i] for i in order],
    )


def _rollup(steps: list[int], wallclocks: list[float], values: list[float]) -> dict[str, bytes]:
    """A FLOAT bucket's extremes over ROLLUP_GROUPS equal slices, for downsampled reads."""
    n = len(values)
    groups = ((g * n // ROLLUP_GROUPS, (g + 1) * n // ROLLUP_GROUPS) for g in range(ROLLUP_GROUPS))
    picked = extremes(values, groups) if n > 4 * ROLLUP_GROUPS else range(n)
    return {
        ROLLUP + "steps": pack("q", [steps[i] for i in picked]),
        ROLLUP + "wallclocks": pack("d", [wallclocks[i] for i in picked]),
        ROLLUP + "values": pack("d", [values[i] for i in picked]),
    }


def bucket_documents(
    subject_id: ObjectId, namespace: str, series: SeriesPoints
) -> list[dict[str, Any]]:
    """The buckets of one series' new points, given in step order (see `in_step_order`)."""
    column = COLUMN[series.kind]
    documents = []
    for start, stop in _chunks(series):
        steps = series.steps[start:stop]
        wallclocks = series.wallclocks[start:stop]
        values = series.column[start:stop]
        document = {
            "_id": ObjectId(),
            "subject_id": subject_id,
            "namespace": namespace,
            "key": series.key,
            "kind": series.kind,
            "first_step": steps[0],
            "last_step": steps[-1],
            "count": stop - start,
            # Bytes of values, as `_chunks` counts them: what makes a bucket small or not.
            "size": sum(_size(series.kind, value) for value in values),
            "steps": pack("q", steps),
            "wallclocks": pack("d", wallclocks),
            column: pack("d", values) if series.kind == FLOAT else values,
        }
        if series.kind == FLOAT:
            document.update(_rollup(steps, wallclocks, values))
        documents.append(document)
    return documents


def spans(buckets: list[dict[str, Any]]) -> int:
    """The widest step range among `buckets`."""
    return max((bucket["last_step"] - bucket["first_step"] for bucket in buckets), default=0)


def is_small(bucket: dict[str, Any]) -> bool:
    return bucket["count"] < SMALL_BUCKET and bucket.get("size", 0) < SMALL_BYTES


def small_buckets(buckets: list[dict[str, Any]]) -> int:
    return sum(1 for bucket in buckets if is_small(bucket))
