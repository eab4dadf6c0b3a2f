"""Access checks for writes and admin reads; reads of objects are checked in the loaders."""

from __future__ import annotations

from typing import Any, overload

from strawberry.dataloader import DataLoader

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput, Forbidden, NotFound
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.ids import expect_id
from modelbox.server.resolvers.kinds import Kind
from modelbox.server.store import Record
from modelbox.server.store.repository import R


def require(ctx: Context, namespace: str, role: Role) -> None:
    if not ctx.principal.can(namespace, role):
        raise Forbidden(f"this needs the {role.name} role in namespace {namespace!r}")


async def load_for(
    ctx: Context,
    loader: DataLoader[Any, R | None],
    key: Any,
    role: Role,
    what: str,
) -> R:
    """The object behind `key`, if the caller holds `role` in its namespace.

    An object the caller cannot even read is reported as missing, so that its
    existence in another namespace is never revealed.
    """
    record = await loader.load(key)
    if record is None:
        raise NotFound(f"{what} does not exist")
    require(ctx, record["namespace"], role)
    return record


async def load_typed(
    ctx: Context, global_id: str, *type_names: str, role: Role, field: str = "id"
) -> tuple[str, Record]:
    """`(type, record)` for a global id given in an input, which must name one of `type_names`."""
    type_name, raw = expect_id(global_id, *type_names, field=field)
    record = await load_for(ctx, ctx.loaders.of_type[type_name], raw, role, f"{field}: {type_name}")
    return type_name, record


@overload
async def load_node(
    ctx: Context, global_id: str, type_name: Kind[R], role: Role = ..., field: str = ...
) -> R: ...
@overload
async def load_node(
    ctx: Context, global_id: str, type_name: str, role: Role = ..., field: str = ...
) -> Record: ...
async def load_node(
    ctx: Context, global_id: str, type_name: str, role: Role = Role.VIEWER, field: str = "id"
) -> Record:
    """The `type_name` object a global id in an input names, if the caller holds `role`
    (typed by its kind where `type_name` is a `Kind`)."""
    return (await load_typed(ctx, global_id, type_name, role=role, field=field))[1]


@overload
async def load_link(
    ctx: Context, global_id: str, type_name: Kind[R], namespace: str, field: str
) -> R: ...
@overload
async def load_link(
    ctx: Context, global_id: str, type_name: str, namespace: str, field: str
) -> Record: ...
async def load_link(
    ctx: Context, global_id: str, type_name: str, namespace: str, field: str
) -> Record:
    """The `type_name` object an input links to, which must be in `namespace`.

    Links (lineage, policies) never cross namespaces, whatever the caller may read: a link
    into another namespace would show that namespace's objects to this one's readers.
    """
    record = await load_node(ctx, global_id, type_name, Role.VIEWER, field)
    if record["namespace"] != namespace:
        raise BadUserInput(
            f"{field}: the {type_name} is in another namespace; links never cross namespaces"
            f" (this one is in {namespace!r})",
            field=field,
        )
    return record
