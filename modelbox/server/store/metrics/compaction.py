"""Compaction: a series' small buckets (one per small request) merged into full ones."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from modelbox.server.store.database import Database, Document, Session
from modelbox.server.store.metrics.buckets import (
    BUCKET_BYTES,
    SMALL,
    bucket_documents,
    small_buckets,
    spans,
)
from modelbox.server.store.metrics.columns import Columns, SeriesPoints
from modelbox.server.store.metrics.merging import merge

logger = logging.getLogger(__name__)

# Once a series has COMPACT_AFTER small buckets, they are merged into full buckets, at most
# COMPACT_AT_MOST buckets and COMPACT_BYTES of values at a time: bounded work per write.
COMPACT_AFTER = 32
COMPACT_AT_MOST = 1000
COMPACT_BYTES = 2 * BUCKET_BYTES
# A merged bucket names the buckets it replaced (`sources`) so that a live subscriber that
# read it skips their insert events, which arrive within moments: the newest MAX_SOURCES
# ids of the last SOURCES_WINDOW are kept, so the list never grows toward 16 MB.
MAX_SOURCES = 2048
SOURCES_WINDOW = timedelta(minutes=10)


def kept_sources(ids: list[ObjectId]) -> list[ObjectId]:
    """The ids worth naming in `sources`: recent ones (an ObjectId carries its time), newest."""
    since = datetime.now(UTC) - SOURCES_WINDOW
    recent = sorted(i for i in ids if i.generation_time >= since)
    return recent[-MAX_SOURCES:]


class Compaction:
    """The compaction half of `Metrics` (repository.py), over the same collections."""

    database: Database
    series: AsyncCollection[Document]
    buckets: AsyncCollection[Document]

    async def compact_crowded(self, subject: ObjectId, keys: list[str]) -> None:
        """Compact the series among `keys` that have gathered COMPACT_AFTER small buckets.

        The request's points are committed by now: a failure here only leaves the small
        buckets for the next request to compact.
        """
        # The count is compared here: the embedded database scans every series of every
        # subject for a filter on a field outside the (subject, key) index.
        query = {"subject_id": subject, "key": {"$in": keys}}
        try:
            found = self.series.find(query, projection={"key": 1, "small_buckets": 1})
            crowded = [s["key"] async for s in found if s.get("small_buckets", 0) >= COMPACT_AFTER]
            for key in crowded:
                await self.compact(subject, key)
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
            small = await self._smallest_first(session, subject, key)
            if len(small) < 2:
                return
            kind = small[0]["kind"]
            merged = merge([Columns.of_bucket(bucket) for bucket in small], kind)
            points = SeriesPoints(key, kind, merged.steps, merged.wallclocks, merged.column)
            sources = [bucket["_id"] for bucket in small]
            for bucket in small:
                sources += bucket.get("sources", [])
            sources = kept_sources(sources)
            documents = bucket_documents(subject, small[0]["namespace"], points)
            for document in documents:
                document.update(compacted=True, sources=sources)
            await self.buckets.delete_many(
                {"_id": {"$in": [b["_id"] for b in small]}}, session=session
            )
            await self.buckets.insert_many(documents, session=session)
            await self.series.update_one(
                {"subject_id": subject, "key": key},
                {
                    "$inc": {"small_buckets": small_buckets(documents) - len(small)},
                    "$max": {"max_span": spans(documents)},
                },
                session=session,
            )

        await self.database.transaction(work)

    async def _smallest_first(
        self, session: Session, subject: ObjectId, key: str
    ) -> list[Document]:
        """The series' first small buckets, up to COMPACT_AT_MOST of them and COMPACT_BYTES."""
        query = {"subject_id": subject, "key": key, **SMALL}
        sizes = await (
            self.buckets.find(query, projection={"size": 1}, session=session)
            .sort("first_step", 1)
            .limit(COMPACT_AT_MOST)
            .to_list()
        )
        picked: list[ObjectId] = []
        total = 0
        for bucket in sizes:
            total += bucket.get("size", 0)
            if picked and total > COMPACT_BYTES:
                break
            picked.append(bucket["_id"])
        found = self.buckets.find({"_id": {"$in": picked}}, session=session)
        return await found.sort("first_step", 1).to_list()
