"""The connection to MongoDB: one client per process, collections, transactions."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.monitoring import CommandListener, ConnectionPoolListener

from modelbox.server.errors import Conflict
from modelbox.server.store.cursors import SECRETS_COLLECTION, Cursors, load_secret
from modelbox.server.store.faults import unavailable
from modelbox.server.store.guards import COLLECTION as GUARDS
from modelbox.server.store.guards import Guards
from modelbox.server.store.indexes import INDEXES, conflict_message

log = logging.getLogger(__name__)

T = TypeVar("T")
Session = AsyncClientSession
Document = dict[str, Any]

# Transactions that conflict with others (the same summary, a parent being deleted) are
# retried with jittered backoff for this long; an unreachable database is not waited for
# here (server selection already waited), the client hears DATABASE_UNAVAILABLE.
RETRY_SECONDS = 30.0
BACKOFF_FIRST, BACKOFF_MOST = 0.005, 0.5
TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"


class Database:
    """Owns the `AsyncMongoClient` and the collections; repositories build on it."""

    def __init__(
        self,
        uri: str,
        name: str,
        *,
        event_listeners: Sequence[CommandListener | ConnectionPoolListener] = (),
        server_selection_timeout_ms: int = 5000,
    ) -> None:
        # An acknowledged write is on disk on a majority of the replica set: it survives a
        # crash of the database (and, on a replica set, the loss of the primary). A URI's
        # own `w`/`journal` options are overridden: the promise is ModelBox's, not the URI's.
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            event_listeners=list(event_listeners),
            serverSelectionTimeoutMS=server_selection_timeout_ms,
            w="majority",
            journal=True,
        )
        self.db: AsyncDatabase[Document] = self.client[name]
        # What makes a create under a parent conflict with the parent's delete.
        self.guards = Guards(self.db[GUARDS])
        # Signs page cursors; `open_cursors` puts the key every process shares in place.
        self.cursors = Cursors(secrets.token_bytes(32))

    async def open_cursors(self, configured_secret: str | None) -> None:
        self.cursors = Cursors(await load_secret(self.db[SECRETS_COLLECTION], configured_secret))

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

    async def transaction(
        self, work: Callable[[Session], Awaitable[T]], *, duplicates: bool = True
    ) -> T:
        """Run `work` in a multi-document transaction, retried on transient errors.

        The one place transactions are retried: a write conflict (two writers of one
        document, a create racing its parent's delete) runs `work` again, after a jittered
        backoff, until it commits or RETRY_SECONDS pass. A unique-index violation anywhere
        inside aborts the whole transaction and surfaces as a `Conflict` that says which
        name was taken (`duplicates=False` lets the caller read the DuplicateKeyError).
        """
        try:
            async with self.client.start_session() as session:
                return await self._retried(session, work)
        except DuplicateKeyError as error:
            if not duplicates:
                raise
            raise Conflict(conflict_message(error)) from None

    async def _retried(self, session: Session, work: Callable[[Session], Awaitable[T]]) -> T:
        deadline = time.monotonic() + RETRY_SECONDS
        attempt, unreachable = 0, 0
        while True:
            await session.start_transaction()
            try:
                result = await work(session)
                await _commit(session, deadline)
                return result
            except PyMongoError as error:
                if session.in_transaction:
                    await _abort(session)
                # A connection that broke (a database restarted since it was pooled) is
                # given one more try on a fresh one; an unreachable database is not waited for.
                unreachable += unavailable(error)
                retry = error.has_error_label(TRANSIENT) and unreachable <= 1
                if not retry or time.monotonic() > deadline:
                    raise
            except BaseException:
                # Cancelled, or refused by `work` itself (NotFound, BadUserInput...).
                if session.in_transaction:
                    await asyncio.shield(_abort(session))
                raise
            attempt += 1
            await asyncio.sleep(random.random() * min(BACKOFF_FIRST * 2**attempt, BACKOFF_MOST))

    async def close(self) -> None:
        await self.client.close()


async def _commit(session: Session, deadline: float) -> None:
    """Commit; a commit whose outcome the network lost is asked again (that is idempotent)."""
    while True:
        try:
            await session.commit_transaction()
            return
        except PyMongoError as error:
            again = error.has_error_label(UNKNOWN_COMMIT) and not unavailable(error)
            if not again or time.monotonic() > deadline:
                raise


async def _abort(session: Session) -> None:
    try:
        await session.abort_transaction()
    except PyMongoError:
        # The server aborts a transaction it cannot finish; nothing is left to undo.
        log.debug("abort after a failed transaction failed too", exc_info=True)


async def update_by_id(
    collection: AsyncCollection[Document],
    session: Session,
    by_id: Document,
    update: Document,
    *,
    upsert: bool = False,
) -> Document | None:
    """findAndModify (returning the document before) as a read and an update by `_id` in the
    caller's transaction, which makes them one step: SecantusDB answers findAndModify with a
    scan of the whole collection (its write filter re-asserts the query under `$and`, which
    no index path takes). None, and nothing written unless `upsert`, when there is none."""
    before = await collection.find_one(by_id, session=session)
    if before is not None or upsert:
        await collection.update_one(by_id, update, upsert=upsert, session=session)
    return before


__all__ = ["Database", "Document", "Session", "update_by_id"]
