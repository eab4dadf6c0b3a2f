"""The change feed on the real database: one stream, fanned out, never gapped, never stalled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pymongo.errors import PyMongoError

from modelbox.server.errors import DatabaseError, LiveUpdatesInterrupted, SubscriberTooSlow
from modelbox.server.store import Change, Store
from tests.restarts import kill_and_restart, own_database


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


async def test_a_new_subscriber_starts_now_not_where_the_last_one_left(store: Store) -> None:
    feed, db = store.changes, store.database
    async with feed.subscribe(frozenset({"a"}), everything) as first:
        await db["a"].insert_one({"n": 0})
        assert [c.document["n"] for c in await take(first, 1) if c.document] == [0]
    assert not feed.watching
    # Written while nobody listens: not news to whoever subscribes next.
    await db["a"].insert_many([{"n": n} for n in range(1, 4)])
    async with feed.subscribe(frozenset({"a"}), everything) as second:
        await db["a"].insert_one({"n": 4})
        assert [c.document["n"] for c in await take(second, 1) if c.document] == [4]


async def test_a_stalled_subscriber_of_large_changes_is_bounded_in_bytes(store: Store) -> None:
    feed, db = store.changes, store.database
    limit = 2 * 1024 * 1024
    blob = b"x" * (512 * 1024)
    async with (
        feed.subscribe(frozenset({"a"}), everything, queue_bytes=limit) as stalled,
        feed.subscribe(frozenset({"a"}), everything, queue_bytes=limit) as reader,
    ):
        for n in range(12):  # 6 MB in all, three times what a queue may hold
            await db["a"].insert_one({"n": n, "blob": blob})
            got = await take(reader, 1)
            assert got[0].document is not None and got[0].document["n"] == n
            # One copy of each change, however many queues hold it; never past the limit.
            assert feed.held_bytes <= limit
        assert stalled.queued_bytes <= limit
        kept = [c.document["n"] for c in await take(stalled, 3) if c.document]
        assert kept == [0, 1, 2]
        with pytest.raises(SubscriberTooSlow, match="subscriber_queue_bytes"):
            await take(stalled, 1)
        assert feed.subscriber_count == 1
    assert feed.held_bytes == 0


async def test_subscribers_are_told_when_the_database_restarted_and_newcomers_start_fresh(
    tmp_path: Path,
) -> None:
    async with own_database(tmp_path / "db") as database:
        store = Store(database.uri, "restarts")
        await store.open()
        try:
            feed, db = store.changes, store.database
            async with feed.subscribe(frozenset({"a"}), everything) as before:
                await db["a"].insert_one({"n": 0})
                assert [c.document["n"] for c in await take(before, 1) if c.document] == [0]
                await kill_and_restart(database)
                await retried(lambda: db["a"].insert_one({"n": 1}))
                # Its token cannot say what the restarted database renumbered: told, not fed.
                with pytest.raises(LiveUpdatesInterrupted, match="restarted"):
                    await take(before, 1)
            async with feed.subscribe(frozenset({"a"}), everything) as after:
                await db["a"].insert_one({"n": 2})
                assert [c.document["n"] for c in await take(after, 1) if c.document] == [2]
        finally:
            await store.close()


async def test_when_the_stream_cannot_be_reopened_its_subscribers_are_told(
    tmp_path: Path,
) -> None:
    async with own_database(tmp_path / "db") as database:
        store = Store(database.uri, "reopen")
        await store.open()
        try:
            feed = store.changes
            async with feed.subscribe(frozenset({"a"}), everything) as listening:
                await asyncio.to_thread(database.stop)
                # A subscriber of another collection makes the feed reopen, which fails.
                with pytest.raises(DatabaseError):
                    async with feed.subscribe(frozenset({"b"}), everything):
                        pass
                with pytest.raises(LiveUpdatesInterrupted):
                    await take(listening, 1)
            assert not feed.watching
        finally:
            await store.close()


async def retried(write: Callable[[], Awaitable[object]], attempts: int = 60) -> None:
    """A write retried while the database comes back."""
    for _ in range(attempts - 1):
        try:
            await write()
            return
        except PyMongoError:
            await asyncio.sleep(0.5)
    await write()
