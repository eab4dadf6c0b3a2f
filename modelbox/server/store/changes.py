"""Live changes: one MongoDB change stream per process, fanned out to every subscriber.

The stream is opened when the first subscriber arrives and closed when the last one
leaves; it watches only the collections some subscriber asked for. Each subscriber has
a bounded queue that the stream fills without ever waiting, so one slow subscriber
never holds up the others: when its queue is full it is dropped with
`SubscriberTooSlow`. When the stream breaks it is resumed from its resume token; when
that fails too, every subscriber gets `LiveUpdatesInterrupted` instead of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import PyMongoError

from modelbox.server.errors import LiveUpdatesInterrupted, ModelBoxError, SubscriberTooSlow
from modelbox.server.store.database import Database
from modelbox.server.store.records import Record, to_record

log = logging.getLogger(__name__)

OPERATIONS = ("insert", "update", "replace", "delete")
DEFAULT_QUEUE_SIZE = 1000
# Waits between attempts to resume a broken stream; then subscribers are told it is lost.
RESUME_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Change:
    """One write, as the change stream reported it."""

    collection: str
    operation: str  # insert, update, replace or delete
    document_id: str
    # The whole document after the change; None for a delete, and for an update whose
    # document was deleted before the stream looked it up.
    document: Record | None
    at: datetime
    # The top-level fields an update set or removed (empty for other operations).
    updated: frozenset[str] = frozenset()

    @staticmethod
    def of(event: Mapping[str, Any]) -> Change:
        full = event.get("fullDocument")
        return Change(
            collection=event["ns"]["coll"],
            operation=event["operationType"],
            document_id=str(event["documentKey"]["_id"]),
            document=to_record(full) if full is not None else None,
            at=event.get("wallTime") or datetime.now(UTC),
            updated=frozenset(
                path.split(".", 1)[0]
                for part in ("updatedFields", "removedFields")
                for path in (event.get("updateDescription") or {}).get(part, ())
            ),
        )


class StreamInvalidated(Exception):
    """The change stream ended for good on the server's side (e.g. its database was dropped)."""


class Subscription:
    """An async context manager, and inside it an async iterator of `Change`s."""

    def __init__(
        self,
        feed: ChangeFeed,
        collections: frozenset[str],
        match: Callable[[Change], bool],
        queue_size: int,
    ) -> None:
        self.collections = collections
        self.match = match
        self.queue_size = queue_size
        self._feed = feed
        self._queue: deque[Change] = deque()
        self._ready = asyncio.Event()
        self._error: ModelBoxError | None = None

    async def __aenter__(self) -> Subscription:
        await self._feed._add(self)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._feed._remove(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Change:
        # What was queued before an error is still delivered; then the error ends it.
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._error is not None:
                raise self._error
            self._ready.clear()
            await self._ready.wait()

    def _offer(self, change: Change) -> bool:
        """Queue `change` without waiting; False when the queue is full (the caller drops us)."""
        if len(self._queue) >= self.queue_size:
            self._fail(
                SubscriberTooSlow(
                    f"this subscription fell more than {self.queue_size} changes behind "
                    "(subscriber_queue_size) and was closed: subscribe again",
                    limit=self.queue_size,
                )
            )
            return False
        self._queue.append(change)
        self._ready.set()
        return True

    def _fail(self, error: ModelBoxError) -> None:
        if self._error is None:
            self._error = error
        self._ready.set()


class ChangeFeed:
    """The process's single change stream over the database, shared by all subscribers."""

    def __init__(self, database: Database, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._database = database
        self.queue_size = queue_size
        self._subscribers: list[Subscription] = []
        self._collections: frozenset[str] = frozenset()
        self._stream: AsyncChangeStream[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._token: Mapping[str, Any] | None = None
        self._lock = asyncio.Lock()

    def subscribe(
        self,
        collections: frozenset[str],
        match: Callable[[Change], bool],
        queue_size: int | None = None,
    ) -> Subscription:
        """Changes to `collections` that `match` accepts, from the moment this is entered on."""
        return Subscription(self, frozenset(collections), match, queue_size or self.queue_size)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def watching(self) -> bool:
        """Whether the change stream is open (it is while anyone subscribes)."""
        return self._task is not None

    async def close(self) -> None:
        async with self._lock:
            for subscription in self._subscribers:
                subscription._fail(LiveUpdatesInterrupted("the server is shutting down"))
            self._subscribers.clear()
            await self._stop()

    async def _add(self, subscription: Subscription) -> None:
        async with self._lock:
            wanted = self._collections | subscription.collections
            if self._task is None or wanted != self._collections:
                # Opened before `subscribe` returns, so nothing written after it is missed.
                await self._stop()
                self._collections = wanted
                self._stream = await self._open()
                self._task = asyncio.create_task(self._run(), name="modelbox-change-feed")
            self._subscribers.append(subscription)

    async def _remove(self, subscription: Subscription) -> None:
        async with self._lock:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscription)
            if not self._subscribers:
                await self._stop()
                self._collections = frozenset()

    async def _open(self) -> AsyncChangeStream[Any]:
        watched = {
            "ns.coll": {"$in": sorted(self._collections)},
            "operationType": {"$in": list(OPERATIONS)},
        }
        # `invalidate` is let through explicitly: some servers drop it with a filter.
        pipeline = [{"$match": {"$or": [watched, {"operationType": "invalidate"}]}}]
        stream = await self._database.db.watch(
            pipeline, full_document="updateLookup", resume_after=self._token
        )
        self._token = stream.resume_token or self._token
        return stream

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_stream()

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            self._token = stream.resume_token or self._token
            with contextlib.suppress(PyMongoError):
                await stream.close()

    async def _run(self) -> None:
        try:
            await self._follow()
        except Exception as error:
            # Whatever breaks here, no subscriber is left waiting in silence.
            await self._lose(error)

    async def _follow(self) -> None:
        failures = 0
        while True:
            try:
                if self._stream is None:
                    self._stream = await self._open()
                event = await self._stream.next()
            except (PyMongoError, StopAsyncIteration) as error:
                if failures == len(RESUME_DELAYS):
                    await self._lose(error)
                    return
                log.warning("change stream broke (%r); resuming", error)
                await self._close_stream()
                await asyncio.sleep(RESUME_DELAYS[failures])
                failures += 1
                continue
            if event["operationType"] == "invalidate":
                # The database was dropped or renamed: no token resumes this stream.
                await self._lose(StreamInvalidated(event["operationType"]))
                return
            failures = 0
            self._token = self._stream.resume_token
            self._dispatch(Change.of(event))

    def _dispatch(self, change: Change) -> None:
        """Hand `change` to every subscriber that wants it, never waiting for any."""
        dropped: list[Subscription] = []
        for subscription in self._subscribers:
            if change.collection not in subscription.collections:
                continue
            try:
                wanted = subscription.match(change)
            except Exception as error:
                # A broken filter ends its own subscription, not the others'.
                log.exception("a subscriber's filter failed on %s", change.collection)
                subscription._fail(LiveUpdatesInterrupted(f"this subscription failed: {error!r}"))
                dropped.append(subscription)
                continue
            if wanted and not subscription._offer(change):
                dropped.append(subscription)
        for subscription in dropped:
            self._subscribers.remove(subscription)

    async def _lose(self, error: BaseException) -> None:
        """The stream cannot be resumed: every subscriber is told, none is left waiting."""
        log.error("change stream lost: %r", error)
        await self._close_stream()
        lost = LiveUpdatesInterrupted(
            "live updates were interrupted: the database's change stream could not be "
            "resumed; subscribe again"
        )
        for subscription in self._subscribers:
            subscription._fail(lost)
        self._subscribers.clear()
        self._task, self._token = None, None
        self._collections = frozenset()
