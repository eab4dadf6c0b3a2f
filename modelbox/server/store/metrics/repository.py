"""`Metrics`: logging a request's points in one transaction, and deleting with subjects.

Reading and compaction are its halves in reading.py and compaction.py; the layout of the
collections is described in `store/metrics/__init__.py`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from modelbox.server.access import Actor
from modelbox.server.errors import SeriesKindClash
from modelbox.server.store import search
from modelbox.server.store.database import Database, Session
from modelbox.server.store.metrics.buckets import (
    bucket_documents,
    in_step_order,
    small_buckets,
    spans,
)
from modelbox.server.store.metrics.columns import FLOAT, LogResult, SeriesPoints
from modelbox.server.store.metrics.compaction import Compaction
from modelbox.server.store.metrics.idempotency import (
    METRICS,
    REQUEST_INDEX,
    REQUESTS,
    SERIES_INDEX,
    Request,
    duplicate_index,
    first_request,
    kind_clash,
)
from modelbox.server.store.metrics.summaries import SummaryWrite, extremes_of
from modelbox.server.store.metrics.tiles import Tiles, invalidation
from modelbox.server.store.records import now, object_id
from modelbox.server.store.search_values import SearchValues


class Metrics(Tiles, Compaction):
    """Logging and reading metric series of experiments and model versions."""

    # Watched by metricsLogged: each request's new buckets are its live points.
    buckets_collection = "metric_buckets"

    def __init__(self, database: Database) -> None:
        self.database = database
        self.series = database["metric_series"]
        self.buckets = database[self.buckets_collection]
        self.requests = database[REQUESTS]
        self.experiments = database["experiments"]
        self.tiles = database["metric_tiles"]
        self.search_values = SearchValues(database)
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
        request: Request | None = None,
    ) -> LogResult:
        """Store the points of every series in one transaction; validated beforehand.
        A retry of `request` stores nothing; its key with another batch raises KeyReused."""
        subject = object_id(subject_id)
        assert subject is not None, "the resolver passes the id of a loaded subject"
        series = [in_step_order(s) for s in series]
        per_series = [bucket_documents(subject, namespace, s) for s in series]
        buckets = [doc for docs in per_series for doc in docs]
        writes = [
            SummaryWrite(subject, subject_type, namespace, s, small_buckets(docs), spans(docs))
            for s, docs in zip(series, per_series, strict=True)
        ]
        accepted = sum(len(s.steps) for s in series)
        # An experiment's FLOAT summaries also live in its document, where search finds them.
        searchable = [(s.key, *extremes_of(s), len(s.steps)) for s in series if s.kind == FLOAT]
        indexed = subject_type == "Experiment" and searchable
        # The series this request starts, as the last attempt of its transaction found them.
        started: set[str] = set()

        async def work(session: Session) -> None:
            await self.database.guards.hold(session, subject_type, subject)
            if request is not None:
                stored = request.document(subject, METRICS, now(), accepted=accepted)
                await self.requests.insert_one(stored, session=session)
            # A new series' summary and search values are inserted, not upserted: a third of
            # the embedded database's work. A writer racing to start the same series meets
            # the unique index (retried by `_commit`) or a write conflict (retried).
            existing = await self._existing(session, subject, [s.key for s in series])
            for s in series:
                if existing.get(s.key, s.kind) != s.kind:
                    raise SeriesKindClash(s.key, existing[s.key], s.kind)
            started.clear()
            started.update(s.key for s in series if s.key not in existing)
            # Summaries before buckets: concurrent writers of a series conflict on its summary,
            # and a transaction that must retry then learns it before sending its points.
            await self._write_summaries(session, writes, existing)
            if buckets:
                await self.buckets.insert_many(buckets, session=session)
            # Plot tiles these points fall in are stale from this transaction on (a series
            # that did not exist has none).
            touched = invalidation(
                subject,
                (
                    (s.key, s.steps[0], s.steps[-1])
                    for s in series
                    if s.kind == FLOAT and s.key in existing
                ),
            )
            if touched is not None:
                await self.tiles.update_many(touched, {"$inc": {"version": 1}}, session=session)
            if indexed:
                await self._index_experiment(session, subject, namespace, searchable, started)

        if not await self._commit(subject, series, work):
            assert request is not None, "only a request with a key is a repeat"
            await first_request(self.requests, subject, request, METRICS)
            return LogResult(accepted=0, duplicate=True)
        # A series started by this request has at most one small bucket: none to compact.
        crowded = [
            s.key
            for s, docs in zip(series, per_series, strict=True)
            if small_buckets(docs) and s.key not in started
        ]
        if crowded:
            await self.compact_crowded(subject, crowded)
        return LogResult(accepted=accepted, duplicate=False)

    async def _index_experiment(
        self,
        session: Session,
        subject: ObjectId,
        namespace: str,
        searchable: list[tuple[str, dict[str, Any], dict[str, Any], int]],
        started: set[str],
    ) -> None:
        """Fold FLOAT series' new points into the experiment's summaries and search values.

        An update and a read by `_id`, not findAndModify: the embedded database answers
        that with a scan of every experiment. A series this request starts has the request's
        own summary; only the others' are read back.
        """
        await self.experiments.update_one(
            {"_id": subject}, search.summary_update(searchable), session=session
        )
        summaries = {
            search.summary_field(key): {**lowest, **highest, "count": n}
            for key, lowest, highest, n in searchable
            if key in started
        }
        folded = [key for key, *_ in searchable if key not in started]
        if folded:
            paths = {f"{search.SUMMARIES}.{search.summary_field(key)}": 1 for key in folded}
            after = await self.experiments.find_one({"_id": subject}, paths, session=session)
            summaries |= (after or {}).get(search.SUMMARIES, {})
        new = {search.summary_field(key) for key in started}
        await self.search_values.write_metrics(session, subject, namespace, summaries, new=new)

    async def _existing(
        self, session: Session, subject: ObjectId, keys: list[str]
    ) -> dict[str, str]:
        """The kind of each of `keys` that names a series of the subject already. A series'
        kind never changes, so this read in the request's transaction is the kind check."""
        found = self.series.find(
            {"subject_id": subject, "key": {"$in": keys}},
            {"key": 1, "kind": 1, "_id": 0},
            session=session,
        ).limit(len(keys))
        return {doc["key"]: doc["kind"] async for doc in found}

    async def _write_summaries(
        self, session: Session, writes: list[SummaryWrite], existing: dict[str, str]
    ) -> None:
        """Insert the summaries of new series and fold the points of the others into theirs."""
        new = [w.document() for w in writes if w.series.key not in existing]
        if new:
            await self.series.insert_many(new, session=session)
        folded = [w.update() for w in writes if w.series.key in existing]
        if folded:
            await self.series.bulk_write(folded, ordered=False, session=session)

    async def _commit(
        self,
        subject: ObjectId,
        series: Sequence[SeriesPoints],
        work: Callable[[Session], Awaitable[None]],
    ) -> bool:
        """Run a request's `work` in a transaction, the subject's writers taking turns;
        False when its idempotency key was seen before (nothing is written again)."""
        turn = self._writing.setdefault(subject, asyncio.Lock())
        for attempt in range(2):
            try:
                async with turn:
                    await self.database.transaction(work, duplicates=False)
                return True
            except (DuplicateKeyError, BulkWriteError) as error:
                index = duplicate_index(error)
                if index is None:
                    raise
                if REQUEST_INDEX in index:
                    return False
                if SERIES_INDEX not in index:
                    raise
                clash = await kind_clash(self.series, subject, series)
                # No clash: another writer created the same new series first; now it exists.
                if clash is not None or attempt == 1:
                    raise clash or error from None
        raise AssertionError("the second attempt returns or raises")

    async def delete_subjects(
        self, session: Session, actor: Actor, subject_ids: list[ObjectId]
    ) -> None:
        """Drop every metric of these subjects (called when they are deleted)."""
        query = {"subject_id": {"$in": subject_ids}}
        for collection in (self.buckets, self.series, self.requests, self.tiles):
            await collection.delete_many(query, session=session)
