"""Namespaces and what is listed under them."""

from __future__ import annotations

from typing import Any

from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.listing import Listing, children, page_size
from modelbox.server.store.experiments import ExperimentRecord
from modelbox.server.store.models import ModelRecord
from modelbox.server.store.namespaces import NamespaceRecord


async def namespace(ctx: Context, name: str) -> NamespaceRecord | None:
    return await ctx.loaders.namespace.load(name)


async def namespaces(ctx: Context, first: int | None, after: str | None) -> Listing:
    principal = ctx.principal
    only = None if principal.sees_all_namespaces else principal.namespaces
    size = page_size(ctx, first)
    page = await ctx.store.namespaces.visible_page(size, after, only)

    return Listing(page, lambda: ctx.store.namespaces.count(only))


async def models_in(
    ctx: Context,
    ns: NamespaceRecord,
    first: int | None,
    after: str | None,
    filters: dict[str, Any] | None,
) -> Listing:
    query = ctx.store.models.query(**(filters or {}))
    return await children(ctx, ctx.store.models, "namespace", ns["name"], first, after, query)


async def model_named(ctx: Context, ns: NamespaceRecord, name: str) -> ModelRecord | None:
    return await ctx.loaders.model_by_name.load((ns["name"], validation.text(name, "name", 128)))


async def experiment_named(ctx: Context, ns: NamespaceRecord, name: str) -> ExperimentRecord | None:
    return await ctx.loaders.experiment_by_name.load(
        (ns["name"], validation.text(name, "name", 128))
    )
