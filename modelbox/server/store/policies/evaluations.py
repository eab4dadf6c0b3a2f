"""The record of every decision a policy takes, written in the transaction of its effects.

Two API processes see every change and both evaluate it; the database decides which one
records it. A change-driven evaluation carries the state of its subject it looked at
(`state`), unique per (policy, subject, state); an APPLIED promotion or labeling is
`claimed`, unique per (policy, subject): a checkpoint is promoted at most once per policy,
however many processes look at it and however often it is evaluated again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NotRequired, TypedDict, cast

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from modelbox.server.access import Actor
from modelbox.server.errors import Conflict
from modelbox.server.store.audit import AuditAction
from modelbox.server.store.database import Session
from modelbox.server.store.indexes import conflict_message
from modelbox.server.store.records import Record, now, object_id, object_ids
from modelbox.server.store.repository import Repository

APPLIED = "APPLIED"
# The unique indexes that make a decision once (store/indexes.py).
DECIDED = ("policy_subject_state_unique", "policy_subject_claim_unique")
# What a decision's effects return: the `actions` to record with it.
Effect = Callable[[Session, ObjectId], Awaitable[dict[str, Any]]]


class WebhookDeliveryRecord(TypedDict):
    """How an APPLIED decision's webhook call went: PENDING, DELIVERED or FAILED."""

    url: str
    status: str
    attempts: int
    response_status: int | None
    last_error: str | None


class PolicyEvaluationRecord(TypedDict):
    """One decision of a policy about one subject, as the store (and the change feed's
    inserts) hand it up."""

    id: str
    policy_id: str
    namespace: str
    kind: str
    subject_type: str
    subject_id: str
    decision: str
    reasons: list[str]
    # What it did (or would have done), as camelCase keys clients see.
    actions: dict[str, Any]
    trigger: str
    # Whether it holds the policy's one APPLIED claim on the subject.
    claimed: bool
    at: datetime
    created_at: datetime
    updated_at: datetime
    # The subject's state a change showed (change-driven decisions only).
    state: NotRequired[str]
    webhook: NotRequired[WebhookDeliveryRecord]


def evaluation_record(record: Record) -> PolicyEvaluationRecord:
    """A record of the policy_evaluations collection (from the change feed), typed."""
    return cast(PolicyEvaluationRecord, record)


class PolicyEvaluations(Repository[PolicyEvaluationRecord]):
    collection_name = "policy_evaluations"
    object_type = "PolicyEvaluation"

    async def commit(
        self, actor: Actor, evaluation: dict[str, Any], effect: Effect | None = None
    ) -> PolicyEvaluationRecord | None:
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

        async def work(session: Session) -> PolicyEvaluationRecord:
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
            return self._record(stamped)

        try:
            return await self.database.transaction(work, duplicates=False)
        except DuplicateKeyError as error:
            if any(name in str(error) for name in DECIDED):
                return None  # another process (or an earlier run) took this decision
            raise Conflict(conflict_message(error)) from None

    async def claimed(self, policy_id: str, subject_id: str) -> PolicyEvaluationRecord | None:
        """The APPLIED evaluation of this subject by this policy, if there is one."""
        doc = await self.collection.find_one(
            {
                "policy_id": object_id(policy_id),
                "subject_id": object_id(subject_id),
                "claimed": True,
            }
        )
        return self._record(doc) if doc else None

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

    async def set_webhook(self, id: str, delivery: WebhookDeliveryRecord) -> None:
        """How the webhook call went: not a change of data, so not audited."""
        await self.collection.update_one(
            {"_id": object_id(id)}, {"$set": {"webhook": delivery, "updated_at": now()}}
        )

    async def delete_of_policies(
        self, session: Session, actor: Actor, policy_ids: list[ObjectId]
    ) -> None:
        """A deleted policy's records go with it (its own deletion is the audited event)."""
        await self.collection.delete_many({"policy_id": {"$in": policy_ids}}, session=session)
