"""What policies do to versions and checkpoints, each in the transaction of its decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from modelbox.server.access import Actor
from modelbox.server.store.artifacts import Artifacts
from modelbox.server.store.database import Session
from modelbox.server.store.policies.evaluations import PolicyEvaluationRecord, PolicyEvaluations
from modelbox.server.store.records import Record, object_id, object_ids, to_record
from modelbox.server.store.repository import Repository
from modelbox.server.store.versions import ModelVersions

ARCHIVED = {"key": "archived", "value": "true"}
# Versions removed per transaction by a retention run: each batch is ~12 commands whatever
# its size (bench/README.md); larger `$in` lists get slower per id on SecantusDB.
BATCH = 500


class PolicyActions:
    def __init__(
        self, evaluations: PolicyEvaluations, versions: ModelVersions, artifacts: Artifacts
    ) -> None:
        self.evaluations = evaluations
        self.versions = versions
        self.artifacts = artifacts
        self.database = versions.database

    async def record(
        self, actor: Actor, evaluation: dict[str, Any]
    ) -> PolicyEvaluationRecord | None:
        """A decision that changes nothing (SKIPPED, DRY_RUN, FAILED…); None if already taken."""
        return await self.evaluations.commit(actor, evaluation)

    async def promote(
        self,
        actor: Actor,
        evaluation: dict[str, Any],
        model: Record,
        checkpoint: Record,
        fields: dict[str, Any],
    ) -> PolicyEvaluationRecord | None:
        """A new version of `model` from `checkpoint`, with its artifacts (bytes shared)."""

        async def effect(session: Session, evaluation_id: ObjectId) -> dict[str, Any]:
            # The checkpoint cannot go (with its artifacts' bytes) while they are shared.
            await self.database.guards.hold(session, "Checkpoint", checkpoint["id"])
            version = await self.versions.create_in(
                session,
                actor,
                model,
                {
                    **fields,
                    "checkpoint_id": checkpoint["id"],
                    "experiment_id": checkpoint["experiment_id"],
                    "promoted_by": object_id(evaluation["policy_id"]),
                },
            )
            copied = await self.artifacts.copy_to(
                session, actor, object_ids([checkpoint["id"]]), "ModelVersion", version
            )
            return {
                "createdVersion": version["id"],
                "version": version["version"],
                "artifacts": [a["name"] for a in copied],
            }

        return await self.evaluations.commit(actor, evaluation, effect)

    async def label(
        self, actor: Actor, evaluation: dict[str, Any], version: Record, changes: dict[str, Any]
    ) -> PolicyEvaluationRecord | None:
        """Labels and aliases on `version` (aliases moved off their holders atomically)."""

        async def effect(session: Session, evaluation_id: ObjectId) -> dict[str, Any]:
            await self.versions.update_in(session, actor, version, changes)
            return {}

        return await self.evaluations.commit(actor, evaluation, effect)

    async def attach_artifacts(self, actor: Actor, checkpoint_id: str, version: Record) -> None:
        """A checkpoint's artifact completed after its promotion: its version gets it too."""

        async def work(session: Session) -> None:
            await self.database.guards.hold(session, "ModelVersion", version["id"])
            await self.database.guards.hold(session, "Checkpoint", checkpoint_id)
            sources = object_ids([checkpoint_id])
            await self.artifacts.copy_to(session, actor, sources, "ModelVersion", version)

        await self.database.transaction(work)

    async def alias_holder(self, model_id: str, alias: str) -> Record | None:
        doc = await self.versions.collection.find_one(
            {"model_id": object_id(model_id), "aliases": alias}
        )
        return to_record(doc) if doc else None

    async def candidates(
        self, subjects: Repository, parent_field: str, parent: str
    ) -> list[Record]:
        """What a retention run looks at: only the fields it decides by, for any number."""
        fields = ("version", "step", "created_at", "aliases", "labels", "metrics")
        cursor = subjects.collection.find(
            {parent_field: object_id(parent)}, {f: 1 for f in fields}
        ).batch_size(5000)
        return [to_record(doc) async for doc in cursor]

    async def created_since(
        self, subjects: Repository, namespaces: list[str], since: datetime, limit: int
    ) -> list[Record]:
        """Subjects created at or after `since` in `namespaces`, oldest first, at most `limit`."""
        query = {"namespace": {"$in": namespaces}, "created_at": {"$gte": since}}
        cursor = subjects.collection.find(query).sort("created_at", 1).limit(limit)
        return [to_record(doc) async for doc in cursor]

    async def promoted_from(self, checkpoint_id: str) -> list[Record]:
        """The versions policies made from a checkpoint."""
        query = {"checkpoint_id": object_id(checkpoint_id), "promoted_by": {"$exists": True}}
        return [to_record(d) async for d in self.versions.collection.find(query)]

    async def remove(
        self, actor: Actor, subjects: Repository, ids: list[str], archive: bool
    ) -> None:
        """Delete (with artifacts, bytes, metrics, events) or archive `ids`, in batches."""
        for start in range(0, len(ids), BATCH):
            batch = object_ids(ids[start : start + BATCH])

            async def work(session: Session, batch: list[ObjectId] = batch) -> None:
                if not archive:
                    await subjects._delete_where(session, actor, {"_id": {"$in": batch}})
                    return
                await self.artifacts.delete_subjects(session, actor, batch)
                await subjects._append_where(session, actor, batch, "labels", ARCHIVED)

            await self.database.transaction(work)
