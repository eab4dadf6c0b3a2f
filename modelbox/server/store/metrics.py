"""Metric series: columnar buckets of points, a summary per series, idempotent requests.

Layout
- `metric_buckets`: up to `BUCKET_POINTS` points of one series (subject, key) per document,
  as parallel columns `steps`, `wallclocks` and one value column (`values`, `tensors` or
  `bytes`), sorted by step inside the bucket, with the bucket's `first_step`/`last_step`.
  Numeric columns are packed little-endian arrays (int64 steps, float64 wallclocks and
  values) in one BSON binary each, not BSON arrays: a bucket is then three values instead
  of three thousand to encode, store and decode, which makes reads about five times faster
  on the embedded database; tensors and bytes stay BSON arrays of strings and binaries.
  A FLOAT bucket also carries a rollup: the first, last, min and max point of each of 32
  slices of it (`rollup_*` columns). A plot of a long range reads only those (about one
  point in eight) and downsamples them further; every spike is some slice's extreme.
  Buckets are written once: a request's points become new buckets, never added to old
  ones. So concurrent writers of one series never contend on a bucket, an insert event on
  the change stream carries exactly the points one request added (what live subscriptions
  send), and out-of-order steps are simply buckets whose step ranges overlap.
  Reads fetch the buckets of a step range by `first_step` and merge them into step order;
  when the ranges do not overlap (the usual, in-order case) that merge is a concatenation.
  The one rewrite is compaction: a loop that logs every step makes one small bucket per
  request, so once a series has COMPACT_AFTER small buckets they are merged, in one
  transaction, into full ones marked `compacted` (see `Metrics.compact`).
- `metric_series`: one summary per series (kind, count, first/last step, min, max, last
  point), kept current on every write by an upsert of `$inc`/`$min`/`$max`. The last point
  is `$max` of the embedded document `{step, wallclock, value}`: documents compare field by
  field, so the point with the greatest step wins. The upsert's filter names the kind, so
  logging another kind to an existing key hits the unique (subject, key) index instead.
- `metric_requests`: the idempotency keys seen per subject (unique), kept for a week.

One request is one transaction of three writes: the idempotency key, one `bulk_write` of
the summaries and `insert_many` of the buckets. A repeated key or a kind clash aborts it, so
a rejected request logs nothing at all.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
import operator
import sys
import weakref
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from modelbox.server.access import Actor
from modelbox.server.errors import BadUserInput
from modelbox.server.store.database import Database, Session
from modelbox.server.store.records import Record, now, object_id, to_record

logger = logging.getLogger(__name__)

FLOAT, TENSOR, BYTES = "FLOAT", "TENSOR", "BYTES"
# The bucket field that holds each kind's values.
COLUMN = {FLOAT: "values", TENSOR: "tensors", BYTES: "bytes"}
# The field that holds the value of a single point (the summary's last point).
POINT_FIELD = {FLOAT: "value", TENSOR: "tensor", BYTES: "bytes"}
# A full bucket: big enough to make writes and reads cheap, far below MongoDB's 16 MiB.
BUCKET_POINTS = 1000
# Tensor and bytes buckets are also cut by size, since a single value may be large.
BUCKET_BYTES = 4 * 1024 * 1024
# FLOAT buckets also keep the first, last, min and max point of this many slices of
# themselves (at most 128 of 1,000 points), under ROLLUP-prefixed columns.
ROLLUP_GROUPS = 32
ROLLUP = "rollup_"
# Buckets under SMALL_BUCKET points come from small requests; once a series has
# COMPACT_AFTER of them, they are merged into full buckets (at most COMPACT_AT_MOST a time).
SMALL_BUCKET = 100
COMPACT_AFTER = 32
COMPACT_AT_MOST = 1000
DUPLICATE_KEY = 11000
SERIES_INDEX = "subject_key_unique"
REQUEST_INDEX = "subject_request_unique"


def pack(typecode: str, values: list[Any]) -> bytes:
    """A numeric column as little-endian bytes (`q`: int64, `d`: float64)."""
    packed = array(typecode, values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack(typecode: str, data: bytes) -> list[Any]:
    unpacked = array(typecode, data)
    if sys.byteorder == "big":
        unpacked.byteswap()
    return unpacked.tolist()


@dataclass
class SeriesPoints:
    """The points of one series, columnar, to be logged (steps may be in any order)."""

    key: str
    kind: str
    steps: list[int]
    wallclocks: list[float]
    column: list[Any]


@dataclass
class Columns:
    """Points read back in ascending step order; `column` holds the values of `kind`."""

    kind: str
    steps: list[int] = field(default_factory=list)
    wallclocks: list[float] = field(default_factory=list)
    column: list[Any] = field(default_factory=list)
    # The buckets these points came from: a subscription skips their live insert events.
    bucket_ids: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.steps)

    def take(self, indexes: Iterable[int]) -> Columns:
        picked = list(indexes)
        return Columns(
            self.kind,
            [self.steps[i] for i in picked],
            [self.wallclocks[i] for i in picked],
            [self.column[i] for i in picked],
            self.bucket_ids,
        )

    def slice(self, start: int, stop: int) -> Columns:
        return Columns(
            self.kind,
            self.steps[start:stop],
            self.wallclocks[start:stop],
            self.column[start:stop],
            self.bucket_ids,
        )

    @staticmethod
    def of_bucket(bucket: dict[str, Any], rollup: bool = False) -> Columns:
        """The points of a stored bucket (`_id`) or of a change feed's record of one (`id`);
        with `rollup`, only its extremes (a FLOAT bucket's `rollup_*` columns)."""
        kind = bucket["kind"]
        prefix = ROLLUP if rollup and ROLLUP + "steps" in bucket else ""
        column = bucket[prefix + COLUMN[kind]]
        return Columns(
            kind,
            unpack("q", bucket[prefix + "steps"]),
            unpack("d", bucket[prefix + "wallclocks"]),
            unpack("d", column) if kind == FLOAT else column,
            {
                str(bucket["_id"] if "_id" in bucket else bucket["id"]),
                *map(str, bucket.get("sources", ())),
            },
        )


@dataclass(frozen=True)
class LogResult:
    accepted: int
    duplicate: bool


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


def extremes(values: list[float], groups: Iterable[tuple[int, int]]) -> list[int]:
    """M4: the indexes of each `(start, stop)` group's first, minimum, maximum and last
    value, ascending. Slices with C-level `min`/`max`, so 100,000 values take milliseconds."""
    picked: list[int] = []
    for start, stop in groups:
        if stop <= start:
            continue
        segment = values[start:stop]
        lowest = start + segment.index(min(segment))
        highest = start + segment.index(max(segment))
        picked.extend(sorted({start, lowest, highest, stop - 1}))
    return picked


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
            "steps": pack("q", steps),
            "wallclocks": pack("d", wallclocks),
            column: pack("d", values) if series.kind == FLOAT else values,
        }
        if series.kind == FLOAT:
            document.update(_rollup(steps, wallclocks, values))
        documents.append(document)
    return documents


def small_buckets(buckets: list[dict[str, Any]]) -> int:
    return sum(1 for bucket in buckets if bucket["count"] < SMALL_BUCKET)


def summary_update(
    subject_id: ObjectId,
    subject_type: str,
    namespace: str,
    series: SeriesPoints,
    new_small_buckets: int = 0,
) -> UpdateOne:
    """The upsert that folds one series' new points (in step order) into its summary."""
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
        lowest["min"] = min(column)
        highest["max"] = max(column)
    stamp = now()
    return UpdateOne(
        {"subject_id": subject_id, "key": series.key, "kind": series.kind},
        {
            "$inc": {"count": len(steps), "small_buckets": new_small_buckets},
            "$min": lowest,
            "$max": highest,
            "$set": {"updated_at": stamp},
            "$setOnInsert": {
                "subject_type": subject_type,
                "namespace": namespace,
                "created_at": stamp,
            },
        },
        upsert=True,
    )


def _duplicate_index(error: Exception) -> str | None:
    """The name of the unique index a failed write ran into, if that is why it failed."""
    if isinstance(error, DuplicateKeyError):
        return str((error.details or {}).get("errmsg", ""))
    if isinstance(error, BulkWriteError):
        for write_error in error.details.get("writeErrors", []):
            if write_error.get("code") == DUPLICATE_KEY:
                return str(write_error.get("errmsg", ""))
    return None


def merge(parts: list[Columns], kind: str) -> Columns:
    """Buckets (sorted by first step, each sorted inside) as one column set in step order."""
    merged = Columns(kind)
    for part in parts:
        merged.bucket_ids |= part.bucket_ids
    parts = [part for part in parts if part.steps]
    overlapping = any(
        later.steps[0] < earlier.steps[-1] for earlier, later in itertools.pairwise(parts)
    )
    if not overlapping:
        for part in parts:
            merged.steps += part.steps
            merged.wallclocks += part.wallclocks
            merged.column += part.column
    else:
        # Stable on step, so equal steps keep the order they were logged in.
        rows = heapq.merge(
            *(zip(p.steps, p.wallclocks, p.column, strict=True) for p in parts),
            key=lambda row: row[0],
        )
        for step, wallclock, value in rows:
            merged.steps.append(step)
            merged.wallclocks.append(wallclock)
            merged.column.append(value)
    return merged


def step_window(columns: Columns, from_step: int | None, to_step: int | None) -> Columns:
    start = 0 if from_step is None else bisect.bisect_left(columns.steps, from_step)
    stop = len(columns) if to_step is None else bisect.bisect_right(columns.steps, to_step)
    if start == 0 and stop == len(columns):
        return columns
    return columns.slice(start, stop)


class Metrics:
    """Logging and reading metric series of experiments and model versions."""

    # Watched by metricsLogged: each request's new buckets are its live points.
    buckets_collection = "metric_buckets"

    def __init__(self, database: Database) -> None:
        self.database = database
        self.series = database["metric_series"]
        self.buckets = database[self.buckets_collection]
        self.requests = database["metric_requests"]
        # Writers of one subject in this process take turns: concurrent transactions on the
        # same summaries would otherwise conflict and retry against each other.
        self._writing: weakref.WeakValueDictionary[ObjectId, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def log(
        self,
        subject_id: str,
        subject_type: str,
        namespace: str,
        series: Sequence[SeriesPoints],
        idempotency_key: str | None = None,
    ) -> LogResult:
        """Store the points of every series in one transaction; validated beforehand."""
        subject = object_id(subject_id)
        assert subject is not None, "the resolver passes the id of a loaded subject"
        series = [in_step_order(s) for s in series]
        per_series = [bucket_documents(subject, namespace, s) for s in series]
        buckets = [doc for docs in per_series for doc in docs]
        summaries = [
            summary_update(subject, subject_type, namespace, s, small_buckets(docs))
            for s, docs in zip(series, per_series, strict=True)
        ]
        accepted = sum(len(s.steps) for s in series)

        async def work(session: Session) -> None:
            if idempotency_key is not None:
                await self.requests.insert_one(
                    {
                        "subject_id": subject,
                        "idempotency_key": idempotency_key,
                        "accepted": accepted,
                        "created_at": now(),
                    },
                    session=session,
                )
            # Summaries before buckets: concurrent writers of a series conflict on its summary,
            # and a transaction that must retry then learns it before sending its points.
            if summaries:
                await self.series.bulk_write(summaries, ordered=False, session=session)
            if buckets:
                await self.buckets.insert_many(buckets, session=session)

        turn = self._writing.setdefault(subject, asyncio.Lock())
        for attempt in range(2):
            try:
                async with turn, self.database.client.start_session() as session:
                    await session.with_transaction(work)
                break
            except (DuplicateKeyError, BulkWriteError) as error:
                index = _duplicate_index(error)
                if index is None:
                    raise
                if REQUEST_INDEX in index:
                    return LogResult(accepted=0, duplicate=True)
                if SERIES_INDEX not in index:
                    raise
                clash = await self._kind_clash(subject, series)
                # No clash: another writer created the same new series first; now it exists.
                if clash is not None or attempt == 1:
                    raise clash or error from None
        crowded = [s.key for s, docs in zip(series, per_series, strict=True) if small_buckets(docs)]
        if crowded:
            await self._compact_crowded(subject, crowded)
        return LogResult(accepted=accepted, duplicate=False)

    async def _compact_crowded(self, subject: ObjectId, keys: list[str]) -> None:
        """Compact the series among `keys` that have gathered COMPACT_AFTER small buckets.

        The request's points are committed by now: a failure here only leaves the small
        buckets for the next request to compact.
        """
        query = {
            "subject_id": subject,
            "key": {"$in": keys},
            "small_buckets": {"$gte": COMPACT_AFTER},
        }
        try:
            async for summary in self.series.find(query, projection={"key": 1}):
                await self.compact(subject, summary["key"])
        except PyMongoError:
            logger.warning("compacting the metric buckets of %s failed", subject, exc_info=True)

    async def compact(self, subject: ObjectId, key: str) -> None:
        """Merge a series' small buckets into full ones, in one transaction.

        Training loops that log every step make one bucket per request; without this a
        100,000-step series would be 100,000 documents to read. The new buckets are marked
        `compacted` (their points are not news: live subscribers skip them) and name their
        `sources`, so that a history read that meets them knows which buckets it has seen.
        Two writers compacting at once conflict on the deletes; one retries and finds less.
        """

        async def work(session: Session) -> None:
            small = await (
                self.buckets.find(
                    {"subject_id": subject, "key": key, "count": {"$lt": SMALL_BUCKET}},
                    session=session,
                )
                .sort("first_step", 1)
                .limit(COMPACT_AT_MOST)
                .to_list()
            )
            if len(small) < 2:
                return
            kind = small[0]["kind"]
            merged = merge([Columns.of_bucket(bucket) for bucket in small], kind)
            points = SeriesPoints(key, kind, merged.steps, merged.wallclocks, merged.column)
            sources = [bucket["_id"] for bucket in small]
            for bucket in small:
                sources += bucket.get("sources", [])
            documents = bucket_documents(subject, small[0]["namespace"], points)
            for document in documents:
                document.update(compacted=True, sources=sources)
            await self.buckets.delete_many(
                {"_id": {"$in": [b["_id"] for b in small]}}, session=session
            )
            await self.buckets.insert_many(documents, session=session)
            await self.series.update_one(
                {"subject_id": subject, "key": key},
                {"$inc": {"small_buckets": small_buckets(documents) - len(small)}},
                session=session,
            )

        async with self.database.client.start_session() as session:
            await session.with_transaction(work)

    async def _kind_clash(
        self, subject: ObjectId, series: Sequence[SeriesPoints]
    ) -> BadUserInput | None:
        """The error for a request that logs another kind of value to an existing series."""
        wanted = {s.key: s.kind for s in series}
        async for doc in self.series.find({"subject_id": subject, "key": {"$in": list(wanted)}}):
            if doc["kind"] != wanted[doc["key"]]:
                return BadUserInput(
                    f"series.key: {doc['key']!r} holds {doc['kind']} values;"
                    f" it cannot take {wanted[doc['key']]} values",
                    field="series.key",
                )
        return None

    async def summaries(self, keys: list[tuple[str, str]]) -> list[Record | None]:
        """Series summaries by (subject id, key), in the order of `keys` (a DataLoader batch)."""
        subjects = {object_id(s) for s, _ in keys}
        names = {k for _, k in keys}
        found = {
            (str(doc["subject_id"]), doc["key"]): to_record(doc)
            async for doc in self.series.find(
                {"subject_id": {"$in": list(subjects)}, "key": {"$in": list(names)}}
            )
        }
        return [found.get(key) for key in keys]

    async def summaries_of(self, subject_ids: list[str]) -> list[list[Record]]:
        """Every series summary of each subject, by key (a DataLoader batch)."""
        by_subject: dict[str, list[Record]] = {s: [] for s in subject_ids}
        cursor = self.series.find(
            {"subject_id": {"$in": [object_id(s) for s in subject_ids]}}
        ).sort([("subject_id", 1), ("key", 1)])
        async for doc in cursor:
            by_subject[str(doc["subject_id"])].append(to_record(doc))
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
    ) -> Columns:
        """The points of one series in `[from_step, to_step]`, ascending, at most `limit`;
        with `rollup`, only the extremes stored with each bucket (about one point in eight)."""
        query: dict[str, Any] = {"subject_id": object_id(subject_id), "key": key}
        if from_step is not None:
            query["last_step"] = {"$gte": from_step}
        if to_step is not None:
            query["first_step"] = {"$lte": to_step}
        parts: list[Columns] = []
        held, highest = 0, None
        # Leaving the full columns behind is what makes a rollup read cheap.
        skipped = {"steps": 0, "wallclocks": 0, COLUMN[kind]: 0} if rollup else None
        cursor = self.buckets.find(query, projection=skipped).sort("first_step", 1)
        async for bucket in cursor:
            # Later buckets start at or after this one: enough points before it means done.
            seen_up_to = -1 if highest is None else highest
            if limit is not None and held >= limit and seen_up_to < bucket["first_step"]:
                break
            part = step_window(Columns.of_bucket(bucket, rollup), from_step, to_step)
            parts.append(part)
            held += len(part)
            if part.steps:
                highest = part.steps[-1] if highest is None else max(highest, part.steps[-1])
        merged = merge(parts, kind)
        return merged if limit is None or len(merged) <= limit else merged.slice(0, limit)

    async def delete_subjects(
        self, session: Session, actor: Actor, subject_ids: list[ObjectId]
    ) -> None:
        """Drop every metric of these subjects (called when they are deleted)."""
        query = {"subject_id": {"$in": subject_ids}}
        for collection in (self.buckets, self.series, self.requests):
            await collection.delete_many(query, session=session)
