"""The change feed on the real database: one stream, fanned out, never gapped, never stalled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from modelbox.server.config import Settings
from modelbox.server.errors import LiveUpdatesInterrupted, SubscriberTooSlow
from modelbox.server.store import Change, Store


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    assert settings.mongodb_uri is not None
    store = Store(settings.mongodb_uri, settings.database)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def everything(change: Change) -> bool:
    return True


async def take(changes: AsyncIterator[Change], n: int) -> list[Change]:
    async with asyncio.timeout(10):
        return [await anext(changes) for _ in range(n)]


async def test_each_subscriber_gets_what_it_asked_for_and_the_stream_closes_after(
    store: Store,
) -> None:
    feed, db = store.changes, store.database
    assert not feed.watching
    async with (
        feed.subscribe(frozenset({"a"}), everything) as a,
        feed.subscribe(
            frozenset({"b"}), lambda c: c.document is not None and c.document["n"] > 1
        ) as b,
    ):
        assert feed.watching and feed.subscriber_count == 2
        for n in range(3):
            await db["a"].insert_one({"n": n})
            await db["b"].insert_one({"n": n})
        await db["a"].update_one({"n": 0}, {"$set": {"n": 10}})
        await db["a"].delete_one({"n": 10})
        seen_a = await take(a, 5)
        assert [(c.collection, c.operation) for c in seen_a] == [("a", "insert")] * 3 + [
            ("a", "update"),
            ("a", "delete"),
        ]
        assert seen_a[4].document is None and seen_a[4].document_id == seen_a[0].document_id
        assert [c.document["n"] for c in await take(b, 1) if c.document] == [2]
    assert not feed.watching and feed.subscriber_count == 0


async def test_a_new_collection_widens_the_stream_without_gap_or_repeat(store: Store) -> None:
    feed, db = store.changes, store.database
    async with feed.subscribe(frozenset({"a"}), everything) as a:
        writing = True

        async def write() -> int:
            n = 0
            while writing:
                await db["a"].insert_one({"n": n})
                n += 1
            return n

        writer = asyncio.create_task(write())
        await asyncio.sleep(0.1)
        # Joining with another collection reopens the stream while "a" is being written.
        async with feed.subscribe(frozenset({"b"}), everything) as b:
            await asyncio.sleep(0.1)
            await db["b"].insert_one({"n": 0})
            writing = False
            written = await writer
            assert [c.document_id for c in await take(b, 1)]
        got = [c.document["n"] for c in await take(a, written) if c.document]
        assert got == list(range(written))


async def test_a_subscriber_that_falls_behind_is_dropped_and_the_others_carry_on(
    store: Store,
) -> None:
    feed, db = store.changes, store.database
    async with (
        feed.subscribe(frozenset({"a"}), everything, queue_size=3) as slow,
        feed.subscribe(frozenset({"a"}), everything, queue_size=3) as fast,
    ):
        for n in range(10):
            await db["a"].insert_one({"n": n})
            assert [c.document["n"] for c in await take(fast, 1) if c.document] == [n]
        # What was queued before it fell behind comes first, then the error: never a gap.
        assert [c.document["n"] for c in await take(slow, 3) if c.document] == [0, 1, 2]
        with pytest.raises(SubscriberTooSlow, match="subscriber_queue_size"):
            await take(slow, 1)
        assert feed.subscriber_count == 1


async def test_a_failing_filter_ends_only_its_own_subscription(store: Store) -> None:
    feed, db = store.changes, store.database

    def broken(change: Change) -> bool:
        raise KeyError("oops")

    async with (
        feed.subscribe(frozenset({"a"}), broken) as bad,
        feed.subscribe(frozenset({"a"}), everything) as good,
    ):
        await db["a"].insert_one({"n": 1})
        with pytest.raises(LiveUpdatesInterrupted):
            await take(bad, 1)
        await db["a"].insert_one({"n": 2})
        assert [c.document["n"] for c in await take(good, 2) if c.document] == [1, 2]
