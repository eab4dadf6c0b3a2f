"""Precomputed levels for plots: a long series' downsampled read costs O(maxPoints).

`metric_tiles`: for FLOAT series, tiles of 2^level steps (levels 12, 15, ... 63, each 8x the
last), aligned on multiples of their width, each holding the first, minimum, maximum and
last point of each of its SLOTS equal slots, packed like a bucket. A plot of a step range
with G groups reads the level whose slots are the widest still narrower than a group (so
between G and 8G slots: O(maxPoints) points), plus the points of the partial slots at both
ends of the range from the buckets; M4 over that is the answer.

Tiles are built by readers, lazily, and invalidated by writers: a logMetrics transaction
bumps `version` of every existing tile its steps fall in; a tile is fresh while its
`computed` equals `version`. A reader building tiles also bumps the series summary in its
transaction, which every writer of the series updates too: a writer and a builder racing
conflict on it and one retries, so a tile is never stored fresh without a concurrent
writer's points.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from modelbox.server.store.database import Database, Document, Session
from modelbox.server.store.metrics.columns import FLOAT, Columns, pack, unpack
from modelbox.server.store.metrics.downsampling import extremes
from modelbox.server.store.metrics.merging import merge, step_window
from modelbox.server.store.metrics.reading import Reading, StepRange
from modelbox.server.store.records import object_id

TileKey = tuple[str, str, int, int]  # subject id, key, level, start
SLOTS = 64
SLOT_BITS = 6
LEVELS = tuple(range(12, 64, 3))


def level_for(span: int, groups: int) -> int | None:
    """The level whose slots are the widest not wider than a group of `span / groups` steps."""
    width = span / max(groups, 1)
    chosen = None
    for level in LEVELS:
        if 2 ** (level - SLOT_BITS) <= width:
            chosen = level
    return chosen


@dataclass(frozen=True)
class PlotRange:
    """One series' step range `[low, high]` to plot at a level."""

    subject_id: str
    key: str
    low: int
    high: int
    level: int
    max_span: int | None = None

    @property
    def slot(self) -> int:
        return 2 ** (self.level - SLOT_BITS)

    @property
    def inner(self) -> tuple[int, int]:
        """`[start, stop)`: the whole slots inside the range (may be empty)."""
        start = -(-self.low // self.slot) * self.slot
        stop = ((self.high + 1) // self.slot) * self.slot
        return start, max(start, stop)

    def tile_starts(self) -> list[int]:
        start, stop = self.inner
        width = 2**self.level
        return list(range((start // width) * width, stop, width)) if stop > start else []


def tile_columns(points: Columns, start: int, level: int) -> dict[str, bytes]:
    """The packed extremes of each slot of the tile at `start` (points sorted by step)."""
    slot = 2 ** (level - SLOT_BITS)
    bounds: list[tuple[int, int]] = []
    i = 0
    steps = points.steps
    for s in range(SLOTS):
        end = start + (s + 1) * slot
        j = i
        while j < len(steps) and steps[j] < end:
            j += 1
        bounds.append((i, j))
        i = j
    picked = points.take(extremes(points.column, bounds))
    return {
        "steps": pack("q", picked.steps),
        "wallclocks": pack("d", picked.wallclocks),
        "values": pack("d", picked.column),
    }


def _tile_points(tile: Any) -> Columns:
    return Columns(
        FLOAT,
        unpack("q", tile["steps"]),
        unpack("d", tile["wallclocks"]),
        unpack("d", tile["values"]),
    )


def invalidation(subject: Any, series: Iterable[tuple[str, int, int]]) -> dict[str, Any] | None:
    """The filter of the tiles a request's (key, lowest step, highest step) writes touch: one
    index range over its keys and the union of its steps (an `$or` SecantusDB would scan)."""
    touched = list(series)
    if not touched:
        return None
    return {
        "subject_id": subject,
        "key": {"$in": [key for key, _, _ in touched]},
        "start": {"$lte": max(high for _, _, high in touched)},
        "end": {"$gt": min(low for _, low, _ in touched)},
    }


class Tiles(Reading):
    """Reading plots through tiles, building the stale ones; `Metrics` is one of these."""

    database: Database
    tiles: AsyncCollection[Document]

    async def plot_many(self, ranges: list[PlotRange]) -> list[Columns]:
        """For each range: its whole slots from tiles (built where stale), its partial slots
        at both ends from the buckets, in step order. A constant number of commands."""
        wanted = {(r.subject_id, r.key, r.level, t) for r in ranges for t in r.tile_starts()}
        spans = {(r.subject_id, r.key): r.max_span for r in ranges}
        tiles = await self._fresh_tiles(wanted, spans)
        ends: list[list[StepRange]] = []
        for r in ranges:
            start, stop = r.inner
            pieces = [(r.low, start - 1), (stop, r.high)] if stop > start else [(r.low, r.high)]
            ends.append(
                [
                    # Exact: at most a slot's worth of steps at each end.
                    StepRange(r.subject_id, r.key, FLOAT, low, high, max_span=r.max_span)
                    for low, high in pieces
                    if low <= high
                ]
            )
        flat = [edge for edge_list in ends for edge in edge_list]
        read = dict(zip(flat, await self.points_many(flat), strict=True))
        out = []
        for r, edge_list in zip(ranges, ends, strict=True):
            start, stop = r.inner
            parts = [read[edge] for edge in edge_list]
            parts += [
                step_window(tiles[(r.subject_id, r.key, r.level, t)], start, stop - 1)
                for t in r.tile_starts()
            ]
            parts.sort(key=lambda part: part.steps[0] if part.steps else 0)
            out.append(merge(parts, FLOAT))
        return out

    async def _fresh_tiles(
        self, wanted: set[TileKey], spans: dict[tuple[str, str], int | None]
    ) -> dict[TileKey, Columns]:
        if not wanted:
            return {}
        # One index range over them all, the few extra tiles skipped below: an `$or` of
        # single tiles is a collection scan on SecantusDB.
        query = {
            "subject_id": {"$in": list({object_id(s) for s, _, _, _ in wanted})},
            "key": {"$in": list({k for _, k, _, _ in wanted})},
            "level": {"$in": list({lv for _, _, lv, _ in wanted})},
            "start": {"$gte": min(st for *_, st in wanted), "$lte": max(st for *_, st in wanted)},
        }
        found: dict[TileKey, Columns] = {}
        versions: dict[TileKey, int] = {}
        async for tile in self.tiles.find(query).batch_size(len(wanted) + 1):
            name = (str(tile["subject_id"]), tile["key"], tile["level"], tile["start"])
            if name not in wanted:
                continue
            if tile.get("computed") == tile["version"]:
                found[name] = _tile_points(tile)
            else:
                versions[name] = tile["version"]
        stale = wanted - set(found)
        if stale:
            found |= await self._build(sorted(stale), versions, spans)
        return found

    async def _build(
        self,
        stale: list[TileKey],
        versions: dict[TileKey, int],
        spans: dict[tuple[str, str], int | None],
    ) -> dict[TileKey, Columns]:
        """Build `stale` tiles from the buckets' rollups in one transaction, which reads the
        buckets in its snapshot and bumps each series' summary (see the module's note)."""
        built: dict[TileKey, Columns] = {}

        async def work(session: Session) -> None:
            ranges = [
                StepRange(s, k, FLOAT, st, st + 2**lv - 1, True, spans[(s, k)])
                for s, k, lv, st in stale
            ]
            points = await self.points_many(ranges, session=session)
            updates = []
            for (s, k, lv, st), columns in zip(stale, points, strict=True):
                packed = tile_columns(columns, st, lv)
                built[(s, k, lv, st)] = _tile_points(packed)
                version = versions.get((s, k, lv, st), 0)
                updates.append(
                    UpdateOne(
                        {"subject_id": object_id(s), "key": k, "level": lv, "start": st},
                        {
                            "$set": {**packed, "computed": version, "end": st + 2**lv},
                            "$setOnInsert": {"version": version},
                        },
                        upsert=True,
                    )
                )
            await self.tiles.bulk_write(updates, ordered=False, session=session)
            touched = {(s, k) for s, k, _, _ in stale}
            await self.series.update_many(
                {"$or": [{"subject_id": object_id(s), "key": k} for s, k in touched]},
                {"$inc": {"tile_builds": 1}},
                session=session,
            )

        await self.database.transaction(work)
        return built
