"""The isolation matrix, generated from the live schema: nobody reads another namespace.

Cases are built from the schema the server introspects, not listed by hand: every root
Query field, every field that returns a Node, a list of them or a connection (asked on an
object of each namespace), every subscription, and every artifact URL. Each is tried with
the token of an ADMIN of the other namespace, a revoked one, an expired one and none, over
HTTP and over WebSocket, against a world with the same objects in two namespaces; no answer
may hold the other namespace's names or ids. A field whose required arguments no rule below
can build fails the run, naming itself: add a rule to RULES (or an object to the world).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
    is_required_argument,
)

from tests.api import Api
from tests.isolation import (
    GQL,
    Case,
    Side,
    World,
    attacks,
    judge,
    live_schema,
    run_for,
    served_world,
)
from tests.ws import LEGACY_WS, TRANSPORT_WS, WsClient

ROOT_DEPTH = 2
PAGE = 2


# How to fill an argument: keyed `Type.field.argument` or just the argument's name; each
# gives the values to try, taken from the namespace under attack.
Rule = Callable[[Side], list[Any]]
RULES: dict[str, Rule] = {
    "Query.node.id": lambda s: s.all_ids,
    "ids": lambda s: [s.all_ids],
    "representations": lambda s: [
        [
            *(
                {"__typename": kind, "id": i}
                for kind in ("Model", "ModelVersion", "Experiment", "Checkpoint", "Artifact")
                for i in s.ids[kind]
            ),
            {"__typename": "Namespace", "name": s.namespace},
        ]
    ],
    "Query.namespace.name": lambda s: [s.namespace],
    "Namespace.model.name": lambda s: [s.model_name],
    "Namespace.experiment.name": lambda s: [s.experiment_name],
    "namespace": lambda s: [s.namespace],
    "subjectId": lambda s: s.subject_ids,
    "subjectIds": lambda s: [s.subject_ids],
    "version": lambda s: [1],
    "key": lambda s: ["loss"],
    "keys": lambda s: [["loss"]],
    "maxPoints": lambda s: [10],
    # Searches across namespaces: the text grammar and metric and hyperparameter orders take
    # their candidates from per-value index documents of every namespace.
    "query": lambda s: ["metrics.loss < 1", f'params.s = "{s.namespace}"', "metrics.loss.min > 0"],
    "Query.experiments.orderBy": lambda s: [
        [{"metric": "loss", "direction": "ASC"}],
        [{"hyperparameter": "s"}],
    ],
}


class MissingRule(AssertionError):
    pass


class QueryBuilder:
    """One operation: variables for every argument, selections down to a depth."""

    def __init__(self, schema: GraphQLSchema, side: Side) -> None:
        self.schema = schema
        self.side = side
        self.variables: dict[str, Any] = {}
        self.declarations: list[str] = []
        self._names = itertools.count()

    def argument(self, type_name: str, field_name: str, arg: str, value: Any, kind: Any) -> str:
        name = f"v{next(self._names)}"
        self.variables[name] = value
        self.declarations.append(f"${name}: {kind}")
        return f"{arg}: ${name}"

    def arguments(
        self, owner: str, name: str, gql_field: GraphQLField, chosen: dict[str, Any] | None = None
    ) -> str:
        """Required arguments from the rules (first value), small pages, and `chosen` ones."""
        parts = []
        for arg_name, arg in gql_field.args.items():
            if chosen and arg_name in chosen:
                value = chosen[arg_name]
            elif is_required_argument(arg):
                values = rule_values(owner, name, arg_name, self.side)
                value = values[0]
            elif arg_name == "first":
                # Small pages at every level: the whole selection stays within the request's
                # object budget, so the case runs instead of being refused for its size.
                value = PAGE
            else:
                continue
            parts.append(self.argument(owner, name, arg_name, value, arg.type))
        return f"({', '.join(parts)})" if parts else ""

    def selection(
        self, output: GraphQLOutputType, depth: int, only: GraphQLObjectType | None = None
    ) -> str:
        """Every field down to `depth` object hops; an abstract type is asked as `only`,
        or just by its id (sibling fragments would clash on fields typed differently)."""
        named = get_named_type(output)
        if is_leaf_type(named):
            return ""
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            if only is not None:
                return f"{{ __typename ... on {only.name} {self.selection(only, depth)} }}"
            return "{ __typename " + ("id " if "id" in named_fields(named) else "") + "}"
        assert isinstance(named, GraphQLObjectType)
        wrapper = is_structural(named)
        parts = ["__typename"]
        for name, gql_field in named.fields.items():
            target = get_named_type(gql_field.type)
            if is_leaf_type(target):
                if not any(is_required_argument(a) for a in gql_field.args.values()):
                    parts.append(name)
                continue
            if depth <= 0 and not wrapper:
                continue
            inner = self.selection(gql_field.type, depth if wrapper else depth - 1)
            parts.append(f"{name}{self.arguments(named.name, name, gql_field)} {inner}")
        return "{ " + " ".join(parts) + " }"

    def operation(self, kind: str, body: str) -> str:
        declared = f"({', '.join(self.declarations)})" if self.declarations else ""
        return f"{kind} matrix{declared} {{ {body} }}"


def named_fields(t: GraphQLNamedType) -> dict[str, GraphQLField]:
    return dict(getattr(t, "fields", {}) or {})


def is_structural(t: GraphQLNamedType) -> bool:
    """Connections, edges and page info: wrappers, not objects of their own."""
    return t.name.endswith(("Connection", "Edge")) or t.name == "PageInfo"


def rule_values(owner: str, field_name: str, arg: str, side: Side) -> list[Any]:
    rule = RULES.get(f"{owner}.{field_name}.{arg}") or RULES.get(arg)
    if rule is None:
        raise MissingRule(
            f"no rule builds argument {arg!r} of {owner}.{field_name}: add one to RULES in"
            " tests/test_isolation_matrix.py (and objects to the world if it needs them)"
        )
    return rule(side)


def is_node_type(schema: GraphQLSchema, t: GraphQLNamedType) -> bool:
    node = schema.get_type("Node")
    if t is node:
        return True
    if isinstance(t, GraphQLObjectType):
        return any(i is node for i in t.interfaces)
    if isinstance(t, GraphQLUnionType):
        return any(is_node_type(schema, member) for member in t.types)
    return False


def reaches_objects(schema: GraphQLSchema, output: GraphQLOutputType) -> bool:
    """A Node, a list of Nodes, or a connection of them."""
    named = get_named_type(output)
    if is_node_type(schema, named):
        return True
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")


def root_variants(
    owner: str, name: str, gql_field: GraphQLField, side: Side
) -> Iterator[dict[str, Any]]:
    """The required arguments in each combination of rule values, then each optional
    argument that has a rule alone on top of them."""
    required = {
        a: rule_values(owner, name, a, side)
        for a, arg in gql_field.args.items()
        if is_required_argument(arg)
    }
    combos = [
        dict(zip(required, values, strict=True)) for values in itertools.product(*required.values())
    ]
    yield from combos
    for a in gql_field.args:
        if a in required or (RULES.get(f"{owner}.{name}.{a}") or RULES.get(a)) is None:
            continue
        for value in rule_values(owner, name, a, side):
            yield {**combos[0], a: value}


def shapes(schema: GraphQLSchema, output: GraphQLOutputType) -> list[GraphQLObjectType | None]:
    """Each concrete type an abstract field may return (asked one at a time), else None."""
    named = get_named_type(output)
    if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
        return list(schema.get_possible_types(named))
    return [None]


def root_cases(schema: GraphQLSchema, root: GraphQLObjectType, kind: str, side: Side) -> list[Case]:
    """Each root field with its variants, asked down to ROOT_DEPTH and (queries) for its
    own leaf fields alone: a deep selection's refused link (a non-null field) nulls the
    whole answer, which would hide a leak of the fields beside it."""
    cases = []
    depths = (ROOT_DEPTH, 0) if kind == "query" else (0,)
    for name, gql_field in root.fields.items():
        for chosen, depth in itertools.product(
            root_variants(root.name, name, gql_field, side), depths
        ):
            for only in shapes(schema, gql_field.type):
                builder = QueryBuilder(schema, side)
                args = builder.arguments(root.name, name, gql_field, chosen)
                body = f"{name}{args} {builder.selection(gql_field.type, depth, only)}"
                label = f"{root.name}.{name}{sorted(chosen)}{' on ' + only.name if only else ''}"
                label += f" depth {depth}"
                cases.append(Case(label, builder.operation(kind, body), builder.variables, name))
    return cases


def nested_cases(schema: GraphQLSchema, side: Side) -> list[Case]:
    """Every Node type's fields that reach objects, asked on that namespace's object."""
    cases = []
    for t in schema.type_map.values():
        if not isinstance(t, GraphQLObjectType) or not is_node_type(schema, t):
            continue
        targets = {n: f for n, f in t.fields.items() if reaches_objects(schema, f.type)}
        if not targets:
            continue
        if t.name not in side.ids:
            raise MissingRule(
                f"{t.name} has fields that reach other objects ({', '.join(targets)}) but the"
                " world has no object of that type: create one in _seed"
            )
        for object_id in side.ids[t.name]:
            for name, gql_field in targets.items():
                for only in shapes(schema, gql_field.type):
                    builder = QueryBuilder(schema, side)
                    node_arg = builder.argument("Query", "node", "id", object_id, "ID!")
                    inner = builder.arguments(t.name, name, gql_field)
                    selection = builder.selection(gql_field.type, 1, only)
                    body = f"node({node_arg}) {{ ... on {t.name} {{ {name}{inner} {selection} }} }}"
                    label = f"{t.name}.{name}{' on ' + only.name if only else ''}"
                    cases.append(
                        Case(label, builder.operation("query", body), builder.variables, "node")
                    )
    return cases


@pytest.fixture(scope="module")
def world(mongodb_uri: str) -> Iterator[World]:
    with served_world(mongodb_uri) as seeded:
        yield seeded


@pytest.fixture(scope="module")
def schema(world: World) -> GraphQLSchema:
    return live_schema(world)


async def test_root_query_fields_show_nothing_of_another_namespace(
    world: World, schema: GraphQLSchema
) -> None:
    assert schema.query_type is not None
    problems: list[str] = []
    for attack in attacks(world, dead_too=True):
        cases = root_cases(schema, schema.query_type, "query", attack.victim)
        assert len(cases) >= len(schema.query_type.fields)
        problems += await run_for(world, attack, cases)
    assert not problems, "\n".join(problems)


async def test_fields_that_reach_objects_show_nothing_of_another_namespace(
    world: World, schema: GraphQLSchema
) -> None:
    problems: list[str] = []
    for attack in attacks(world, dead_too=False):
        # Asked on the victim's objects (which must not load) and on the caller's own
        # (whose links must not lead into the victim's namespace).
        own = next(s for s in world.sides.values() if s is not attack.victim)
        cases = nested_cases(schema, attack.victim) + nested_cases(schema, own)
        problems += await run_for(world, attack, cases)
    assert not problems, "\n".join(problems)


POKES = [
    (
        "logEvents",
        GQL["events"],
        lambda s: {"i": {"subjectId": s.ids["Experiment"][0], "events": [{"name": "poke"}]}},
    ),
    (
        "logMetrics",
        GQL["metrics"],
        lambda s: {
            "i": {
                "subjectId": s.ids["Experiment"][0],
                "series": [{"key": "loss", "steps": [99], "values": [0.5]}],
            }
        },
    ),
    (
        "updateModel",
        "mutation($i: UpdateModelInput!) { updateModel(input: $i) { id } }",
        lambda s: {"i": {"id": s.ids["Model"][0], "description": f"{s.namespace}-secret-again"}},
    ),
]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_subscriptions_deliver_nothing_of_another_namespace(
    world: World, schema: GraphQLSchema, protocol: str
) -> None:
    assert schema.subscription_type is not None
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=world.url, timeout=30) as client:
        api = Api(client)
        for attack in attacks(world, dead_too=True):
            cases = root_cases(schema, schema.subscription_type, "subscription", attack.victim)
            assert {c.root for c in cases} == set(schema.subscription_type.fields)
            async with WsClient(world.url, token=attack.token, protocol=protocol) as ws:
                ops = [(case, await ws.subscribe(case.query, case.variables)) for case in cases]
                await asyncio.sleep(1.0)  # subscriptions are registered with the change feed
                for _, query, variables in POKES:
                    await api.ok(query, variables(attack.victim))
                await asyncio.sleep(1.5)  # what the pokes would bring has arrived
                for case, op in ops:
                    received = []
                    with contextlib.suppress(TimeoutError):
                        while True:
                            received.append(await ws.message(op, timeout=0.2))
                    problems += judge(attack, case, protocol, received)
    assert not problems, "\n".join(problems)


async def test_artifact_urls_serve_nothing_to_another_namespace(world: World) -> None:
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for attack in attacks(world, dead_too=True):
            headers = {"Authorization": f"Bearer {attack.token}"} if attack.token else {}
            for url in attack.victim.artifact_urls:
                for method in ("GET", "HEAD", "PUT"):
                    response = await client.request(
                        method, url, headers=headers, content=b"x" if method == "PUT" else None
                    )
                    expected = {404} if attack.name.endswith("admin") else {401}
                    label = f"{method} {url} as {attack.name}"
                    if response.status_code not in expected:
                        problems.append(f"{label}: {response.status_code} {response.text[:200]}")
                    for secret in attack.victim.secrets:
                        if secret in response.text or secret in str(response.headers):
                            problems.append(f"{label}: {secret!r} leaked")
    assert not problems, "\n".join(problems)
