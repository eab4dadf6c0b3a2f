"""Compaction is bounded work per write, whatever the kind of value a series holds."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)
from starlette.applications import Starlette

from modelbox.server.config import Settings
from modelbox.server.store.metrics.compaction import MAX_SOURCES, kept_sources
from tests.api import Api
from tests.in_process import listened
from tests.metrics import log, points, series_of

BUCKETS = "metric_buckets"
LOG = """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"""


class BucketWork(CommandListener):
    """Bucket documents read (find/getMore replies) and written (inserted, deleted)."""

    def __init__(self) -> None:
        self.documents = 0
        self._reads: set[int] = set()
        self._lock = threading.Lock()

    def started(self, event: CommandStartedEvent) -> None:
        command = event.command
        target = command.get(event.command_name)
        if event.command_name == "getMore":
            target = command.get("collection")
        if target != BUCKETS:
            return
        with self._lock:
            if event.command_name in ("find", "getMore", "aggregate"):
                self._reads.add(event.request_id)
            elif event.command_name == "insert":
                self.documents += len(command.get("documents", ()))
            elif event.command_name == "delete":
                self.documents += len(command.get("deletes", ()))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        with self._lock:
            if event.request_id in self._reads:
                self._reads.discard(event.request_id)
                cursor = event.reply.get("cursor", {})
                self.documents += len(cursor.get("firstBatch", cursor.get("nextBatch", ())))

    def failed(self, event: CommandFailedEvent) -> None:
        with self._lock:
            self._reads.discard(event.request_id)


@pytest.fixture
async def watched(settings: Settings) -> AsyncIterator[tuple[Api, BucketWork]]:
    work = BucketWork()
    async with listened(settings, work, timeout=120) as api:
        yield api, work


async def _work_per_write(
    api: Api, work: BucketWork, subject: str, writes: int, series: dict
) -> list[int]:
    per_write = []
    for step in range(writes):
        before = work.documents
        await api.ok(
            LOG, {"input": {"subjectId": subject, "series": [{**series, "steps": [step]}]}}
        )
        per_write.append(work.documents - before)
    return per_write


async def test_a_series_of_large_tensors_costs_the_same_per_write(
    watched: tuple[Api, BucketWork], settings: Settings
) -> None:
    api, work = watched
    run = await api.create_experiment("tensors", "run")
    tensor = "[" + ", ".join(["0.125"] * 142_000) + "]"  # about 1 MB
    assert 990_000 < len(tensor) < 1_010_000
    per_write = await _work_per_write(
        api, work, run["id"], 200, {"key": "sample", "tensors": [tensor]}
    )
    # One bucket written per write, never the series' earlier buckets re-read or rewritten.
    assert max(per_write) <= 2, per_write
    assert sum(per_write[-50:]) <= sum(per_write[:50]), per_write
    data = await api.ok(
        """query($id: ID!) { node(id: $id) { ... on Experiment { metric(key: "sample") {
             count lastStep points(fromStep: 198) { steps } } } } }""",
        {"id": run["id"]},
    )
    assert data["node"]["metric"] == {
        "count": 200,
        "lastStep": 199,
        "points": {"steps": [198, 199]},
    }


async def test_small_writes_are_compacted_in_bounded_batches(
    watched: tuple[Api, BucketWork], settings: Settings
) -> None:
    api, work = watched
    run = await api.create_experiment("floats", "run")
    per_write = await _work_per_write(api, work, run["id"], 300, {"key": "loss", "values": [0.5]})
    # A compaction now and then reads and rewrites a bounded number of buckets; the work of
    # a write does not grow with the series.
    assert max(per_write) <= 2 * 40, per_write
    assert sum(per_write[-100:]) <= 1.5 * sum(per_write[100:200]), per_write
    assert settings.mongodb_uri is not None
    with MongoClient(settings.mongodb_uri) as client:
        buckets = list(client[settings.database][BUCKETS].find({}, {"count": 1, "sources": 1}))
    assert sum(b["count"] for b in buckets) == 300
    assert len(buckets) < 300 / 8, "step-by-step logging ends up in few buckets"


def test_merged_buckets_name_only_recent_sources() -> None:
    now = datetime.now(UTC)
    old = [ObjectId.from_datetime(now - timedelta(hours=2)) for _ in range(10)]
    recent = [ObjectId() for _ in range(MAX_SOURCES + 10)]
    kept = kept_sources(old + recent)
    # Sources only let a live subscriber skip inserts it already read; those arrive within
    # moments, so old ids and all but the newest MAX_SOURCES go.
    assert len(kept) == MAX_SOURCES
    assert set(kept) <= set(recent)
    assert set(kept) == set(sorted(recent)[-MAX_SOURCES:])


async def test_step_by_step_logging_is_compacted_into_full_buckets(
    api: Api, app: Starlette
) -> None:
    buckets = app.state.store.metrics.buckets
    run = await api.create_experiment("vision", "stepwise")
    # A training loop that logs each step as it goes, some of it from two writers at once.
    for step in range(100):
        await log(api, run["id"], {"key": "loss", "steps": [step], "values": [float(step)]})
    await asyncio.gather(
        *(
            log(api, run["id"], {"key": "loss", "steps": [step], "values": [float(step)]})
            for step in range(100, 160)
        )
    )
    stored = await buckets.count_documents({"key": "loss"})
    assert stored < 40, f"{stored} buckets for 160 points"
    (summary,) = await series_of(api, run["id"])
    assert (summary["count"], summary["lastStep"], summary["max"]) == (160, 159, 159.0)
    read = await points(api, run["id"], "loss")
    assert read["steps"] == list(range(160))
    assert read["values"] == [float(s) for s in range(160)]
