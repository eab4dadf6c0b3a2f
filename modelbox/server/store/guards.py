"""A child is never created under a parent being deleted: both write the parent's guard.

A create (a checkpoint, an artifact, metric points, events) *holds* its parent inside its
own transaction: it writes the parent's guard document, then checks that the parent is
there. A delete *seals* the guards of everything it deletes, cascades included, inside its
transaction. Two transactions that write one document cannot both commit (MongoDB aborts
one with a retryable write conflict, `Database.transaction` runs it again), so either the
child commits first and the delete's cascade takes it with the parent, or the delete
commits first and the retried create finds no parent: NOT_FOUND, and no orphan.

Guards live apart from the parents, so holding one is not an update of the parent that
namespace watchers would see. A sealed guard outlives any transaction that could have
started before it, then expires.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from modelbox.server.errors import NotFound
from modelbox.server.store.records import now, object_id

COLLECTION = "parent_guards"
# Transactions live at most a minute on MongoDB (transactionLifetimeLimitSeconds): a day
# is ample for a sealed guard to outlive every create that could race it.
SEALED_SECONDS = 24 * 3600

Collection = AsyncCollection[dict[str, Any]]


class Guards:
    """The guards of the parents registered by type (experiments, checkpoints, models, versions)."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._parents: dict[str, Collection] = {}

    def register(self, object_type: str, collection: Collection) -> None:
        self._parents[object_type] = collection

    async def hold(self, session: AsyncClientSession, object_type: str, id: str | ObjectId) -> None:
        """Inside a create's transaction: conflict with any delete of the parent, and
        fail with NOT_FOUND when it is already gone."""
        oid = object_id(id)
        await self.collection.update_one(
            {"_id": oid}, {"$inc": {"holds": 1}}, upsert=True, session=session
        )
        found = await self._parents[object_type].find_one(
            {"_id": oid}, projection={"_id": 1}, session=session
        )
        if found is None:
            raise NotFound(f"{object_type} {id} does not exist")

    async def seal(self, session: AsyncClientSession, ids: list[ObjectId]) -> None:
        """Inside a delete's transaction: every create under these conflicts with it."""
        if ids:
            stamp = now()
            await self.collection.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"sealed_at": stamp}}, upsert=True) for i in ids],
                ordered=False,
                session=session,
            )
