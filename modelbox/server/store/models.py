"""Models: named per namespace; their versions are numbered by the server."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict

from bson import ObjectId

from modelbox.server.access import Actor
from modelbox.server.errors import NotFound
from modelbox.server.store.audit import AuditLog
from modelbox.server.store.database import Database, Session, update_by_id
from modelbox.server.store.namespaces import Namespaces
from modelbox.server.store.paging import SortKey
from modelbox.server.store.records import DatasetRecord, LabelRecord, object_id
from modelbox.server.store.repository import Repository


def listing_query(labels: list[dict[str, str]] | None, **equal: Any) -> dict[str, Any]:
    """Match objects carrying every one of `labels` ({key, value}) and each `equal` field
    that is given (not None): the plain filters of a listing."""
    query: dict[str, Any] = {field: value for field, value in equal.items() if value is not None}
    if labels:
        query["$and"] = [{"labels": {"$elemMatch": dict(label)}} for label in labels]
    return query


class ModelRecord(TypedDict):
    """A model as the store hands it up."""

    id: str
    namespace: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: NotRequired[str | None]
    task: NotRequired[str | None]
    owner: NotRequired[str | None]
    labels: NotRequired[list[LabelRecord]]
    datasets: NotRequired[list[DatasetRecord]]
    metadata: NotRequired[Any]


class Models(Repository[ModelRecord]):
    collection_name = "models"
    object_type = "Model"
    parent = True
    sort = SortKey("name")

    def __init__(self, database: Database, audit: AuditLog, namespaces: Namespaces) -> None:
        super().__init__(database, audit)
        self.namespaces = namespaces
        # Version counters live apart from the models, so numbering a version is not a
        # change of its model (watchers of the namespace would see one otherwise).
        self.counters = database["model_version_counters"]
        self.on_delete.append(self._drop_counter)

    @staticmethod
    def query(
        task: str | None = None,
        owner: str | None = None,
        labels: list[dict[str, str]] | None = None,
        name_prefix: str | None = None,
    ) -> dict[str, Any]:
        query = listing_query(labels, task=task, owner=owner)
        if name_prefix:
            query["name"] = {"$gte": name_prefix, "$lt": name_prefix + "\uffff"}
        return query

    async def create(self, actor: Actor, fields: dict[str, Any]) -> ModelRecord:
        async def insert(session: Session) -> ModelRecord:
            model = await self._insert(session, actor, fields)
            await self.counters.insert_one({"_id": object_id(model["id"]), "n": 0}, session=session)
            return model

        return await self.namespaces.creating(actor, fields["namespace"], insert)

    async def update(self, actor: Actor, id: str, changes: dict[str, Any]) -> ModelRecord:
        return await self.database.transaction(lambda s: self._update(s, actor, id, changes))

    async def _drop_counter(
        self, session: Session, actor: Actor, model_ids: list[ObjectId]
    ) -> None:
        await self.counters.delete_many({"_id": {"$in": model_ids}}, session=session)

    async def next_version(self, session: Session, model_id: str) -> int:
        """Take the model's next version number; concurrent callers conflict and retry."""
        by_id = {"_id": object_id(model_id)}
        before = await update_by_id(self.counters, session, by_id, {"$inc": {"n": 1}})
        if before is None:
            raise NotFound(f"Model {model_id} does not exist")
        return int(before["n"]) + 1
