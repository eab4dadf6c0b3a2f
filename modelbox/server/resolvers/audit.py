"""The read side of the audit trail: namespace admins only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from modelbox.server.access import ALL_NAMESPACES, Role
from modelbox.server.errors import Forbidden
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.listing import Listing, page_size
from modelbox.server.resolvers.live import Shared, watch_shared
from modelbox.server.resolvers.permissions import require
from modelbox.server.store import Change, Record
from modelbox.server.store.audit import AuditRecord, audit_record


async def audit_events(
    ctx: Context,
    namespace: Record,
    first: int | None,
    after: str | None,
    filters: dict[str, Any] | None,
) -> Listing:
    """`filters`: actions, object_types, actors, since, until (as the store takes them)."""
    require(ctx, namespace["name"], Role.ADMIN)
    return await _listing(ctx, namespace["name"], first, after, filters or {})


async def all_audit_events(
    ctx: Context, first: int | None, after: str | None, filters: dict[str, Any] | None
) -> Listing:
    """The whole trail, for admins of every namespace (`*`): it alone shows `*` tokens."""
    require(ctx, ALL_NAMESPACES, Role.ADMIN)
    return await _listing(ctx, None, first, after, filters or {})


async def _listing(
    ctx: Context, scope: str | None, first: int | None, after: str | None, filters: dict[str, Any]
) -> Listing:
    page = await ctx.store.audit.page(scope, page_size(ctx, first), after, **filters)
    return Listing(page, lambda: ctx.store.audit.count(scope, **filters))


async def live_audit_events(
    ctx: Context,
    namespace: str | None,
    push: Callable[[Shared[AuditRecord]], bool] | None = None,
) -> AsyncIterator[Shared[AuditRecord]]:
    """Audit events as they are written: of `namespace`, or of every namespace one
    administers; each one object for all its subscribers (`push`: see `watch_shared`)."""
    principal = ctx.principal
    if namespace is not None:
        validation.namespace_name(namespace)
        require(ctx, namespace, Role.ADMIN)
    elif not any(principal.can(ns, Role.ADMIN) for ns in [ALL_NAMESPACES, *principal.namespaces]):
        raise Forbidden("watching the audit trail needs the ADMIN role in some namespace")

    def match(change: Change) -> bool:
        scopes = change.document["scopes"] if change.document else []
        if namespace is not None:
            return namespace in scopes and principal.can(namespace, Role.ADMIN)
        return any(principal.can(scope, Role.ADMIN) for scope in scopes)

    collections = frozenset({ctx.store.audit.collection.name})
    async for record in watch_shared(ctx, collections, match, audit_record, push):
        yield record
