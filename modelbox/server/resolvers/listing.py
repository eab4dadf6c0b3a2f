"""Connections as the resolvers hand them to the graph: a page and a lazy total."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.loaders import PageRequest
from modelbox.server.store import Page
from modelbox.server.store.repository import Repository


@dataclass(frozen=True)
class Listing:
    page: Page
    # Counting costs a query of its own, so it runs only when `totalCount` is asked for.
    count: Callable[[], Awaitable[int]]


def page_size(ctx: Context, first: int | None) -> int:
    return validation.page_size(first, ctx.settings.default_page_size, ctx.settings.max_page_size)


async def children(
    ctx: Context,
    repository: Repository,
    parent_field: str,
    parent: str,
    first: int | None,
    after: str | None,
    query: dict[str, Any],
) -> Listing:
    """A page of `repository`'s objects under `parent`, batched with its siblings."""
    request = PageRequest.of(parent, page_size(ctx, first), after, query)
    page = await ctx.loaders.pages(repository, parent_field).load(request)
    counts = ctx.loaders.counts(repository, parent_field)
    return Listing(page, lambda: counts.load(request.counted))
