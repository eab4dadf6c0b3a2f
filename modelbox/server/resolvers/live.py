"""Subscriptions' common ground: the process's change feed, seen through one token.

Every subscription resolver reads changes through `watch`, which refuses a caller
without a valid token, ends the subscription when its token is revoked or expires,
and gives each delivered change fresh DataLoaders, so nothing is served stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime

from modelbox.server.errors import Unauthenticated
from modelbox.server.resolvers.context import Context
from modelbox.server.store import Change
from modelbox.server.store.records import now


async def watch(
    ctx: Context,
    collections: frozenset[str],
    match: Callable[[Change], bool],
    subscribed: asyncio.Event | None = None,
) -> AsyncGenerator[Change, None]:
    """The changes to `collections` that `match` accepts, while the caller's token is good.

    `match` runs for every change in the process, so it must be cheap and must not
    wait; it is where the caller's access to each change is checked. `subscribed` is set
    once changes are being caught, for a caller that reads history before going live.
    """
    principal = ctx.principal
    tokens = ctx.store.tokens.collection_name

    def accept(change: Change) -> bool:
        if change.collection == tokens:
            return change.document_id == principal.token_id
        return match(change)

    feed = ctx.store.changes
    async with feed.subscribe(
        collections | {tokens},
        accept,
        ctx.settings.subscriber_queue_size,
        ctx.settings.subscriber_queue_bytes,
    ) as changes:
        if subscribed is not None:
            subscribed.set()
        # Nothing the subscription was set up with (its subject's record) stays cached.
        ctx.fresh_loaders()
        while True:
            change = await _until_expiry(anext(changes), principal.expires_at)
            if change.collection == tokens:
                if change.document is None or change.document.get("revoked_at") is not None:
                    raise Unauthenticated("the token of this subscription was revoked")
                continue
            ctx.fresh_loaders()
            yield change


async def _until_expiry(next_change: Awaitable[Change], expires_at: datetime | None) -> Change:
    """The next change, or UNAUTHENTICATED when the token expires first, changes or not."""
    if expires_at is None:
        return await next_change
    try:
        return await asyncio.wait_for(next_change, (expires_at - now()).total_seconds())
    except TimeoutError:
        raise Unauthenticated("the token of this subscription has expired") from None
