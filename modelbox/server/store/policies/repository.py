"""Policy definitions: named per namespace, scoped to a model, an experiment or the namespace."""

from __future__ import annotations

from typing import Any

from modelbox.server.access import Actor
from modelbox.server.store.audit import AuditLog
from modelbox.server.store.database import Database, Session
from modelbox.server.store.namespaces import Namespaces
from modelbox.server.store.paging import SortKey
from modelbox.server.store.records import Record, now, object_id, to_record
from modelbox.server.store.repository import Repository

# Write-only: used to sign webhook calls, never returned and never in the audit trail.
SECRET = "webhook_secret"
REFERENCES = ("model_id", "experiment_id", "target_model_id")


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    document = dict(fields)
    for ref in REFERENCES:
        if document.get(ref) is not None:
            document[ref] = object_id(document[ref])
    if SECRET in document:
        # What the audit trail may say about the secret: that it is set, and when it changed.
        document["has_webhook_secret"] = document[SECRET] is not None
        document["webhook_secret_changed_at"] = now()
    return document


class Policies(Repository):
    collection_name = "policies"
    object_type = "Policy"
    sort = SortKey("name")

    def __init__(self, database: Database, audit: AuditLog, namespaces: Namespaces) -> None:
        super().__init__(database, audit)
        self.namespaces = namespaces

    async def create(self, actor: Actor, fields: dict[str, Any]) -> Record:
        document = {"has_webhook_secret": False, **_stored(fields)}
        return await self.namespaces.creating(
            actor,
            fields["namespace"],
            lambda session: self._insert(session, actor, document, unaudited=frozenset({SECRET})),
        )

    async def update(self, actor: Actor, id: str, changes: dict[str, Any]) -> Record:
        stored = _stored(changes)
        secret = {SECRET: stored.pop(SECRET)} if SECRET in stored else None

        async def work(session: Session) -> Record:
            record = await self._update(session, actor, id, stored)
            if secret is not None:
                await self.collection.update_one(
                    {"_id": object_id(id)}, {"$set": secret}, session=session
                )
            return record

        return await self.database.transaction(work)

    async def enabled(self) -> list[Record]:
        """Every enabled policy, for the process that evaluates them."""
        return [to_record(d) async for d in self.collection.find({"enabled": True})]

    async def due(self, kind: str) -> list[Record]:
        return [to_record(d) async for d in self.collection.find({"enabled": True, "kind": kind})]
