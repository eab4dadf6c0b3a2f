"""Reading series: summaries (DataLoader batches) and the points of a step range."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, cast

from pymongo.asynchronous.collection import AsyncCollection

from modelbox.server.store.database import Document, Session
from modelbox.server.store.metrics.columns import COLUMN, Columns
from modelbox.server.store.metrics.merging import merge, step_window
from modelbox.server.store.metrics.summaries import SeriesRecord
from modelbox.server.store.records import object_id, to_record


@dataclass(frozen=True)
class StepRange:
    """The points of one series to read: `[from_step, to_step]`, whole or rollups only."""

    subject_id: str
    key: str
    kind: str
    from_step: int | None = None
    to_step: int | None = None
    rollup: bool = False
    # The series' widest bucket (its summary's max_span), which bounds the scan from below.
    max_span: int | None = None

    def query(self) -> dict[str, Any]:
        return bucket_query(self.subject_id, self.key, self.from_step, self.to_step, self.max_span)


def _covering(ranges: list[StepRange]) -> dict[str, Any]:
    """One index range holding every range's buckets (and maybe a few more, cut later):
    SecantusDB scans the whole collection for an `$or`, MongoDB is fine either way."""
    if len(ranges) == 1:
        return ranges[0].query()
    queries = [r.query() for r in ranges]
    query: dict[str, Any] = {
        "subject_id": {"$in": list({q["subject_id"] for q in queries})},
        "key": {"$in": list({q["key"] for q in queries})},
    }
    bounds = [q.get("first_step", {}) for q in queries]
    steps = {}
    if all("$gte" in b for b in bounds):
        steps["$gte"] = min(b["$gte"] for b in bounds)
    if all("$lte" in b for b in bounds):
        steps["$lte"] = max(b["$lte"] for b in bounds)
    if steps:
        query["first_step"] = steps
    return query


def bucket_query(
    subject_id: str, key: str, from_step: int | None, to_step: int | None, max_span: int | None
) -> dict[str, Any]:
    """Buckets that may hold steps in `[from_step, to_step]`, by `first_step` alone: the
    index's range. (A condition on `last_step` too makes SecantusDB scan the collection;
    the points outside the range are cut after reading.)"""
    query: dict[str, Any] = {"subject_id": object_id(subject_id), "key": key}
    steps: dict[str, int] = {}
    if from_step is not None and max_span is not None:
        steps["$gte"] = from_step - max_span
    if to_step is not None:
        steps["$lte"] = to_step
    if steps:
        query["first_step"] = steps
    return query


class Reading:
    """The reading half of `Metrics` (repository.py), over the same collections."""

    series: AsyncCollection[Document]
    buckets: AsyncCollection[Document]

    async def summaries(self, keys: list[tuple[str, str]]) -> list[SeriesRecord | None]:
        """Series summaries by (subject id, key), in the order of `keys` (a DataLoader batch)."""
        subjects = {object_id(s) for s, _ in keys}
        names = {k for _, k in keys}
        found = {
            (str(doc["subject_id"]), doc["key"]): cast(SeriesRecord, to_record(doc))
            async for doc in self.series.find(
                {"subject_id": {"$in": list(subjects)}, "key": {"$in": list(names)}}
            )
        }
        return [found.get(key) for key in keys]

    async def summaries_of(self, subject_ids: list[str]) -> list[list[SeriesRecord]]:
        """Every series summary of each subject, by key (a DataLoader batch)."""
        by_subject: dict[str, list[SeriesRecord]] = {s: [] for s in subject_ids}
        cursor = self.series.find(
            {"subject_id": {"$in": [object_id(s) for s in subject_ids]}}
        ).sort([("subject_id", 1), ("key", 1)])
        async for doc in cursor:
            by_subject[str(doc["subject_id"])].append(cast(SeriesRecord, to_record(doc)))
        return [by_subject[s] for s in subject_ids]

    async def points(
        self,
        subject_id: str,
        key: str,
        kind: str,
        from_step: int | None = None,
        to_step: int | None = None,
        limit: int | None = None,
        rollup: bool = False,
        shape: SeriesRecord | None = None,
    ) -> Columns:
        """The points of one series in `[from_step, to_step]`, ascending, at most `limit`;
        with `rollup`, only the extremes stored with each bucket (about one point in eight).

        With the series' summary as `shape` (first/last step, count, widest bucket), a page
        reads only the buckets that can hold it: the scan starts a bucket's width before
        `from_step` and ends where `limit` points should end, widening until the page is full.
        """
        max_span = shape.get("max_span") if shape is not None else None
        query = bucket_query(subject_id, key, from_step, None, max_span)
        end = to_step
        if shape is not None and shape.get("last_step") is not None:
            end = shape["last_step"] if end is None else min(end, shape["last_step"])
        window, low = None, None
        if limit is not None and shape is not None and shape.get("count") and end is not None:
            per_point = max(1.0, (shape["last_step"] - shape["first_step"] + 1) / shape["count"])
            window = int(limit * per_point * 1.25) + 1
            low = shape["first_step"] if from_step is None else from_step
        parts: list[Columns] = []
        held, highest = 0, None
        # Leaving the full columns behind is what makes a rollup read cheap.
        skipped = {"steps": 0, "wallclocks": 0, COLUMN[kind]: 0} if rollup else None
        scanned_to: int | None = None
        while True:
            bounded = dict(query)
            upper = end
            if window is not None and low is not None and end is not None:
                upper = min(end, low + window)
            steps: dict[str, Any] = dict(query.get("first_step", {}))
            if upper is not None:
                steps["$lte"] = upper
            if scanned_to is not None:
                steps.pop("$gte", None)
                steps["$gt"] = scanned_to
            if steps:
                bounded["first_step"] = steps
            cursor = self.buckets.find(bounded, projection=skipped).sort("first_step", 1)
            done = False
            async for bucket in cursor:
                # Later buckets start at or after this one: enough points before it means done.
                seen_up_to = -1 if highest is None else highest
                if limit is not None and held >= limit and seen_up_to < bucket["first_step"]:
                    done = True
                    break
                part = step_window(Columns.of_bucket(bucket, rollup), from_step, to_step)
                parts.append(part)
                held += len(part)
                if part.steps:
                    highest = part.steps[-1] if highest is None else max(highest, part.steps[-1])
            if done or window is None or upper is None or end is None or upper >= end:
                break
            # Full once `limit` points lie at or below `upper`: later buckets start above it.
            below = sum(bisect.bisect_right(part.steps, upper) for part in parts)
            if limit is not None and below >= limit:
                break
            scanned_to, window = upper, window * 2
        merged = merge(parts, kind)
        return merged if limit is None or len(merged) <= limit else merged.slice(0, limit)

    async def points_many(
        self, ranges: list[StepRange], session: Session | None = None
    ) -> list[Columns]:
        """The points of many series' ranges in one command per projection (whole buckets,
        rollups only): a chart of many runs costs what a chart of one does in round trips."""
        found: dict[tuple[str, str, bool], list[Columns]] = {
            (r.subject_id, r.key, r.rollup): [] for r in ranges
        }
        for rollup in (False, True):
            wanted = [r for r in ranges if r.rollup == rollup]
            if not wanted:
                continue
            skipped: dict[str, int] | None = None
            if rollup:
                skipped = {"steps": 0, "wallclocks": 0, "values": 0, "tensors": 0, "bytes": 0}
            query = _covering(wanted)
            cursor = self.buckets.find(query, projection=skipped, session=session)
            async for bucket in cursor.sort("first_step", 1).batch_size(10_000):
                series = (str(bucket["subject_id"]), bucket["key"], rollup)
                if series in found:
                    found[series].append(Columns.of_bucket(bucket, rollup))
        return [
            merge(
                [
                    step_window(part, r.from_step, r.to_step)
                    for part in found[(r.subject_id, r.key, r.rollup)]
                ],
                r.kind,
            )
            for r in ranges
        ]
