"""The read side of the audit trail: namespace admins only."""

from __future__ import annotations

from typing import Any

from modelbox.access import ALL_NAMESPACES, Role
from modelbox.resolvers.context import Context
from modelbox.resolvers.listing import Listing, page_size
from modelbox.resolvers.permissions import require
from modelbox.store import Record


async def audit_events(
    ctx: Context, namespace: Record, first: int | None, after: str | None, filters: dict[str, Any]
) -> Listing:
    """`filters`: actions, object_types, actors, since, until (as the store takes them)."""
    require(ctx, namespace["name"], Role.ADMIN)
    return await _listing(ctx, namespace["name"], first, after, filters)


async def all_audit_events(
    ctx: Context, first: int | None, after: str | None, filters: dict[str, Any]
) -> Listing:
    """The whole trail, for admins of every namespace (`*`): it alone shows `*` tokens."""
    require(ctx, ALL_NAMESPACES, Role.ADMIN)
    return await _listing(ctx, None, first, after, filters)


async def _listing(
    ctx: Context, scope: str | None, first: int | None, after: str | None, filters: dict[str, Any]
) -> Listing:
    page = await ctx.store.audit.page(scope, page_size(ctx, first), after, **filters)
    return Listing(page, lambda: ctx.store.audit.count(scope, **filters))
