"""The connection to MongoDB: one client per process, collections, transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from pymongo.monitoring import CommandListener

from modelbox.server.errors import Conflict
from modelbox.server.store.indexes import INDEXES, conflict_message

T = TypeVar("T")
Session = AsyncClientSession
Document = dict[str, Any]


class Database:
    """Owns the `AsyncMongoClient` and the collections; repositories build on it."""

    def __init__(
        self,
        uri: str,
        name: str,
        *,
        event_listeners: Sequence[CommandListener] = (),
        server_selection_timeout_ms: int = 5000,
    ) -> None:
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            event_listeners=list(event_listeners),
            serverSelectionTimeoutMS=server_selection_timeout_ms,
        )
        self.db: AsyncDatabase[Document] = self.client[name]

    def __getitem__(self, collection: str) -> AsyncCollection[Document]:
        return self.db[collection]

    async def ensure_indexes(self) -> None:
        """Create every collection's indexes; safe to run at each start-up."""
        existing = set(await self.db.list_collection_names())
        for collection, specs in INDEXES.items():
            if collection not in existing:
                await self.db.create_collection(collection, check_exists=False)
            for spec in specs:
                await self.db[collection].create_index(spec.keys, name=spec.name, **spec.options)

    async def ping(self, timeout: float = 2.0) -> None:
        await asyncio.wait_for(self.client.admin.command("ping"), timeout)

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """Run `work` in a multi-document transaction, retried on transient errors.

        A unique-index violation anywhere inside aborts the whole transaction and
        surfaces as a `Conflict` that says which name was taken.
        """
        try:
            async with self.client.start_session() as session:
                return await session.with_transaction(work)
        except DuplicateKeyError as error:
            raise Conflict(conflict_message(error)) from None

    async def close(self) -> None:
        await self.client.close()


__all__ = ["Database", "Document", "Session"]
