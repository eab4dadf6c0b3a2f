"""Every connection of the schema, paged to its end one item at a time, holds `totalCount` items.

The connections are found in the schema, not listed here: a new one is paged too, and
fails loudly if the world has no parent object to page it from.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    build_client_schema,
    get_introspection_query,
)

from tests.api import Api
from tests.world import World, build_world

MAX_PAGES = 200


def _named(type_: Any) -> GraphQLNamedType:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


async def connection_fields(api: Api) -> list[tuple[str, str, bool]]:
    """(parent type, field, whether its nodes are Nodes) for every field that returns a
    `…Connection` with `first`/`after`."""
    schema = build_client_schema(await api.ok(get_introspection_query()))
    found = []
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            connection = _named(field.type)
            if connection.name.endswith("Connection") and {"first", "after"} <= set(field.args):
                assert isinstance(connection, GraphQLObjectType)
                node = _named(_named(connection.fields["edges"].type).fields["node"].type)
                is_node = any(i.name == "Node" for i in getattr(node, "interfaces", ()))
                found.append((type_.name, name, is_node))
    return sorted(found)


def _query(parent: str, field: str, is_node: bool = True) -> str:
    node = "... on Node { id }" if is_node else "__typename"
    selection = f"""{field}(first: 1, after: $after) {{ totalCount
      pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {node} }} }} }}"""
    if parent == "Query":
        return f"query($after: String) {{ {selection} }}"
    if parent == "Namespace":
        return (
            f"query($after: String, $name: String!) {{ namespace(name: $name) {{ {selection} }} }}"
        )
    on_parent = f"... on {parent} {{ {selection} }}"
    return f"query($after: String, $id: ID!) {{ node(id: $id) {{ {on_parent} }} }}"


def _parents(world: World, parent: str) -> list[dict[str, str]]:
    if parent == "Query":
        return [{}]
    if parent == "Namespace":
        return [{"name": name} for name in world.namespaces]
    assert parent in world.ids, (
        f"tests/world.py makes no {parent}: add one so {parent}'s lists page"
    )
    return [{"id": id} for id in world.ids[parent]]


async def page_to_the_end(api: Api, query: str, variables: dict[str, str]) -> tuple[int, list[str]]:
    """totalCount, and the ids (or cursors) met paging with first: 1."""
    seen: list[str] = []
    after = None
    total = None
    for _ in range(MAX_PAGES):
        data = await api.ok(query, {**variables, "after": after})
        holder = next(iter(data.values()))
        connection = next(iter(holder.values())) if "totalCount" not in holder else holder
        total = connection["totalCount"] if total is None else total
        assert len(connection["edges"]) <= 1
        seen += [edge["node"].get("id") or edge["cursor"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return total, seen
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError(f"more than {MAX_PAGES} pages")


async def test_every_connection_pages_to_its_total_count_one_by_one(api: Api) -> None:
    world = await build_world(api)
    fields = await connection_fields(api)
    names = {(parent, field) for parent, field, _ in fields}
    assert ("Experiment", "modelVersions") in names and ("Query", "namespaces") in names
    paged_with_ties = set()
    for parent, field, is_node in fields:
        for variables in _parents(world, parent):
            total, seen = await page_to_the_end(api, _query(parent, field, is_node), variables)
            where = f"{parent}.{field} of {variables}"
            assert len(seen) == total, f"{where}: totalCount {total}, paged {len(seen)}"
            assert len(set(seen)) == len(seen), f"{where}: an item came twice"
            if total >= 2:
                paged_with_ties.add((parent, field))
    # The lists whose natural order has ties in this world really held several items
    # (Checkpoint.modelVersions once the schema has it).
    tied = {("Experiment", "modelVersions"), ("Checkpoint", "modelVersions"), ("Model", "events")}
    assert tied & names <= paged_with_ties
