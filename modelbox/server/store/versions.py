"""Model versions: numbered 1, 2, 3… per model, with aliases unique within the model."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict

from modelbox.server.access import Actor
from modelbox.server.store.audit import AuditLog
from modelbox.server.store.database import Database, Session
from modelbox.server.store.models import ModelRecord, Models, listing_query
from modelbox.server.store.paging import DESCENDING, SortKey
from modelbox.server.store.records import (
    DatasetRecord,
    LabelRecord,
    MetricValueRecord,
    Record,
    object_id,
)
from modelbox.server.store.repository import Repository
from modelbox.server.store.search import Fields, Searchable


class VersionRecord(TypedDict):
    """A model version as the store hands it up; lineage ids are hex strings."""

    id: str
    namespace: str
    model_id: str
    version: int
    created_at: datetime
    updated_at: datetime
    name: NotRequired[str | None]
    description: NotRequired[str | None]
    framework: NotRequired[str | None]
    labels: NotRequired[list[LabelRecord]]
    aliases: NotRequired[list[str]]
    datasets: NotRequired[list[DatasetRecord]]
    metadata: NotRequired[Any]
    metrics: NotRequired[list[MetricValueRecord]]
    experiment_id: NotRequired[str | None]
    checkpoint_id: NotRequired[str | None]
    # The policy that made it from a checkpoint (PROMOTION); absent for versions made by hand.
    promoted_by: NotRequired[str]


class ModelVersions(Repository[VersionRecord], Searchable):
    collection_name = "model_versions"
    object_type = "ModelVersion"
    parent = True
    search_fields = Fields(
        frozenset(("version", "name", "framework", "aliases", "created_at", "updated_at")),
        None,
        metric_array="metrics",
        object_name="model version",
    )
    # Within one model the version number is unique; newest first, as registries list them.
    sort = SortKey("version", DESCENDING)

    def __init__(self, database: Database, audit: AuditLog, models: Models) -> None:
        super().__init__(database, audit)
        self.models = models

    @staticmethod
    def query(
        framework: str | None = None,
        alias: str | None = None,
        labels: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        return listing_query(labels, framework=framework, aliases=alias)

    async def create(
        self, actor: Actor, model: ModelRecord, fields: dict[str, Any]
    ) -> VersionRecord:
        return await self.database.transaction(lambda s: self.create_in(s, actor, model, fields))

    async def create_in(
        self, session: Session, actor: Actor, model: Record, fields: dict[str, Any]
    ) -> VersionRecord:
        """Number the version, take its aliases and insert it, inside the caller's transaction.

        `model` is any record of one (policies hold untyped ones): only its id and namespace
        are read."""
        version = await self.models.next_version(session, model["id"])
        await self._take_aliases(session, actor, model["id"], fields.get("aliases", []), keep=None)
        document = {
            **fields,
            "model_id": object_id(model["id"]),
            "namespace": model["namespace"],
            "version": version,
        }
        return await self._insert(session, actor, _references(document))

    async def update(
        self, actor: Actor, version: VersionRecord, changes: dict[str, Any]
    ) -> VersionRecord:
        return await self.database.transaction(lambda s: self.update_in(s, actor, version, changes))

    async def update_in(
        self, session: Session, actor: Actor, version: Record, changes: dict[str, Any]
    ) -> VersionRecord:
        if "aliases" in changes:
            await self._take_aliases(
                session, actor, version["model_id"], changes["aliases"], keep=version["id"]
            )
        return await self._update(session, actor, version["id"], _references(changes))

    async def _take_aliases(
        self, session: Session, actor: Actor, model_id: str, aliases: list[str], keep: str | None
    ) -> None:
        """Move `aliases` off whichever other versions of the model hold them.

        Runs in the same transaction as the write that puts them on their new version,
        so an alias moves in one atomic step and is never on two versions at once.
        """
        if not aliases:
            return
        query: dict[str, Any] = {"model_id": object_id(model_id), "aliases": {"$in": aliases}}
        if keep is not None:
            query["_id"] = {"$ne": object_id(keep)}
        async for holder in self.collection.find(query, session=session):
            await self._update(
                session,
                actor,
                str(holder["_id"]),
                {"aliases": [a for a in holder["aliases"] if a not in aliases]},
            )


def _references(fields: dict[str, Any]) -> dict[str, Any]:
    """Lineage is stored as ObjectIds, like every reference to another document."""
    return {
        key: object_id(value) if key in ("experiment_id", "checkpoint_id") and value else value
        for key, value in fields.items()
    }
