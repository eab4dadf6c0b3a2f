"""Rebuilding experiments' search data: their metric summaries and search values.

Experiments written before either existed (summaries came with the first search, values
with the ranked search) are rebuilt once, at start-up, from what every write kept all
along: the series summaries (`metric_series`) and the hyperparameters. It is safe to run in
several processes at once and to run again: each batch is one transaction that re-reads its
experiments and replaces what it derives, and a write racing it conflicts and retries.
"""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from pymongo import DeleteMany, UpdateOne

from modelbox.server.store.database import Database, Session
from modelbox.server.store.keys import encode_key
from modelbox.server.store.metrics.columns import FLOAT
from modelbox.server.store.records import now
from modelbox.server.store.search import SUMMARIES
from modelbox.server.store.search_values import SearchValues

log = logging.getLogger(__name__)

MIGRATION = "search_values_1"
BATCH = 50


def summaries_of(series: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """An experiment's `metric_summaries` as logMetrics keeps them, from its FLOAT series."""
    return {
        encode_key(s["key"]): {
            name: s[name] for name in ("count", "min", "max", "last") if name in s
        }
        for s in series
        if s.get("kind") == FLOAT
    }


async def _rebuild(
    database: Database, values: SearchValues, session: Session, ids: list[ObjectId]
) -> None:
    experiments = database["experiments"]
    found = experiments.find(
        {"_id": {"$in": ids}}, {"namespace": 1, "hyperparameters": 1}, session=session
    )
    documents = await found.to_list()
    series: dict[ObjectId, list[dict[str, Any]]] = {}
    async for summary in database["metric_series"].find(
        {"subject_id": {"$in": ids}},
        {"key": 1, "kind": 1, "count": 1, "min": 1, "max": 1, "last": 1, "subject_id": 1},
        session=session,
    ):
        series.setdefault(summary["subject_id"], []).append(summary)
    writes: list[Any] = [DeleteMany({"e": {"$in": ids}})]
    updates: list[UpdateOne] = []
    for document in documents:
        experiment, namespace = document["_id"], document["namespace"]
        summaries = summaries_of(series.get(experiment, []))
        writes += values.hyperparameter_writes(
            experiment, namespace, document.get("hyperparameters"), replace=False
        )
        writes += values.metric_writes(experiment, namespace, summaries)
        if summaries:
            updates.append(UpdateOne({"_id": experiment}, {"$set": {SUMMARIES: summaries}}))
    await values.collection.bulk_write(writes, ordered=True, session=session)
    if updates:
        await experiments.bulk_write(updates, ordered=False, session=session)


async def backfill(database: Database, values: SearchValues) -> int:
    """Rebuild every experiment's search data unless done before; the experiments rebuilt."""
    migrations = database["migrations"]
    if await migrations.find_one({"_id": MIGRATION}) is None:
        ids = [d["_id"] async for d in database["experiments"].find({}, {"_id": 1})]
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]

            async def work(session: Session, part: list[ObjectId] = part) -> None:
                await _rebuild(database, values, session, part)

            await database.transaction(work)
        await migrations.update_one(
            {"_id": MIGRATION}, {"$setOnInsert": {"done_at": now()}}, upsert=True
        )
        if ids:
            log.info("search data rebuilt for %d experiments", len(ids))
        values.ready = True
        return len(ids)
    values.ready = True
    return 0
