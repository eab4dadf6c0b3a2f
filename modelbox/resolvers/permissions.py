"""Access checks for writes and admin reads; reads of objects are checked in the loaders."""

from __future__ import annotations

from typing import Any

from strawberry.dataloader import DataLoader

from modelbox.access import Role
from modelbox.errors import Forbidden, NotFound
from modelbox.resolvers.context import Context
from modelbox.store import Record


def require(ctx: Context, namespace: str, role: Role) -> None:
    if not ctx.principal.can(namespace, role):
        raise Forbidden(f"this needs the {role.name} role in namespace {namespace!r}")


async def load_for(
    ctx: Context,
    loader: DataLoader[Any, Record | None],
    key: Any,
    role: Role,
    what: str,
) -> Record:
    """The object behind `key`, if the caller holds `role` in its namespace.

    An object the caller cannot even read is reported as missing, so that its
    existence in another namespace is never revealed.
    """
    record = await loader.load(key)
    if record is None:
        raise NotFound(f"{what} does not exist")
    require(ctx, record["namespace"], role)
    return record
