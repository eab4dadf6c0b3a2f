"""`Subscription`: one subscriber's view of the feed, a queue bounded in changes and bytes.

The feed fills the queue without ever waiting; a subscriber whose queue is full is dropped
with `SubscriberTooSlow`, after what was queued. While the subscriber's reader waits with
nothing queued, a change may instead be handed on at once (`deliver`), without waking it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from modelbox.server.errors import LiveUpdatesInterrupted, ModelBoxError, SubscriberTooSlow
from modelbox.server.store.changes.change import Change

if TYPE_CHECKING:
    from modelbox.server.store.changes.feed import ChangeFeed

log = logging.getLogger(__name__)


class Subscription:
    """An async context manager, and inside it an async iterator of `Change`s."""

    def __init__(
        self,
        feed: ChangeFeed,
        collections: frozenset[str],
        match: Callable[[Change], bool],
        queue_size: int,
        queue_bytes: int,
    ) -> None:
        self.collections = collections
        self.match = match
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.queued_bytes = 0
        # Left: the feed, which may be handing out a change, offers it nothing more.
        self.closed = False
        self._feed = feed
        self._queue: deque[Change] = deque()
        self._ready = asyncio.Event()
        self._error: ModelBoxError | None = None
        # Set by the layers above: hands a change straight on (True: done with it) while
        # nothing is queued and the reader waits, instead of waking the reader for it.
        self.deliver: Callable[[Change], bool] | None = None
        self._waiting = False

    async def __aenter__(self) -> Subscription:
        await self._feed._add(self)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.closed = True
        await self._feed._remove(self)
        while self._queue:
            self._release(self._queue.popleft())

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Change:
        # What was queued before an error is still delivered; then the error ends it.
        while True:
            if self._queue:
                change = self._queue.popleft()
                self._release(change)
                return change
            if self._error is not None:
                raise self._error
            self._ready.clear()
            self._waiting = True
            try:
                await self._ready.wait()
            finally:
                self._waiting = False

    def _offer(self, change: Change) -> bool:
        """Queue `change` without waiting; False when the queue is full (the caller drops us).

        While the reader waits with nothing queued, everything before `change` has been
        handled, so `deliver` may hand it on at once, in order; when it cannot (e.g. the
        client's socket is full), the change is queued and the reader takes it from there.
        """
        if self.deliver is not None and self._waiting and not self._queue and not self._error:
            try:
                if self.deliver(change):
                    return True
            except Exception as error:
                log.exception("a subscriber's delivery failed on %s", change.collection)
                self._fail(LiveUpdatesInterrupted(f"this subscription failed: {error!r}"))
                return False
        if len(self._queue) >= self.queue_size:
            limit, unit, setting = self.queue_size, "changes", "subscriber_queue_size"
        elif self._queue and self.queued_bytes + change.size > self.queue_bytes:
            limit, unit, setting = self.queue_bytes, "bytes", "subscriber_queue_bytes"
        else:
            self._queue.append(change)
            self.queued_bytes += change.size
            if change.holders == 0:
                self._feed.held_bytes += change.size
            change.holders += 1
            self._ready.set()
            return True
        self._fail(
            SubscriberTooSlow(
                f"this subscription fell more than {limit} {unit} behind ({setting}) "
                "and was closed: subscribe again",
                limit=limit,
            )
        )
        return False

    def _release(self, change: Change) -> None:
        self.queued_bytes -= change.size
        change.holders -= 1
        if change.holders == 0:
            self._feed.held_bytes -= change.size

    def _fail(self, error: ModelBoxError) -> None:
        if self._error is None:
            self._error = error
        self._ready.set()
