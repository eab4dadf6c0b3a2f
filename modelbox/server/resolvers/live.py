"""Subscriptions' common ground: the process's change feed, seen through one token.

Every subscription resolver reads changes through `watch`, which refuses a caller
without a valid token, ends the subscription when its token is revoked or expires,
and gives each delivered change fresh DataLoaders, so nothing is served stale.

A subscription whose updates need no per-subscriber work (one payload for all, see
graph/shared.py) can also take changes as the feed hands them out (`Direct`), without
its reader being woken for each; token changes and expiry still go the reader's way.
`watch_shared` does that for a subscription whose updates are its changes, each made into
one object (`Shared`) for all its subscribers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from modelbox.server.errors import Unauthenticated
from modelbox.server.resolvers.context import Context
from modelbox.server.store import Change, Record
from modelbox.server.store.records import now

T = TypeVar("T")


@dataclass
class Direct:
    """Set `deliver` to take accepted changes as they come: True when handled, False to
    have the change yielded by `watch` as usual (it then waits for the reader)."""

    deliver: Callable[[Change], bool] | None = None


async def watch(
    ctx: Context,
    collections: frozenset[str],
    match: Callable[[Change], bool],
    subscribed: asyncio.Event | None = None,
    direct: Direct | None = None,
) -> AsyncGenerator[Change, None]:
    """The changes to `collections` that `match` accepts, while the caller's token is good.

    `match` runs for every change in the process, so it must be cheap and must not
    wait; it is where the caller's access to each change is checked. `subscribed` is set
    once changes are being caught, for a caller that reads history before going live.
    `direct.deliver`, once set, is offered each accepted change first (see `Direct`).
    """
    principal = ctx.principal
    tokens = ctx.store.tokens.collection_name

    def accept(change: Change) -> bool:
        if change.collection == tokens:
            return change.document_id == principal.token_id
        return match(change)

    def deliver(change: Change) -> bool:
        if direct is None or direct.deliver is None or change.collection == tokens:
            return False
        expires = principal.expires_at
        return (expires is None or now() < expires) and direct.deliver(change)

    feed = ctx.store.changes
    async with feed.subscribe(
        collections | {tokens},
        accept,
        ctx.settings.subscriber_queue_size,
        ctx.settings.subscriber_queue_bytes,
    ) as changes:
        if direct is not None:
            changes.deliver = deliver
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
            # Records read for the change are read once for all its subscribers.
            ctx.fresh_loaders(change.memo)
            yield change


@dataclass(eq=False)
class Shared(Generic[T]):
    """One change's update, one object for every subscriber handed it; `forms` holds what
    the layers above make of it, made once for all of them."""

    value: T
    forms: dict[Any, Any] = field(default_factory=dict, repr=False)


async def watch_shared(
    ctx: Context,
    collections: frozenset[str],
    match: Callable[[Change], bool],
    convert: Callable[[Record], T],
    push: Callable[[Shared[T]], bool] | None = None,
) -> AsyncIterator[Shared[T]]:
    """`watch`'s changes (those with a document) as `convert` makes their documents, once a
    change for all its subscribers (`convert` keys the change's memo: one function for
    all). `push`, if given, takes them as the feed hands them out (see `Direct`); those it
    declines are yielded."""

    def once(change: Change) -> Shared[T]:
        update: Shared[T] | None = change.memo.get(convert)
        if update is None:
            assert change.document is not None
            update = change.memo[convert] = Shared(convert(change.document))
        return update

    direct = Direct(lambda change: push(once(change))) if push is not None else None
    async for change in watch(ctx, collections, match, direct=direct):
        yield once(change)


async def _until_expiry(next_change: Awaitable[Change], expires_at: datetime | None) -> Change:
    """The next change, or UNAUTHENTICATED when the token expires first, changes or not."""
    if expires_at is None:
        return await next_change
    try:
        return await asyncio.wait_for(next_change, (expires_at - now()).total_seconds())
    except TimeoutError:
        raise Unauthenticated("the token of this subscription has expired") from None
