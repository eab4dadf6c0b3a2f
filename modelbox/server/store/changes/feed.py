"""`ChangeFeed`: the process's one MongoDB change stream, fanned out to every subscriber.

The stream is opened when the first subscriber arrives, from that moment (never from an
old resume token), and closed when the last one leaves; it watches only the collections
some subscriber asked for. Each change is handed to every subscriber that wants it
without waiting for any (see subscription.py), so one slow subscriber never holds up the
others. Every change is one object shared by all the queues it is in, and `held_bytes`
counts each once.

A broken stream is resumed from its resume token only while the database is the same
process it was opened on (its `topologyVersion.processId`): a token does not replay what
a restarted server lost or renumbered, just as MongoDB cannot resume once its oplog
rolled past the token. Otherwise, and when resuming or reopening fails, every subscriber
gets `LiveUpdatesInterrupted` instead of silence, after what was queued before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import PyMongoError
from pymongo.monitoring import ConnectionPoolListener, PoolClearedEvent

from modelbox.server.errors import LiveUpdatesInterrupted, ModelBoxError
from modelbox.server.store.changes.change import Change
from modelbox.server.store.changes.subscription import Subscription
from modelbox.server.store.database import Database
from modelbox.server.store.faults import translated

log = logging.getLogger(__name__)

OPERATIONS = ("insert", "update", "replace", "delete")
DEFAULT_QUEUE_SIZE = 1000
DEFAULT_QUEUE_BYTES = 32 * 1024 * 1024
# Waits between attempts to resume a broken stream; then subscribers are told it is lost.
RESUME_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
# Subscribers handed a change between two turns given back to the event loop: a change for
# many subscribers must not hold up the requests being served meanwhile.
WAKE_PER_TURN = 8
# How long one read of the stream waits for changes: how soon a lost connection is checked.
MAX_AWAIT_MS = 500
# Events arrive as raw BSON, so that their size is known without encoding them again.
RAW = CodecOptions(document_class=RawBSONDocument)
DECODED: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


class StreamInvalidated(Exception):
    """The change stream ended for good on the server's side (e.g. its database was dropped)."""


class ServerRestarted(Exception):
    """The database is another process than the stream was opened on: no token resumes it."""


class ConnectionLoss(ConnectionPoolListener):
    """Notes every cleared connection pool (a network error, a restarted server).

    The driver resumes a change stream by itself after such an error, so this is how the
    feed learns that it should check whether the server it resumed on is the same one.
    """

    def __init__(self) -> None:
        self.seen = False
        # Every clearing counted, for those who check now and then (store/search_index.py).
        self.clears = 0

    def pool_cleared(self, event: PoolClearedEvent) -> None:
        self.seen = True
        self.clears += 1

    def pool_created(self, event: Any) -> None: ...
    def pool_ready(self, event: Any) -> None: ...
    def pool_closed(self, event: Any) -> None: ...
    def connection_created(self, event: Any) -> None: ...
    def connection_ready(self, event: Any) -> None: ...
    def connection_closed(self, event: Any) -> None: ...
    def connection_check_out_started(self, event: Any) -> None: ...
    def connection_check_out_failed(self, event: Any) -> None: ...
    def connection_checked_out(self, event: Any) -> None: ...
    def connection_checked_in(self, event: Any) -> None: ...


class ChangeFeed:
    """The process's single change stream over the database, shared by all subscribers."""

    def __init__(
        self,
        database: Database,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        connection_loss: ConnectionLoss | None = None,
    ) -> None:
        self._database = database
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        # Bytes of the changes waiting in any subscriber's queue, each change counted once.
        self.held_bytes = 0
        self._connection_loss = connection_loss or ConnectionLoss()
        self._subscribers: list[Subscription] = []
        self._collections: frozenset[str] = frozenset()
        self._stream: AsyncChangeStream[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._dispatching: asyncio.Future[None] | None = None
        self._token: Mapping[str, Any] | None = None
        # The database process the stream (and its token) belongs to.
        self._server: object = None
        self._lock = asyncio.Lock()

    def subscribe(
        self,
        collections: frozenset[str],
        match: Callable[[Change], bool],
        queue_size: int | None = None,
        queue_bytes: int | None = None,
    ) -> Subscription:
        """Changes to `collections` that `match` accepts, from the moment this is entered on."""
        return Subscription(
            self,
            frozenset(collections),
            match,
            queue_size or self.queue_size,
            queue_bytes or self.queue_bytes,
        )

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def watching(self) -> bool:
        """Whether the change stream is open (it is while anyone subscribes)."""
        return self._task is not None

    async def close(self) -> None:
        async with self._lock:
            self._tell_all(LiveUpdatesInterrupted("the server is shutting down"))
            await self._stop()

    async def _add(self, subscription: Subscription) -> None:
        async with self._lock:
            wanted = self._collections | subscription.collections
            if self._task is None or wanted != self._collections:
                # Opened before `subscribe` returns, so nothing written after it is missed.
                await self._stop()
                self._collections = wanted
                try:
                    self._stream = await self._open()
                except (PyMongoError, ServerRestarted) as error:
                    # Those already listening cannot be resumed: they are told, and the
                    # newcomer gets a stream from now if the database lets it have one.
                    await self._lose(error)
                    self._collections = subscription.collections
                    try:
                        self._stream = await self._open()
                    except PyMongoError as again:
                        self._collections = frozenset()
                        raise translated(again) from again
                self._task = asyncio.create_task(self._run(), name="modelbox-change-feed")
            self._subscribers.append(subscription)

    async def _remove(self, subscription: Subscription) -> None:
        async with self._lock:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscription)
            if not self._subscribers:
                await self._stop()
                # The next subscriber starts from its own moment, not from this token.
                self._collections, self._token = frozenset(), None

    async def _server_process(self) -> object:
        """The identity of the database process now answering (None if it gives none)."""
        hello = await self._database.client.admin.command("hello")
        return hello.get("topologyVersion", {}).get("processId")

    async def _open(self) -> AsyncChangeStream[Any]:
        """The stream from the resume token if there is one, else from now."""
        self._connection_loss.seen = False
        server = await self._server_process()
        if self._token is not None and (server is None or server != self._server):
            raise ServerRestarted(f"the database process changed from {self._server} to {server}")
        self._server = server
        watched = {
            "ns.coll": {"$in": sorted(self._collections)},
            "operationType": {"$in": list(OPERATIONS)},
        }
        # `invalidate` is let through explicitly: some servers drop it with a filter.
        pipeline = [{"$match": {"$or": [watched, {"operationType": "invalidate"}]}}]
        raw = self._database.db.with_options(codec_options=RAW)
        stream = await raw.watch(
            pipeline,
            full_document="updateLookup",
            resume_after=self._token,
            max_await_time_ms=MAX_AWAIT_MS,
        )
        self._token = stream.resume_token or self._token
        return stream

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        dispatching, self._dispatching = self._dispatching, None
        if dispatching is not None:
            await dispatching
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

    async def _same_server(self) -> bool:
        """After a lost connection: whether the stream resumed on the process it began on."""
        self._connection_loss.seen = False
        try:
            server = await self._server_process()
        except PyMongoError:
            return False
        return server is not None and server == self._server

    async def _follow(self) -> None:
        failures = 0
        while True:
            try:
                if self._stream is None:
                    self._stream = await self._open()
                raw = await self._stream.try_next()
            except (PyMongoError, StopAsyncIteration) as error:
                if failures == len(RESUME_DELAYS):
                    await self._lose(error)
                    return
                log.warning("change stream broke (%r); resuming", error)
                await self._close_stream()
                await asyncio.sleep(RESUME_DELAYS[failures])
                failures += 1
                continue
            except ServerRestarted as error:
                await self._lose(error)
                return
            if self._connection_loss.seen and not await self._same_server():
                # The driver resumed by itself on a restarted database: what it hands
                # out now (or does not: skipped writes) cannot be trusted.
                await self._lose(ServerRestarted("the database restarted"))
                return
            if raw is None:
                continue  # nothing for a while: the loss check above runs at least that often
            event = bson.decode(raw.raw, DECODED)
            if event["operationType"] == "invalidate":
                # The database was dropped or renamed: no token resumes this stream.
                await self._lose(StreamInvalidated(event["operationType"]))
                return
            failures = 0
            self._token = self._stream.resume_token
            # Shielded: a change being handed out reaches every subscriber, even if the
            # stream is stopped meanwhile to be reopened (`_stop` waits for it).
            self._dispatching = asyncio.ensure_future(
                self._dispatch(Change.of(event, len(raw.raw)))
            )
            await asyncio.shield(self._dispatching)

    async def _dispatch(self, change: Change) -> None:
        """Hand `change` to every subscriber that wants it, never waiting for any.

        Subscribers are woken a few at a time, with a turn of the event loop between: the
        requests being served (the writes themselves) keep moving while many subscribers
        have something to send, instead of waiting behind all of them.
        """
        dropped: list[Subscription] = []
        woken = 0
        for subscription in list(self._subscribers):
            if change.collection not in subscription.collections or subscription.closed:
                continue
            if woken == WAKE_PER_TURN:
                await asyncio.sleep(0)
                woken = 0
                if subscription.closed:
                    continue
            woken += 1
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
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscription)

    def _tell_all(self, error: ModelBoxError) -> None:
        for subscription in self._subscribers:
            subscription._fail(error)
        self._subscribers.clear()

    async def _lose(self, error: BaseException) -> None:
        """The stream cannot go on exactly: every subscriber is told, none is left waiting."""
        log.error("change stream lost: %r", error)
        reason = (
            "the database restarted"
            if isinstance(error, ServerRestarted)
            else "the database's change stream could not be resumed"
        )
        # Told before anything is awaited, so that not even a cancellation leaves one out.
        self._tell_all(
            LiveUpdatesInterrupted(f"live updates were interrupted: {reason}; subscribe again")
        )
        self._token, self._collections = None, frozenset()
        await self._stop()
        self._token = None
