"""Search values: one small document per (experiment, searchable value), indexed for ranges.

An experiment's metric summaries (`m.<key>.last|min|max`) and the scalar leaves of its
hyperparameters (`h.<path>`) are copied here as `{ns, f, v, e, s}`, in the transaction that
writes them on the experiment. The index `(ns, f, v)` turns "val_acc > 0.8" or "the highest
val_acc" into an index range that returns only the documents in it: on MongoDB a walk with a
limit, and on the embedded SecantusDB, which reads every document a query's range holds and
never stops at a limit, a range kept narrow by the caller (store/ranked.py). `s` spreads
experiments over `SHARDS` slices, so one slice is a cheap sample of a field's values.

The experiment document stays the authority: a search only takes candidates from here and
lets the database match them against the whole filter.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from typing import Any

from bson import ObjectId
from pymongo import DeleteMany, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

from modelbox.server.store.database import Database, Session
from modelbox.server.store.keys import encode_key

COLLECTION = "search_values"
SHARDS = 64
# Hyperparameter leaves copied per experiment; beyond it the experiment is listed under
# OVERFLOW, and every hyperparameter lookup includes the overflowing experiments.
MAX_LEAVES = 500
OVERFLOW = "h*"
AGGREGATES = {"LAST": "last", "MIN": "min", "MAX": "max"}
SAMPLE_SECONDS = 30.0
SAMPLE_ENTRIES = 1000
SCALARS = (bool, int, float, str)
# Ranges are read whole in one reply where possible: a getMore is a round trip.
BATCH = 20_000


def metric_field(key: str, aggregate: str) -> str:
    return f"m.{encode_key(key)}.{AGGREGATES[aggregate]}"


def param_field(path: tuple[str, ...]) -> str:
    return "h." + ".".join(map(encode_key, path))


def shard_of(experiment: ObjectId) -> int:
    # The low bytes of an ObjectId are a counter: consecutive experiments spread evenly.
    return int.from_bytes(experiment.binary[-3:], "big") % SHARDS


def leaves(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    """The scalars a MongoDB path reaches in a stored JSON value: into objects, and one
    level into arrays (as `{a: [1, 2]}` matches `a: 2`, and `a.b` reaches `{a: [{b: 1}]}`)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(f"{path}.{key}", inner)
    elif isinstance(value, list):
        for element in value:
            if isinstance(element, dict):
                yield from leaves(path, element)
            elif isinstance(element, SCALARS):
                yield path, element
    elif isinstance(value, SCALARS):
        yield path, value


class SearchValues:
    def __init__(self, database: Database) -> None:
        self.collection: AsyncCollection[Any] = database[COLLECTION]
        self._samples: dict[tuple[str, str], tuple[float, list[Any]]] = {}
        # Set once every experiment has its values (store/search_backfill.py); until then
        # searches do not take candidates from here.
        self.ready = False

    @staticmethod
    def _document(namespace: str, field: str, value: Any, experiment: ObjectId) -> dict[str, Any]:
        return {"ns": namespace, "f": field, "v": value, "e": experiment, "s": shard_of(experiment)}

    def hyperparameter_writes(
        self, experiment: ObjectId, namespace: str, stored: Any, *, replace: bool = True
    ) -> list[Any]:
        """The writes that set (or replace) an experiment's hyperparameter values, given in
        their stored form."""
        found = list(leaves("h", stored or {}))
        writes: list[Any] = []
        if replace:
            writes.append(DeleteMany({"e": experiment, "f": {"$gte": "h", "$lt": "i"}}))
        if len(found) > MAX_LEAVES:
            return [*writes, InsertOne(self._document(namespace, OVERFLOW, None, experiment))]
        return writes + [InsertOne(self._document(namespace, f, v, experiment)) for f, v in found]

    async def write_hyperparameters(
        self, session: Session, experiment: ObjectId, namespace: str, stored: Any, *, replace: bool
    ) -> None:
        writes = self.hyperparameter_writes(experiment, namespace, stored, replace=replace)
        if writes:
            await self.collection.bulk_write(writes, ordered=True, session=session)

    @staticmethod
    def metric_writes(
        experiment: ObjectId,
        namespace: str,
        summaries: dict[str, Any],
        new: Collection[str] = (),
    ) -> list[InsertOne[Any] | ReplaceOne[Any]]:
        """Upserts of the given metric summaries (`{encoded key: {min, max, last}}`); inserts
        for the keys in `new`, whose series this transaction starts (no values yet)."""
        writes: list[InsertOne[Any] | ReplaceOne[Any]] = []
        for key, summary in summaries.items():
            values = {"last": (summary.get("last") or {}).get("value")}
            values |= {name: summary[name] for name in ("min", "max") if name in summary}
            for name, value in values.items():
                if value is None:
                    continue
                field = f"m.{key}.{name}"
                document = SearchValues._document(namespace, field, value, experiment)
                if key in new:
                    writes.append(InsertOne({"_id": f"{experiment}:{field}", **document}))
                else:
                    writes.append(
                        ReplaceOne({"_id": f"{experiment}:{field}"}, document, upsert=True)
                    )
        return writes

    async def write_metrics(
        self,
        session: Session,
        experiment: ObjectId,
        namespace: str,
        summaries: dict[str, Any],
        new: Collection[str] = (),
    ) -> None:
        writes = self.metric_writes(experiment, namespace, summaries, new)
        if writes:
            await self.collection.bulk_write(writes, ordered=False, session=session)

    async def delete_subjects(self, session: Session, _actor: Any, ids: list[ObjectId]) -> None:
        await self.collection.delete_many({"e": {"$in": ids}}, session=session)

    async def experiments_in(
        self, namespace: str, field: str, condition: dict[str, Any]
    ) -> list[tuple[Any, ObjectId]]:
        """(value, experiment) of the values of `field` in `condition`, a range of `v`: one
        index range of `(ns, f, v)`; a field's lookup also holds overflowing experiments."""
        query = {"ns": namespace, "f": field, "v": condition}
        found = [
            (d["v"], d["e"])
            async for d in self.collection.find(query, {"_id": 0, "v": 1, "e": 1}, batch_size=BATCH)
        ]
        if field.startswith("h."):
            overflow = {"ns": namespace, "f": OVERFLOW}
            found += [(None, d["e"]) async for d in self.collection.find(overflow, {"e": 1})]
        return found

    async def sample(self, namespace: str, field: str) -> list[Any]:
        """The values of `field` in one slice of the namespace's experiments (about one in
        `SHARDS`), kept for a while: they only steer how wide a search's ranges are."""
        key = (namespace, field)
        cached = self._samples.get(key)
        if cached is not None and time.monotonic() - cached[0] < SAMPLE_SECONDS:
            return cached[1]
        query = {"ns": namespace, "f": field, "s": 0}
        values = [
            d["v"] async for d in self.collection.find(query, {"_id": 0, "v": 1}, batch_size=BATCH)
        ]
        if len(self._samples) >= SAMPLE_ENTRIES:
            self._samples.pop(next(iter(self._samples)))
        self._samples[key] = (time.monotonic(), values)
        return values
