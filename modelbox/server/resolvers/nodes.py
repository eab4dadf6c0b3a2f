"""`node` and `nodes`: any object by its global id, through the authorizing loaders."""

from __future__ import annotations

from typing import overload

from modelbox.server.errors import NotFound
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.ids import from_global_id
from modelbox.server.resolvers.kinds import Kind
from modelbox.server.store import Record
from modelbox.server.store.repository import R


async def node(ctx: Context, global_id: str) -> tuple[str, Record] | None:
    """`(type name, record)`, or None for an id that names nothing the caller may read."""
    ctx.principal  # noqa: B018 - refuse an unauthenticated caller even for a malformed id
    decoded = from_global_id(global_id)
    if decoded is None:
        return None
    type_name, raw = decoded
    loader = ctx.loaders.of_type.get(type_name)
    if loader is None:
        return None
    record = await loader.load(raw)
    return (type_name, record) if record is not None else None


@overload
async def owner(ctx: Context, type_name: Kind[R], raw_id: str) -> R: ...
@overload
async def owner(ctx: Context, type_name: str, raw_id: str) -> Record: ...
async def owner(ctx: Context, type_name: str, raw_id: str) -> Record:
    """What an object read by the caller belongs to (its model, experiment, namespace, subject).

    Links stay within a namespace, so it is readable with its child; one gone meanwhile is
    NOT_FOUND rather than a server error.
    """
    record = await ctx.loaders.of_type[type_name].load(raw_id)
    if record is None:
        raise NotFound(f"the {type_name} this belongs to does not exist")
    return record
