"""What every entity collection shares: batched reads, and writes that audit themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar, cast

from bson import ObjectId

from modelbox.server.access import Actor
from modelbox.server.errors import NotFound
from modelbox.server.store.audit import AuditAction, AuditLog
from modelbox.server.store.database import Database, Session, update_by_id
from modelbox.server.store.keys import from_stored, to_stored
from modelbox.server.store.paging import (
    NEWEST_FIRST,
    Page,
    SortKey,
    count_by_parent,
    find_page,
    find_pages_by_parent,
)
from modelbox.server.store.records import now, object_id, object_ids, to_record


def changed_fields(before: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`{field: {from, to}}` for the fields a write really changes."""
    return {
        key: {"from": before.get(key), "to": value}
        for key, value in changes.items()
        if before.get(key) != value
    }


# The record type a repository hands up (a TypedDict of its domain, or plain `Record`).
R = TypeVar("R", bound=Mapping[str, Any])

# Called with the ids of deleted objects, inside the transaction that deletes them.
DeleteHook = Callable[[Session, Actor, list[ObjectId]], Awaitable[None]]


def _parent_value(field: str, value: str) -> Any:
    # References to other documents are ObjectIds; namespaces are referenced by name.
    return object_id(value) if field.endswith("_id") else value


class Repository(Generic[R]):
    collection_name: str
    object_type: str
    # The stable order of this collection's lists; its field must be unique per parent.
    sort: SortKey = NEWEST_FIRST
    # Objects others are created under (checkpoints, artifacts, metrics, events): each create
    # holds its parent's guard, and a delete seals it (store/guards.py).
    parent: bool = False

    def __init__(self, database: Database, audit: AuditLog) -> None:
        self.database = database
        self.audit = audit
        self.collection = database[self.collection_name]
        # Data hanging off these objects (metric points…), deleted in the same transaction;
        # each hook gets the actor, so what is audited stays audited when it goes in a cascade.
        self.on_delete: list[DeleteHook] = []
        if self.parent:
            database.guards.register(self.object_type, self.collection)

    def _record(self, document: dict[str, Any]) -> R:
        """A stored document as this repository's record type."""
        return cast(R, to_record(document))

    async def get_many(self, ids: list[str]) -> list[R | None]:
        """Records in the order of `ids`, None where there is none (for DataLoaders).

        The limit lets the server answer in one batch, with no getMore round trip.
        """
        found = {
            str(doc["_id"]): self._record(doc)
            async for doc in self.collection.find({"_id": {"$in": object_ids(ids)}}).limit(len(ids))
        }
        return [found.get(i) for i in ids]

    async def get_by(self, fields: tuple[str, ...], keys: list[tuple[Any, ...]]) -> list[R | None]:
        """Records by a unique combination of fields, in the order of `keys`."""
        if not keys:
            return []
        stored = [
            tuple(_parent_value(f, v) for f, v in zip(fields, key, strict=True)) for key in keys
        ]
        query = {"$or": [dict(zip(fields, key, strict=True)) for key in stored]}
        found = {
            tuple(doc[f] for f in fields): self._record(doc)
            async for doc in self.collection.find(query).limit(len(keys))
        }
        return [found.get(key) for key in stored]

    async def get(self, id: str) -> R | None:
        oid = object_id(id)
        doc = await self.collection.find_one({"_id": oid}) if oid else None
        return self._record(doc) if doc else None

    async def page(
        self, parent_field: str, parent: str, first: int, after: str | None, query: dict[str, Any]
    ) -> Page:
        """One page of the children of `parent` (a namespace name or a document id)."""
        scoped = {**query, parent_field: _parent_value(parent_field, parent)}
        return await find_page(
            self.collection, scoped, self.sort, first, after, self.database.cursors
        )

    async def first_pages(
        self, parent_field: str, parents: list[str], first: int, query: dict[str, Any]
    ) -> list[Page]:
        """The first page of each parent's children, in one round trip."""
        values = [_parent_value(parent_field, p) for p in parents]
        pages = await find_pages_by_parent(
            self.collection, parent_field, values, query, self.sort, first, self.database.cursors
        )
        return [pages[v] for v in values]

    async def counts(
        self, parent_field: str, parents: list[str], query: dict[str, Any]
    ) -> list[int]:
        values = [_parent_value(parent_field, p) for p in parents]
        counts = await count_by_parent(self.collection, parent_field, values, query)
        return [counts[v] for v in values]

    async def _audit(
        self,
        session: Session | None,
        actor: Actor,
        action: AuditAction,
        document: Mapping[str, Any],
        changes: dict[str, Any] | None,
        *,
        scopes: list[str] | None = None,
    ) -> None:
        """Record `action` on one of this repository's documents (stored, `_id`, or a record,
        `id`) in the audit trail, in the write's session; its namespace scopes the event."""
        object_id = document["_id"] if "_id" in document else document["id"]
        namespace = document.get("namespace")
        await self.audit.record(
            session, actor, action, self.object_type, object_id, namespace, changes, scopes=scopes
        )

    async def _insert(
        self,
        session: Session,
        actor: Actor,
        document: dict[str, Any],
        *,
        scopes: list[str] | None = None,
        unaudited: frozenset[str] = frozenset(),
    ) -> R:
        """Insert and audit it; `unaudited` fields (secrets) stay out of the audit trail."""
        stamp = now()
        document = {**document, "created_at": stamp, "updated_at": stamp}
        stored = to_stored(document)
        await self.collection.insert_one(stored, session=session)
        skipped = {"created_at", "updated_at", *unaudited}
        fields = {k: v for k, v in document.items() if k not in skipped}
        await self._audit(session, actor, AuditAction.CREATED, stored, fields, scopes=scopes)
        return self._record(stored)

    async def _create_under(
        self, actor: Actor, parent_type: str, parent_id: str, document: dict[str, Any]
    ) -> R:
        """Insert and audit a child, in a transaction holding its parent: NOT_FOUND when the
        parent is gone, and a conflict (retried) when it is being deleted meanwhile."""

        async def work(session: Session) -> R:
            await self.database.guards.hold(session, parent_type, parent_id)
            return await self._insert(session, actor, document)

        return await self.database.transaction(work)

    async def _update(
        self,
        session: Session,
        actor: Actor,
        id: str,
        changes: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> R:
        """Set `changes` on one document and audit what really changed.

        `extra` holds further update operators ($inc, $pull…) that are not audited as fields.
        """
        by_id = {"_id": object_id(id)}
        update = {"$set": {**to_stored(changes), "updated_at": now()}, **(extra or {})}
        before = await update_by_id(self.collection, session, by_id, update)
        if before is None:
            raise NotFound(f"{self.object_type} {id} does not exist")
        diff = changed_fields(from_stored(before), changes)
        if diff:
            await self._audit(session, actor, AuditAction.UPDATED, before, diff)
        after = await self.collection.find_one(by_id, session=session)
        assert after is not None
        return self._record(after)

    async def delete(self, actor: Actor, id: str) -> R:
        """Delete one object and, through `on_delete`, all that hangs off it, in one transaction."""
        return await self.database.transaction(lambda s: self._delete(s, actor, id))

    def children_of(self, parent_field: str) -> DeleteHook:
        """An `on_delete` hook for a parent repository: its children here go with it, audited."""

        async def cascade(session: Session, actor: Actor, parent_ids: list[ObjectId]) -> None:
            await self._delete_where(session, actor, {parent_field: {"$in": parent_ids}})

        return cascade

    async def _delete(
        self, session: Session, actor: Actor, id: str, changes: dict[str, Any] | None = None
    ) -> R:
        # A read and a delete by `_id`, not findAndModify (see `update_by_id`).
        by_id = {"_id": object_id(id)}
        doc = await self.collection.find_one(by_id, session=session)
        if doc is None:
            raise NotFound(f"{self.object_type} {id} does not exist")
        await self.collection.delete_one(by_id, session=session)
        if self.parent:
            await self.database.guards.seal(session, [doc["_id"]])
        for cascade in self.on_delete:
            await cascade(session, actor, [doc["_id"]])
        changes = {"name": doc.get("name"), **(changes or {})}
        await self._audit(session, actor, AuditAction.DELETED, doc, changes)
        return self._record(doc)

    async def _delete_where(
        self, session: Session, actor: Actor, query: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Delete dependants (a model's versions…), one audit event each."""
        docs = await self.collection.find(query, session=session).to_list()
        if docs:
            await self.collection.delete_many(
                {"_id": {"$in": [d["_id"] for d in docs]}}, session=session
            )
            if self.parent:
                await self.database.guards.seal(session, [d["_id"] for d in docs])
            for cascade in self.on_delete:
                await cascade(session, actor, [d["_id"] for d in docs])
            events = [(d["_id"], d.get("namespace"), {"cascade": True}) for d in docs]
            await self.audit.record_many(
                session, actor, AuditAction.DELETED, self.object_type, events
            )
        return docs

    async def _append_where(
        self, session: Session, actor: Actor, ids: list[ObjectId], field: str, item: Any
    ) -> None:
        """Append `item` to a list field of many documents, audited per document as `_update`
        would, in three commands whatever their number."""
        query = {"_id": {"$in": ids}}
        projection = {field: 1, "namespace": 1}
        befores = await self.collection.find(query, projection, session=session).to_list()
        await self.collection.update_many(
            query, {"$push": {field: item}, "$set": {"updated_at": now()}}, session=session
        )
        events = [
            (
                d["_id"],
                d.get("namespace"),
                {field: {"from": d.get(field, []), "to": [*d.get(field, []), item]}},
            )
            for d in befores
        ]
        await self.audit.record_many(session, actor, AuditAction.UPDATED, self.object_type, events)
