"""Namespaces: created on first use by the model or experiment that names them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from modelbox.server.access import Actor
from modelbox.server.store.audit import AuditAction
from modelbox.server.store.database import Session
from modelbox.server.store.paging import Page, SortKey, find_page
from modelbox.server.store.records import now
from modelbox.server.store.repository import Repository

BY_NAME = SortKey("name")
T = TypeVar("T")


class NamespaceRecord(TypedDict):
    """A namespace as the store hands it up: known by its name, which others refer to."""

    id: str
    name: str
    created_at: datetime


class Namespaces(Repository[NamespaceRecord]):
    collection_name = "namespaces"
    object_type = "Namespace"

    async def ensure(self, session: Session, actor: Actor, name: str) -> None:
        """Create `name` if it does not exist yet, inside the caller's transaction."""
        result = await self.collection.update_one(
            {"name": name},
            {"$setOnInsert": {"name": name, "created_at": now()}},
            upsert=True,
            session=session,
        )
        if result.upserted_id is not None:
            created = {"_id": result.upserted_id, "namespace": name}
            await self._audit(session, actor, AuditAction.CREATED, created, {"name": name})

    async def creating(
        self, actor: Actor, name: str, insert: Callable[[Session], Awaitable[T]]
    ) -> T:
        """Run `insert` (of an object in namespace `name`) in a transaction that creates the
        namespace, audited, if it is new."""

        async def work(session: Session) -> T:
            await self.ensure(session, actor, name)
            return await insert(session)

        return await self.database.transaction(work)

    async def get_by_names(self, names: list[str]) -> list[NamespaceRecord | None]:
        found = {
            doc["name"]: self._record(doc)
            async for doc in self.collection.find({"name": {"$in": names}})
        }
        return [found.get(name) for name in names]

    async def visible_page(
        self, first: int, after: str | None = None, only: frozenset[str] | None = None
    ) -> Page:
        """Namespaces by name; `only` restricts the list to those a caller may see."""
        return await find_page(
            self.collection, self._visible(only), BY_NAME, first, after, self.database.cursors
        )

    async def names(self, limit: int) -> list[str]:
        """The names of at most `limit` namespaces."""
        found = self.collection.find({}, {"_id": 0, "name": 1}, limit=limit)
        return [document["name"] async for document in found]

    async def count(self, only: frozenset[str] | None = None) -> int:
        return await self.collection.count_documents(self._visible(only))

    @staticmethod
    def _visible(only: frozenset[str] | None) -> dict[str, Any]:
        return {"name": {"$in": sorted(only)}} if only is not None else {}
