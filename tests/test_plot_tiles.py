"""Plots of long series read precomputed tiles: the work does not grow with the series, and
writes make the tiles they touch stale, so a plot never misses a point."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import pytest
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from modelbox.server.config import Settings
from tests.api import Api
from tests.in_process import listened
from tests.metrics import DOWNSAMPLED, log

N = 200_000
SPIKE, DIP = 123_457, 77_777


def value(step: int) -> float:
    return {SPIKE: 100.0, DIP: -100.0}.get(step, (step % 1000) / 1000)


class DocumentsRead(CommandListener):
    """Documents each collection returned (first batches and getMores)."""

    def __init__(self) -> None:
        self.by_collection: dict[str, int] = {}
        self._collections: dict[int, str] = {}
        self._lock = threading.Lock()

    def started(self, event: CommandStartedEvent) -> None:
        name = event.command.get(event.command_name)
        if event.command_name in ("find", "aggregate"):
            self._collections[event.request_id] = str(name)
        elif event.command_name == "getMore":
            self._collections[event.request_id] = str(event.command.get("collection"))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        collection = self._collections.pop(event.request_id, None)
        cursor = event.reply.get("cursor") if collection else None
        if cursor:
            batch = cursor.get("firstBatch", cursor.get("nextBatch", []))
            with self._lock:
                self.by_collection[collection] = self.by_collection.get(collection, 0) + len(batch)  # type: ignore[index]

    def failed(self, event: CommandFailedEvent) -> None:
        self._collections.pop(event.request_id, None)


@pytest.fixture
async def watched(settings: Settings) -> AsyncIterator[tuple[Api, DocumentsRead]]:
    reads = DocumentsRead()
    async with listened(settings, reads) as api:
        yield api, reads


async def plot(api: Api, run_id: str, max_points: int = 1000, **window: int) -> dict:
    data = await api.ok(DOWNSAMPLED, {"id": run_id, "key": "loss", "max": max_points, **window})
    return data["node"]["metric"]["downsampled"]


async def test_long_series_plot_from_tiles_with_every_extreme(
    watched: tuple[Api, DocumentsRead],
) -> None:
    api, reads = watched
    run = await api.create_experiment("llm", "long")
    for start in range(0, N, 100_000):
        steps = list(range(start, start + 100_000))
        await log(
            api, run["id"], {"key": "loss", "steps": steps, "values": list(map(value, steps))}
        )

    first = await plot(api, run["id"])
    reads.by_collection.clear()
    again = await plot(api, run["id"])
    assert again == first
    # 200 buckets hold the series; the second plot reads tiles and the two partial ends.
    assert reads.by_collection.get("metric_buckets", 0) <= 8, reads.by_collection
    assert 0 < reads.by_collection.get("metric_tiles", 0) <= 64, reads.by_collection

    steps, values = first["steps"], first["values"]
    assert len(steps) <= 1000 and steps == sorted(steps)
    assert steps[0] == 0 and steps[-1] == N - 1
    assert all(v == value(s) for s, v in zip(steps, values, strict=True))
    assert (SPIKE, 100.0) in zip(steps, values, strict=True) and (DIP, -100.0) in zip(
        steps, values, strict=True
    )

    # A window inside the series: its ends are exact, its extremes kept.
    window = await plot(api, run["id"], 200, **{"from": 70_001, "to": 150_003})
    assert window["steps"][0] == 70_001 and window["steps"][-1] == 150_003
    assert {SPIKE, DIP} <= set(window["steps"])


async def test_a_late_point_makes_its_tiles_stale(api: Api) -> None:
    run = await api.create_experiment("llm", "late")
    steps = list(range(100_000))
    await log(api, run["id"], {"key": "loss", "steps": steps, "values": [0.5] * len(steps)})
    before = await plot(api, run["id"], 400)
    assert set(before["values"]) == {0.5}
    # A point logged late, inside what the tiles already cover.
    await log(api, run["id"], {"key": "loss", "steps": [54_321], "values": [-7.0]})
    after = await plot(api, run["id"], 400)
    assert (54_321, -7.0) in zip(after["steps"], after["values"], strict=True)


async def test_a_page_reads_only_the_buckets_that_hold_it(
    watched: tuple[Api, DocumentsRead],
) -> None:
    api, reads = watched
    run = await api.create_experiment("llm", "pages")
    steps = list(range(0, 300_000, 2))  # 150 buckets of 1,000 points, every other step
    for half in (steps[:75_000], steps[75_000:]):
        await log(api, run["id"], {"key": "loss", "steps": half, "values": [0.25] * len(half)})
    # Late points inside an early range: out-of-order buckets must still be found.
    await log(api, run["id"], {"key": "loss", "steps": [1001, 1003], "values": [9.0, 9.0]})
    for start in (0, 1001, 150_001, 290_000):
        reads.by_collection.clear()
        data = await api.ok(
            """query($id: ID!, $from: Long!) { node(id: $id) { ... on Experiment {
                 metric(key: "loss") { points(fromStep: $from, limit: 5000) { steps } } } } }""",
            {"id": run["id"], "from": start},
        )
        got = data["node"]["metric"]["points"]["steps"]
        want = sorted(s for s in [*steps, 1001, 1003] if s >= start)[:5000]
        assert got == want, start
        # A page of 5,000 points spans 5 or 6 buckets (and the late one); never the 150.
        assert reads.by_collection.get("metric_buckets", 0) <= 12, (start, reads.by_collection)
