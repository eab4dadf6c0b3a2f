"""The read side of the audit trail: namespace admins only."""

from __future__ import annotations

from typing import Any

from modelbox.access import Role
from modelbox.resolvers.context import Context
from modelbox.resolvers.listing import Listing, page_size
from modelbox.resolvers.permissions import require
from modelbox.store import Record


async def audit_events(
    ctx: Context, namespace: Record, first: int | None, after: str | None, filters: dict[str, Any]
) -> Listing:
    """`filters`: actions, object_types, actors, since, until (as the store takes them)."""
    require(ctx, namespace["name"], Role.ADMIN)
    name = namespace["name"]
    page = await ctx.store.audit.page(name, page_size(ctx, first), after, **filters)
    return Listing(page, lambda: ctx.store.audit.count(name, **filters))
