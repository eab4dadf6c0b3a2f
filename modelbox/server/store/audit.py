"""The audit trail: written by ModelBox itself inside the transaction of each change.

Nothing in the API updates or deletes an audit event; this module only inserts and reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict, cast

from bson import ObjectId

from modelbox.server.access import Actor
from modelbox.server.store.database import Database, Session
from modelbox.server.store.keys import to_stored
from modelbox.server.store.paging import NEWEST_FIRST, Page, find_page
from modelbox.server.store.records import Record, now, object_ids, to_record


class AuditAction(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    UPLOADED = "UPLOADED"
    DOWNLOADED = "DOWNLOADED"


def jsonable(value: Any) -> Any:
    """Audit `changes` are served as JSON: dates become ISO strings, ids hex strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if k != "_id"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    return value


class AuditRecord(TypedDict):
    """An audit event as the store hands it up, from a page or from the change feed: the
    fields `AuditLog.record` writes, so readers above the store are checked by mypy."""

    id: str
    namespace: str | None
    scopes: list[str | None]
    action: str
    object_type: str
    object_id: str
    actor: str
    token_id: str | None
    client_address: str | None
    user_agent: str | None
    # `{field: {from, to}}` and the like, made JSON-safe by `jsonable`; None when none.
    changes: Any
    at: datetime


def audit_record(record: Record) -> AuditRecord:
    """A record read from the audit collection, typed."""
    return cast(AuditRecord, record)


class AuditLog:
    collection_name = "audit_events"

    def __init__(self, database: Database) -> None:
        self.collection = database[self.collection_name]
        self.database = database

    async def record(
        self,
        session: Session | None,
        actor: Actor,
        action: AuditAction,
        object_type: str,
        object_id: str | ObjectId,
        namespace: str | None,
        changes: dict[str, Any] | None = None,
        scopes: list[str] | None = None,
    ) -> None:
        """Insert one event; `scopes` are the namespaces whose admins may read it."""
        await self.record_many(
            session, actor, action, object_type, [(object_id, namespace, changes)], scopes
        )

    async def record_many(
        self,
        session: Session | None,
        actor: Actor,
        action: AuditAction,
        object_type: str,
        events: Sequence[tuple[str | ObjectId, str | None, Mapping[str, Any] | None]],
        scopes: list[str] | None = None,
    ) -> None:
        """One event per `(object_id, namespace, changes)`, all in one insert command."""
        if not events:
            return
        documents = [
            to_stored(
                {
                    "namespace": namespace,
                    "scopes": scopes if scopes is not None else [namespace],
                    "action": action.value,
                    "object_type": object_type,
                    "object_id": str(object_id),
                    "actor": actor.name,
                    "token_id": actor.token_id,
                    "client_address": actor.client_address,
                    "user_agent": actor.user_agent,
                    "changes": jsonable(changes) if changes is not None else None,
                    "at": now(),
                }
            )
            for object_id, namespace, changes in events
        ]
        if len(documents) == 1:
            await self.collection.insert_one(documents[0], session=session)
        else:
            await self.collection.insert_many(documents, session=session)

    async def get_many(self, ids: list[str]) -> list[Record | None]:
        """Events in the order of `ids`, None where there is none (for DataLoaders)."""
        query = {"_id": {"$in": object_ids(ids)}}
        found = {str(d["_id"]): to_record(d) async for d in self.collection.find(query)}
        return [found.get(i) for i in ids]

    async def page(
        self, namespace: str | None, first: int, after: str | None = None, **filters: Any
    ) -> Page:
        """Newest first; `filters` as in `query`."""
        return await find_page(
            self.collection,
            self.query(namespace, **filters),
            NEWEST_FIRST,
            first,
            after,
            self.database.cursors,
        )

    async def count(self, namespace: str | None, **filters: Any) -> int:
        return await self.collection.count_documents(self.query(namespace, **filters))

    @staticmethod
    def query(
        namespace: str | None,
        *,
        actions: list[str] | None = None,
        object_types: list[str] | None = None,
        actors: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        # No namespace: the whole trail, tokens for all namespaces included (global admins).
        query: dict[str, Any] = {"scopes": namespace} if namespace is not None else {}
        if actions:
            query["action"] = {"$in": actions}
        if object_types:
            query["object_type"] = {"$in": object_types}
        if actors:
            query["actor"] = {"$in": actors}
        if since or until:
            query["at"] = {
                **({"$gte": since} if since else {}),
                **({"$lt": until} if until else {}),
            }
        return query
