"""`metricsLogged`: a series' stored points from a step on, then live ones, no gap, no repeat.

Live points are the insert events of metric buckets: a request's points go into new
buckets, so each event carries exactly the points one request added (compaction's merged
buckets are skipped: their points were sent when first logged). With `fromStep` the subscription is
registered with the change feed first and history is read after; the buckets that history
came from are remembered and their insert events, caught meanwhile, are skipped. A bucket
written before the subscription is only in history, one written after history was read is
only in the feed, and one written in between is in both and sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.live import watch
from modelbox.server.resolvers.metrics import subject
from modelbox.server.store import Change
from modelbox.server.store.metrics import Columns, step_window

# History goes out in messages of at most this many points per series.
HISTORY_CHUNK = 10_000


@dataclass(frozen=True)
class MetricUpdate:
    key: str
    points: Columns


def _live(change: Change, from_step: int | None) -> MetricUpdate | None:
    document = change.document
    assert document is not None
    points = step_window(Columns.of_bucket(document), from_step, None)
    return MetricUpdate(document["key"], points) if points.steps else None


async def metrics_logged(
    ctx: Context, subject_id: str, keys: list[str] | None, from_step: int | None
) -> AsyncIterator[MetricUpdate]:
    _, record = await subject(ctx, subject_id, Role.VIEWER)
    for key in keys or []:
        validation.check_pattern("keys", key, validation.LABEL_KEY, "metric key")
    if from_step is not None and from_step < 0:
        raise BadUserInput("fromStep: must not be negative", field="fromStep")
    wanted = frozenset(keys) if keys else None
    subject_hex = record["id"]

    def match(change: Change) -> bool:
        document = change.document
        return (
            change.operation == "insert"
            and document is not None
            and document.get("subject_id") == subject_hex
            and (wanted is None or document["key"] in wanted)
            and not document.get("compacted")  # old points in new buckets: not news
        )

    subscribed = asyncio.Event()
    changes = watch(ctx, frozenset({ctx.store.metrics.buckets_collection}), match, subscribed)
    # The feed is read one change ahead in a task, so that it is subscribed before history.
    pending = asyncio.ensure_future(anext(changes))
    try:
        sent: set[str] = set()
        if from_step is not None:
            ready = asyncio.ensure_future(subscribed.wait())
            await asyncio.wait({ready, pending}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            if pending.done():
                pending.result()  # raises why the feed refused this subscriber, if it did
            for summary in (await ctx.store.metrics.summaries_of([subject_hex]))[0]:
                if wanted is not None and summary["key"] not in wanted:
                    continue
                history = await ctx.store.metrics.points(
                    subject_hex, summary["key"], summary["kind"], from_step
                )
                sent |= history.bucket_ids
                for start in range(0, len(history), HISTORY_CHUNK):
                    yield MetricUpdate(summary["key"], history.slice(start, start + HISTORY_CHUNK))
        while True:
            try:
                change = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(changes))
            if change.document_id not in sent and (update := _live(change, from_step)):
                yield update
    finally:
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pending
        await changes.aclose()
