"""The process's in-memory index of search values: per (namespace, field), sorted values.

A search of one namespace takes its candidates here rather than from index ranges of
`search_values`, which the embedded SecantusDB reads a document at a time in Python. Each
(namespace, field) is loaded from `search_values` on first use, with the namespace's
experiment names (for pages by name); a change stream on `search_values` and `experiments`
keeps them current. The stream is opened before anything is loaded and is *pulled by each
search*, to its end, before the search reads the index: its getMore waits 1 ms at most, so
the index then holds every write the database acknowledged before the search began, in
this process or any other. It is not the change feed's stream (store/changes/feed.py):
that one waits up to half a second for changes, and a search could not tell "caught up"
from "nothing yet" without waiting as long.

The database stays the authority: a search only orders candidates here and lets the
database match them against the whole filter (store/indexed.py). When the stream breaks,
the connection to the database was lost, or more changes wait than `MAX_DELTA`, the index
is dropped (the search runs without it) and loaded again by later searches. Memory is
bounded: at most `MAX_VALUES` values in all (each field and namespace counting one more, so
fields holding nothing count too), the least recently used fields dropped first;
a field with more than `MAX_FIELD_VALUES` values in one namespace, or a namespace with more
experiments, is never loaded (its searches run without the index).

The orders are kept as changes arrive (sorted lists, a change costing its logarithm), so a
search reads its page of them, never copies or sorts a field. A field is loaded outside the
lock: searches of loaded fields go on meanwhile, and the changes their pulls apply are kept
in a log that is applied again, in order, once the load is in (each change sets its value
outright, so applying one twice leaves what applying it once does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import PyMongoError

from modelbox.server.store.changes import ConnectionLoss
from modelbox.server.store.database import Database
from modelbox.server.store.ranked import Unordered
from modelbox.server.store.search_orders import Field, Names
from modelbox.server.store.search_values import COLLECTION

log = logging.getLogger(__name__)

MAX_VALUES = 2_000_000
MAX_FIELD_VALUES = 250_000
# Changes one search applies before using the index; beyond, rebuilding is cheaper.
MAX_DELTA = 20_000
# A field (or a namespace's names) found too large is not tried again for this long; nor,
# once the bound made the index drop something, a search spanning several namespaces (each
# would evict the last).
TOO_LARGE_SECONDS = 300.0
BATCH = 20_000
# How long the getMore that ends a pull waits when nothing is new: as little as can be
# asked (MongoDB reads 0 as its default of a second).
PULL_AWAIT_MS = 1
EXPERIMENTS = "experiments"
# A field of a namespace, or (with None) the namespace's experiments' names.
Loaded = tuple[str, str | None]


class _Load:
    """A field or names being read outside the lock: where the log stood when it began."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.lost = False  # the log could not keep every change since, or the index was dropped
        self.installed = False
        self.done = asyncio.Event()


class Snapshot:
    """What one search reads of the index: its namespace's names and the fields it named."""

    def __init__(self, names: Names, fields: dict[str, Field]) -> None:
        self.names = names
        self.fields = fields


class SearchIndex:
    def __init__(self, database: Database, connection_loss: ConnectionLoss) -> None:
        self._database = database
        self._connection_loss = connection_loss
        self._lock = asyncio.Lock()
        self._stream: AsyncChangeStream[Any] | None = None
        self._clears = 0
        # Namespace → its experiments' names, least recently used first.
        self._names: OrderedDict[str, Names] = OrderedDict()
        # (namespace, field) → values, least recently used first.
        self._fields: OrderedDict[tuple[str, str], Field] = OrderedDict()
        self._owner: dict[Any, Field] = {}
        self._namespace_of: dict[bytes, str] = {}
        self._too_large: dict[Loaded, float] = {}
        # What is being loaded, and every change applied since the oldest of it began.
        self._loading: dict[Loaded, _Load] = {}
        self._log: list[dict[str, Any]] = []
        self._stale = False
        self._strained_until = 0.0
        # When the last pull that read the stream to its end began (`time.monotonic()`).
        self._caught_up = -math.inf
        self.size = 0

    @property
    def strained(self) -> bool:
        """Whether the bound on values made the index drop something lately."""
        return time.monotonic() < self._strained_until

    async def snapshot(
        self, namespace: str, fields: Iterable[str], since: float | None = None
    ) -> Snapshot | None:
        """The index of `namespace` for `fields`, current as of this call (or of `since`, a
        `time.monotonic()` taken earlier: a pull begun since then is enough, so a search of
        several namespaces pulls once); None when the search must run without it."""
        wanted = set(fields)
        since = time.monotonic() if since is None else since
        for loading in (True, True, False):
            async with self._lock:
                found = await self._read(namespace, wanted, loading, since)
            if not isinstance(found, dict):
                return found
            # Loaded outside the lock; then read again, which pulls what came meanwhile.
            await asyncio.gather(
                *(self._load(key, load, mine) for key, (load, mine) in found.items())
            )
            if not all(load.installed for load, _ in found.values()):
                return None  # too large, or lost: this search runs without the index
        return None

    async def _read(
        self, namespace: str, fields: set[str], loading: bool, since: float
    ) -> Snapshot | dict[Loaded, tuple[_Load, bool]] | None:
        """The snapshot; or, when something is not loaded yet (and `loading`), the loads to
        wait for, each with whether this search is to run it."""
        try:
            if self._caught_up < since and not await self._pull():
                return None
            # The names first: a namespace with too many experiments loads no field.
            missing: list[Loaded] = [(namespace, None)]
            if namespace in self._names:
                missing = [
                    (namespace, f) for f in sorted(fields) if (namespace, f) not in self._fields
                ]
            if missing:
                if not loading or any(
                    self._too_large.get(key, 0.0) > time.monotonic() for key in missing
                ):
                    return None
                return {k: self._begin(k) for k in missing}
            self._names.move_to_end(namespace)
            for field in fields:
                self._fields.move_to_end((namespace, field))
            self._evict(len(fields))
            loaded = {f: self._fields[namespace, f] for f in fields}
            return Snapshot(self._names[namespace], loaded)
        except (PyMongoError, Unordered) as error:
            log.warning("search index dropped: %r", error)
            await self._drop()
            return None
        except Exception:
            # A change the index does not understand: the database answers instead.
            log.exception("search index failed; dropped")
            await self._drop()
            return None

    def _begin(self, key: Loaded) -> tuple[_Load, bool]:
        load = self._loading.get(key)
        if load is not None:
            return load, False  # another search loads it: wait for that one
        load = self._loading[key] = _Load(len(self._log))
        return load, True

    async def _load(self, key: Loaded, load: _Load, mine: bool) -> None:
        if not mine:
            await load.done.wait()
            return
        try:
            namespace, field = key
            rows = await (
                self._read_names(namespace) if field is None else self._read_field(namespace, field)
            )
            if rows is None:  # a field, or a namespace's names, too large to hold
                self._too_large[key] = time.monotonic() + TOO_LARGE_SECONDS
            elif rows is not None and not load.lost and self._loading.get(key) is load:
                self._install(key, rows, self._log[load.start :])
                load.installed = True
        except PyMongoError as error:
            log.warning("search index load failed: %r", error)
        except Exception:
            # A value the index does not understand: the next pull drops the index.
            log.exception("search index load failed; dropped")
            self._stale = True
        finally:
            # No await from here on: no pull applies a change between these steps.
            if self._loading.get(key) is load:
                del self._loading[key]
            if not self._loading:
                self._log.clear()
            load.done.set()

    def _install(self, key: Loaded, rows: Any, changes: list[dict[str, Any]]) -> None:
        """Puts what was read in, then applies again every change since the read began (in
        order, up to the last one pulled): the index is as the last change left it."""
        namespace, field = key
        if field is None:
            for experiment in rows:
                self._namespace_of[experiment] = namespace
            self._names[namespace] = Names(rows)
        else:
            found = self._fields[namespace, field] = Field(rows)
            for value_id, _, _ in rows:
                self._owner[value_id] = found
        # And one for the field or names itself: a search may name fields nobody set.
        self.size += len(rows) + 1
        for change in changes:
            self._apply(change)

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _pull(self) -> bool:
        """Apply every change waiting on the stream (opened if need be); False when the
        index cannot be trusted and was dropped."""
        if self._stale or (
            self._stream is not None and self._connection_loss.clears != self._clears
        ):
            # The driver may have resumed on a restarted database, which a token cannot
            # replay: start again from nothing.
            await self._drop()
        if self._stream is None:
            self._clears = self._connection_loss.clears
            self._stream = await self._open()
            return True
        applied = 0
        began = time.monotonic()
        while (event := await self._stream.try_next()) is not None:
            if event["operationType"] == "invalidate" or applied == MAX_DELTA:
                await self._drop()
                return False
            self._apply(event)
            if self._loading:
                self._keep(event)
            applied += 1
        if self._connection_loss.clears != self._clears:
            await self._drop()  # lost while pulling: what it handed out may be a restart's
            return False
        self._caught_up = began
        return True

    async def _open(self) -> AsyncChangeStream[Any]:
        # Names do not change today; a rename would still reach the index.
        renamed = {
            "operationType": "update",
            "updateDescription.updatedFields.name": {"$exists": True},
        }
        watched = [
            {"ns.coll": COLLECTION},
            {"ns.coll": EXPERIMENTS, "operationType": {"$in": ["insert", "replace", "delete"]}},
            {"ns.coll": EXPERIMENTS, **renamed},
            {"operationType": "invalidate"},
        ]
        return await self._database.db.watch(
            [{"$match": {"$or": watched}}], max_await_time_ms=PULL_AWAIT_MS, batch_size=BATCH
        )

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        self._drop_all()
        if stream is not None:
            with contextlib.suppress(PyMongoError):
                await stream.close()

    def _drop_all(self) -> None:
        self._stale = False
        self._caught_up = -math.inf
        self._names.clear()
        self._fields.clear()
        self._owner.clear()
        self._namespace_of.clear()
        for load in self._loading.values():
            load.lost = True
        self._loading.clear()
        self._log.clear()
        self.size = 0

    def _keep(self, event: dict[str, Any]) -> None:
        """Logs a change for the loads under way; past `MAX_DELTA`, they are given up."""
        if len(self._log) < MAX_DELTA:
            self._log.append(event)
            return
        for load in self._loading.values():
            load.lost = True

    def _apply(self, event: dict[str, Any]) -> None:
        operation, key = event["operationType"], event["documentKey"]["_id"]
        document = event.get("fullDocument")
        if event["ns"]["coll"] == EXPERIMENTS:
            self._apply_experiment(operation, key, document, event)
            return
        owner = self._owner.pop(key, None)
        if owner is not None:
            owner.drop(key)
            self.size -= 1
        if operation in ("insert", "replace") and document is not None:
            found = self._fields.get((document["ns"], document["f"]))
            if found is not None:
                found.put(key, document["v"], document["e"].binary)
                self._owner[key] = found
                self.size += 1

    def _apply_experiment(
        self, operation: str, key: ObjectId, document: dict[str, Any] | None, event: Any
    ) -> None:
        experiment = key.binary
        namespace = self._namespace_of.pop(experiment, None)
        if namespace is not None:
            self._names[namespace].drop(experiment)
            self.size -= 1
        if operation == "update":
            document = {
                "namespace": namespace,
                "name": event["updateDescription"]["updatedFields"]["name"],
            }
        if operation != "delete" and document is not None:
            names = self._names.get(document["namespace"])
            if names is not None:
                names.put(experiment, document["name"])
                self._namespace_of[experiment] = document["namespace"]
                self.size += 1

    async def _read_names(self, namespace: str) -> dict[bytes, str] | None:
        found = self._database[EXPERIMENTS].find(
            {"namespace": namespace}, {"name": 1}, batch_size=BATCH, limit=MAX_FIELD_VALUES + 1
        )
        rows = {d["_id"].binary: d["name"] async for d in found}
        return None if len(rows) > MAX_FIELD_VALUES else rows

    async def _read_field(self, namespace: str, field: str) -> list[tuple[Any, Any, bytes]] | None:
        values = self._database[COLLECTION].find(
            {"ns": namespace, "f": field},
            {"v": 1, "e": 1},
            batch_size=BATCH,
            limit=MAX_FIELD_VALUES + 1,
        )
        rows = [(d["_id"], d["v"], d["e"].binary) async for d in values]
        return None if len(rows) > MAX_FIELD_VALUES else rows

    def _evict(self, using: int) -> None:
        """Least recently used fields, then namespaces' names, dropped while over
        `MAX_VALUES`; never what the search at hand (the most recent) uses."""
        if self.size > MAX_VALUES:
            self._strained_until = time.monotonic() + TOO_LARGE_SECONDS
        while self.size > MAX_VALUES and len(self._fields) > using:
            _, field = self._fields.popitem(last=False)
            self.size -= len(field.entries) + 1
            for value_id in field.by_id:
                self._owner.pop(value_id, None)
        while self.size > MAX_VALUES and len(self._names) > 1:
            _, names = self._names.popitem(last=False)
            self.size -= len(names.of) + 1
            for experiment in names.of:
                self._namespace_of.pop(experiment, None)
