"""The record of every decision a policy takes, written in the transaction of its effects.

Two API processes see every change and both evaluate it; the database decides which one
records it. A change-driven evaluation carries the state of its subject it looked at
(`state`), unique per (policy, subject, state); an APPLIED promotion or labeling is
`claimed`, unique per (policy, subject): a checkpoint is promoted at most once per policy,
however many processes look at it and however often it is evaluated again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from modelbox.server.access import Actor
from modelbox.server.errors import Conflict
from modelbox.server.store.audit import AuditAction
from modelbox.server.store.database import Session
from modelbox.server.store.indexes import conflict_message
from modelbox.server.store.records import Record, now, object_id, object_ids, to_record
from modelbox.server.store.repository import Repository

APPLIED = "APPLIED"
# The unique indexes that make a decision once (store/indexes.py).
DECIDED = ("policy_subject_state_unique", "policy_subject_claim_unique")
# What a decision's effects return: the `actions` to record with it.
Effect = Callable[[Session, ObjectId], Awaitable[dict[str, Any]]]


class PolicyEvaluations(Repository):
    collection_name = "policy_evaluations"
    object_type = "PolicyEvaluation"

    async def commit(
        self, actor: Actor, evaluation: dict[str, Any], effect: Effect | None = None
    ) -> Record | None:
        """Record `evaluation` and run `effect` in one transaction; None if already decided.

        The record goes in first, so a process that lost the race for it stops at once.
        """
        document: dict[str, Any] = {
            **evaluation,
            "_id": ObjectId(),
            "policy_id": object_id(evaluation["policy_id"]),
            "subject_id": object_id(evaluation["subject_id"]),
            "claimed": evaluation.get("decision") == APPLIED and effect is not None,
            "at": now(),
        }

        async def work(session: Session) -> Record:
            stamped = {**document, "created_at": document["at"], "updated_at": document["at"]}
            await self.collection.insert_one(stamped, session=session)
            if effect is not None:
                actions = await effect(session, document["_id"])
                stamped["actions"] = {**(stamped.get("actions") or {}), **actions}
                await self.collection.update_one(
                    {"_id": document["_id"]},
                    {"$set": {"actions": stamped["actions"]}},
                    session=session,
                )
            audited = ("policy_id", "subject_id", "decision", "reasons", "actions")
            changes = {k: stamped.get(k) for k in audited}
            await self._audit(session, actor, AuditAction.CREATED, document, changes)
            return to_record(stamped)

        try:
            return await self.database.transaction(work, duplicates=False)
        except DuplicateKeyError as error:
            if any(name in str(error) for name in DECIDED):
                return None  # another process (or an earlier run) took this decision
            raise Conflict(conflict_message(error)) from None

    async def claimed(self, policy_id: str, subject_id: str) -> Record | None:
        """The APPLIED evaluation of this subject by this policy, if there is one."""
        doc = await self.collection.find_one(
            {
                "policy_id": object_id(policy_id),
                "subject_id": object_id(subject_id),
                "claimed": True,
            }
        )
        return to_record(doc) if doc else None

    async def evaluated(
        self, policy_ids: list[str], subject_ids: list[str]
    ) -> set[tuple[str, str]]:
        """Which (policy, subject) pairs among these have any record already."""
        query = {
            "policy_id": {"$in": object_ids(policy_ids)},
            "subject_id": {"$in": object_ids(subject_ids)},
        }
        cursor = self.collection.find(query, {"policy_id": 1, "subject_id": 1})
        return {(str(d["policy_id"]), str(d["subject_id"])) async for d in cursor}

    async def set_webhook(self, id: str, delivery: dict[str, Any]) -> None:
        """How the webhook call went: not a change of data, so not audited."""
        await self.collection.update_one(
            {"_id": object_id(id)}, {"$set": {"webhook": delivery, "updated_at": now()}}
        )

    async def delete_of_policies(
        self, session: Session, actor: Actor, policy_ids: list[ObjectId]
    ) -> None:
        """A deleted policy's records go with it (its own deletion is the audited event)."""
        await self.collection.delete_many({"policy_id": {"$in": policy_ids}}, session=session)
