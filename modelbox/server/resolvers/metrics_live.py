"""`metricsLogged`: a series' stored points from a step on, then live ones, no gap, no repeat.

Live points are the insert events of metric buckets: a request's points go into new
buckets, so each event carries exactly the points one request added (compaction's merged
buckets are skipped: their points were sent when first logged). With `fromStep` the
subscription is registered with the change feed first, and history is read after, in
pages of steps, each within the read limit. Every bucket history read from is remembered
with the step its page began at: history sends that bucket's points from there on, and
its insert event, caught meanwhile, sends only the points before. A bucket written before
the subscription is only in history, one written after history was read is only in the
feed, and one written in between is sent once, part by each.

When live updates end early (the database restarted, the client fell behind), the error
names in `extensions.lastStep` the greatest step sent of each key, so that the client can
subscribe again with `fromStep` and miss nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput, LiveUpdatesInterrupted, SubscriberTooSlow
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.live import Direct, watch
from modelbox.server.resolvers.metrics import subject
from modelbox.server.store import Change
from modelbox.server.store.metrics import FLOAT, Columns

# History goes out in pages of at most this many points per series (FLOAT), or of about
# PAGE_BYTES (tensors and bytes, whose points may be large).
HISTORY_CHUNK = 10_000
PAGE_BYTES = 4 * 1024 * 1024
FIRST_PAGE_OF_BLOBS = 64


@dataclass(eq=False)
class MetricUpdate:
    key: str
    points: Columns
    # What the layers above derive from an update, made once for all who receive it.
    shared: dict[Any, Any] = field(default_factory=dict, repr=False)


def _live(change: Change, from_step: int | None, cut: int | None) -> MetricUpdate | None:
    """The points of a bucket's insert in `[from_step, cut)`, one object for all who ask."""
    columns = change.memo.get("columns")
    if columns is None:
        assert change.document is not None
        columns = change.memo["columns"] = Columns.of_bucket(change.document)
    steps = columns.steps
    start = 0 if from_step is None else bisect.bisect_left(steps, from_step)
    stop = len(steps) if cut is None else bisect.bisect_left(steps, cut)
    if start >= stop:
        return None
    update = change.memo.get((start, stop))
    if update is None:
        assert change.document is not None
        window = columns if (start, stop) == (0, len(steps)) else columns.slice(start, stop)
        update = change.memo[(start, stop)] = MetricUpdate(change.document["key"], window)
    return update  # type: ignore[no-any-return]


def _page_size(ctx: Context, kind: str, last: Columns | None) -> int:
    most = min(HISTORY_CHUNK, ctx.settings.max_metric_points_per_read)
    if kind == FLOAT:
        return most
    if last is None or not last.column:
        return min(most, FIRST_PAGE_OF_BLOBS)
    size = sum(len(value) for value in last.column) // len(last.column) + 16
    return max(1, min(most, PAGE_BYTES // size))


async def _history(
    ctx: Context, subject_hex: str, key: str, kind: str, from_step: int, sent: dict[str, int]
) -> AsyncIterator[Columns]:
    """The stored points of one series from `from_step`, page by page, step ranges apart.

    A page ends before its last step, so that points sharing a step never straddle two
    pages; the next page starts at that step. Each bucket read is noted in `sent` with
    the step its first page began at (see the module's docstring).
    """
    metrics, page, start = ctx.store.metrics, None, from_step
    while True:
        limit = _page_size(ctx, kind, page)
        page = await metrics.points(subject_hex, key, kind, start, limit=limit)
        for bucket_id in page.bucket_ids:
            sent.setdefault(bucket_id, start)
        if len(page) < limit:
            if page.steps:
                yield page
            return
        last = page.steps[-1]
        cut = bisect.bisect_left(page.steps, last)
        if cut == 0:
            # A whole page of one step: that step is read alone, whatever its size.
            page = await metrics.points(subject_hex, key, kind, last, last)
            for bucket_id in page.bucket_ids:
                sent.setdefault(bucket_id, start)
            yield page
            start = last + 1
        else:
            yield page.slice(0, cut)
            start = last


async def metrics_logged(
    ctx: Context,
    subject_id: str,
    keys: list[str] | None,
    from_step: int | None,
    push: Callable[[MetricUpdate], bool] | None = None,
) -> AsyncIterator[MetricUpdate]:
    """The updates; once live, those that `push` takes (True) are not yielded but sent."""
    # Only the id is kept: a subscription holds no copy of its subject's record.
    subject_hex: str = (await subject(ctx, subject_id, Role.VIEWER))[1]["id"]
    for key in keys or []:
        validation.check_pattern("keys", key, validation.LABEL_KEY, "metric key")
    if from_step is not None and from_step < 0:
        raise BadUserInput("fromStep: must not be negative", field="fromStep")
    wanted = frozenset(keys) if keys else None

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
    direct = Direct() if push is not None else None
    buckets = frozenset({ctx.store.metrics.buckets_collection})
    changes = watch(ctx, buckets, match, subscribed, direct)
    # With history, the feed is read one change ahead in a task, so that it is subscribed
    # before history is read; after that (and without history) it is read directly.
    pending = asyncio.ensure_future(anext(changes)) if from_step is not None else None
    last_steps: dict[str, int] = {}

    def sending(update: MetricUpdate) -> MetricUpdate:
        last = update.points.steps[-1]
        if last > last_steps.get(update.key, -1):
            last_steps[update.key] = last
        return update

    try:
        # Bucket id -> the step from which history sent its points.
        sent: dict[str, int] = {}
        if from_step is not None:
            assert pending is not None
            ready = asyncio.ensure_future(subscribed.wait())
            await asyncio.wait({ready, pending}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            if pending.done():
                pending.result()  # raises why the feed refused this subscriber, if it did
            for summary in (await ctx.store.metrics.summaries_of([subject_hex]))[0]:
                key = summary["key"]
                if wanted is not None and key not in wanted:
                    continue
                async for page in _history(ctx, subject_hex, key, summary["kind"], from_step, sent):
                    yield sending(MetricUpdate(key, page))

        def deliver(change: Change) -> bool:
            update = _live(change, from_step, sent.get(change.document_id))
            if update is None:
                return True
            assert push is not None
            if not push(update):
                return False
            sending(update)
            return True

        if direct is not None:
            direct.deliver = deliver
        while True:
            try:
                change = await (pending or anext(changes))
                pending = None
            except StopAsyncIteration:
                return
            except (LiveUpdatesInterrupted, SubscriberTooSlow) as ended:
                # Where this subscriber got to, so that it can pick up from there.
                details = {**ended.details, "lastStep": dict(last_steps)}
                raise type(ended)(ended.message, **details) from None
            update = _live(change, from_step, sent.get(change.document_id))
            if update is not None:
                yield sending(update)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        await changes.aclose()
