"""Relay building blocks: the Node interface, cursor connections, and the node registry.

Every Node type registers itself here with `@node_type`, so `node(id:)`, change events and
polymorphic `subject` fields find a type by name without importing the module declaring it
(which would make import cycles: a subject has events, an event has a subject).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar, get_args

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from modelbox.server.errors import BadUserInput, InvalidCursor
from modelbox.server.graph.inputs import plain
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.resolvers.listing import Listing
from modelbox.server.resolvers.nodes import node
from modelbox.server.store import Record
from modelbox.server.store.cursors import Signed

T = TypeVar("T")
Info = strawberry.Info[Context, None]


@strawberry.interface(description="An object with a global id; `node(id:)` resolves any of them.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str = strawberry.field(resolver=lambda root: root.cursors[root.at])
    node: T
    # The page's cursors, signed only when read (store/cursors.py `Signed`).
    cursors: strawberry.Private[Signed]
    at: strawberry.Private[int]


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many objects the whole list holds, across all pages.")
    async def total_count(self) -> int:
        return await self.count()


def connection(listing: Listing, convert: Callable[[Record], T]) -> Connection[T]:
    page = listing.page
    edges = [
        Edge(node=convert(record), cursors=page.cursors, at=at)
        for at, record in enumerate(page.records)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=page.cursors[-1] if page.cursors else None
        ),
        count=listing.count,
    )


async def resolve_entity(info: strawberry.Info, global_id: str, cls: Any) -> Any:
    """Federation entities resolve like `node(id:)`: through the authorizing loaders."""
    found = await node(info.context, global_id)
    return cls.from_record(found[1]) if found and found[0] == cls.__name__ else None


# Node types by GraphQL type name; filled by `@node_type` as the domain modules load.
NODE_TYPES: dict[str, Any] = {}
N = TypeVar("N", bound=type)


def node_type(cls: N) -> N:
    NODE_TYPES[cls.__name__] = cls
    return cls


def to_node(type_name: str, record: Record) -> Any:
    """The Node of a record, by its type's name (`Model`, `Checkpoint`, ...)."""
    return NODE_TYPES[type_name].from_record(record)


def record_of(root: Any) -> Record:
    return root.record  # type: ignore[no-any-return]


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of `selections`, those of fragments included."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)


# The fields of a Node that a slim record (`id`, `name`, `namespace`) answers.
SLIM_FIELDS = frozenset({"__typename", "id", "name", "namespace"})


def node_fields(info: Info) -> set[str]:
    """The names of the fields a connection field's query reads of its nodes."""
    return {
        field.name
        for connection in info.selected_fields
        for edges in _fields(connection.selections)
        if edges.name == "edges"
        for node in _fields(edges.selections)
        if node.name == "node"
        for field in _fields(node.selections)
    }


def connection_field(
    node: Any,
    load: Callable[..., Awaitable[Listing]],
    *,
    parent: Callable[[Any], Any] | None = record_of,
    description: str | None = None,
    slim: bool = False,
    **arguments: Any,
) -> Any:
    """A connection field: `first`, `after`, then `arguments` (name → annotation, each
    optional), answered by `load(context, parent(root), first, after, *arguments)` with the
    arguments as plain data; a root field (parent None) passes no parent.

    `node` is the Node type or a lazy one (`Annotated["Model", strawberry.lazy(...)]`),
    whose records convert through the node registry. `slim`: `load` is also given
    `slim=True` when the query reads only SLIM_FIELDS of the nodes (`load` may then give
    records of just those), `slim=False` otherwise.
    """
    if isinstance(node, type):
        convert: Callable[[Record], Any] = node.from_record  # type: ignore[attr-defined]
    else:
        name = get_args(node)[0]
        type_name = getattr(name, "__forward_arg__", name)
        convert = lambda record: to_node(type_name, record)  # noqa: E731

    async def resolve(root: Any, info: Info, **given: Any) -> Connection[Any]:
        values = [plain(given.get(name)) for name in arguments]
        head = [info.context] if parent is None else [info.context, parent(root)]
        try:
            reads = {"slim": node_fields(info) <= SLIM_FIELDS} if slim else {}
            listing = await load(*head, given.get("first"), given.get("after"), *values, **reads)
        except InvalidCursor as refused:
            raise BadUserInput(f"after: {refused.message}", field="after") from None
        return connection(listing, convert)

    optional = {"first": int | None, "after": str | None, **arguments}
    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info),
            *(
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
                )
                for name, annotation in optional.items()
            ),
        ],
        return_annotation=Connection[node],  # type: ignore[valid-type]
    )
    return strawberry.field(resolver=resolve, description=description)


def from_fields(cls: type[T], record: Record, **special: Any) -> T:
    """A Node type's object for a record: its global id, the record itself (the Private
    `record`), each other field from the record's field of the same name (absent: None),
    and the `special` ones (conversions, other names) as given."""
    names = _INIT_FIELDS.get(cls)
    if names is None:
        # Read once per type: `dataclasses.fields` builds its tuple on every call.
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        names = _INIT_FIELDS[cls] = tuple(f.name for f in fields if f.init)
    values = {name: record.get(name) for name in names if name not in special}
    values.update(special, id=to_global_id(cls.__name__, record["id"]), record=record)
    return cls(**values)


_INIT_FIELDS: dict[type, tuple[str, ...]] = {}
