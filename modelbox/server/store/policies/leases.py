"""Leases of retention runs: one process runs a policy at a time, and never two runs at once.

A lease is one document per policy, `{_id: policy id, holder, until, last_run, rerun}`.
It is taken with one conditional upsert: when another process holds it (or, for a
scheduled run, when the last run is recent) the filter misses, the upsert's insert
collides on `_id`, and the lease is not taken. A run asked for while one is going sets
`rerun`, so the holder runs once more instead of the request being lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from modelbox.server.access import Actor
from modelbox.server.store.database import Database, Session
from modelbox.server.store.records import now, object_id


class PolicyLeases:
    collection_name = "policy_leases"

    def __init__(self, database: Database) -> None:
        self.collection = database[self.collection_name]

    async def take(
        self, policy_id: str, holder: str, ttl: timedelta, ran_before: datetime | None = None
    ) -> bool:
        """Take the policy's lease if it is free (and its last run ended before `ran_before`)."""
        stamp = now()
        query: dict[str, object] = {"_id": object_id(policy_id), "until": {"$lte": stamp}}
        if ran_before is not None:
            query["last_run"] = {"$lte": ran_before}
        try:
            await self.collection.find_one_and_update(
                query,
                {"$set": {"holder": holder, "until": stamp + ttl, "rerun": False}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def renew(self, policy_id: str, holder: str, ttl: timedelta) -> None:
        await self.collection.update_one(
            {"_id": object_id(policy_id), "holder": holder}, {"$set": {"until": now() + ttl}}
        )

    async def ask_rerun(self, policy_id: str) -> bool:
        """Ask the running holder for one more run; False if no run is going any more."""
        result = await self.collection.update_one(
            {"_id": object_id(policy_id), "until": {"$gt": now()}}, {"$set": {"rerun": True}}
        )
        return result.modified_count + result.matched_count > 0

    async def release(self, policy_id: str, holder: str, started: datetime) -> bool:
        """Give the lease back; True when another run was asked for while this one went."""
        before = await self.collection.find_one_and_update(
            {"_id": object_id(policy_id), "holder": holder},
            {"$set": {"until": now(), "last_run": started, "rerun": False}},
            return_document=ReturnDocument.BEFORE,
        )
        return bool(before and before.get("rerun"))

    async def delete_of_policies(
        self, session: Session, actor: Actor, policy_ids: list[ObjectId]
    ) -> None:
        await self.collection.delete_many({"_id": {"$in": policy_ids}}, session=session)
