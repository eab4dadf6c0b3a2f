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
import base64
import contextlib
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    build_client_schema,
    get_introspection_query,
    get_named_type,
    is_leaf_type,
    is_required_argument,
)
from pymongo import MongoClient

from tests.api import ADMIN_TOKEN, Api
from tests.servers import ServerProcess
from tests.ws import LEGACY_WS, TRANSPORT_WS, WsClient

NAMESPACES = ("alpha", "beta")
# Fields anyone may ask without a token (the schema itself, while public_schema is on).
PUBLIC_ROOT_FIELDS = frozenset({"_service", "__typename"})
# Object hops a root field's selection goes down; nested cases go one hop.
ROOT_DEPTH = 2


@dataclass
class Side:
    """One namespace's objects: one of each node type, and its artifact URLs."""

    namespace: str
    ids: dict[str, list[str]] = field(default_factory=dict)
    model_name: str = ""
    experiment_name: str = ""
    artifact_urls: list[str] = field(default_factory=list)
    admin: str = ""

    @property
    def all_ids(self) -> list[str]:
        return [i for ids in self.ids.values() for i in ids]

    @property
    def subject_ids(self) -> list[str]:
        kinds = ("Experiment", "ModelVersion", "Checkpoint", "Model")
        return [i for kind in kinds for i in self.ids.get(kind, [])]

    @property
    def secrets(self) -> list[str]:
        """What must never reach another namespace's caller: its marker and every id."""
        raw = [base64.urlsafe_b64decode(i + "=" * (-len(i) % 4)).decode() for i in self.all_ids]
        # Raw ids inside the global ones; a namespace's is its name, found by its global id
        # (a token with roles in both namespaces rightly names both in its audit events).
        inner = [r.split(":", 1)[1] for r in raw if not r.startswith("Namespace:")]
        return [f"{self.namespace}-secret", *self.all_ids, *inner]


@dataclass
class World:
    url: str
    sides: dict[str, Side]
    dead: dict[str, str | None]  # revoked, expired, none: tokens that once held alpha's ADMIN


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
}


class MissingRule(AssertionError):
    pass


@dataclass
class Case:
    label: str
    query: str
    variables: dict[str, Any]
    root: str


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
        """Required arguments from the rules (first value), plus `chosen` ones."""
        parts = []
        for arg_name, arg in gql_field.args.items():
            if chosen and arg_name in chosen:
                value = chosen[arg_name]
            elif is_required_argument(arg):
                values = rule_values(owner, name, arg_name, self.side)
                value = values[0]
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
    cases = []
    depth = ROOT_DEPTH if kind == "query" else 0
    for name, gql_field in root.fields.items():
        for chosen in root_variants(root.name, name, gql_field, side):
            for only in shapes(schema, gql_field.type):
                builder = QueryBuilder(schema, side)
                args = builder.arguments(root.name, name, gql_field, chosen)
                body = f"{name}{args} {builder.selection(gql_field.type, depth, only)}"
                label = f"{root.name}.{name}{sorted(chosen)}{' on ' + only.name if only else ''}"
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


# --- the world -------------------------------------------------------------------------

GQL = {
    "metrics": "mutation($i: LogMetricsInput!) { logMetrics(input: $i) { accepted } }",
    "events": "mutation($i: LogEventsInput!) { logEvents(input: $i) { id } }",
    "artifact": "mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { id uploadUrl } }",
    "track": "mutation($i: TrackArtifactInput!) { trackArtifact(input: $i) { id } }",
    "policy": "mutation($i: CreatePolicyInput!) { createPolicy(input: $i) { id } }",
    "evaluate": "mutation($i: EvaluatePolicyInput!) { evaluatePolicy(input: $i) { id } }",
}


async def _seed_side(api: Api, ns: str) -> Side:
    side = Side(ns, model_name=f"{ns}-secret-model", experiment_name=f"{ns}-secret-run")
    model = await api.create_model(ns, side.model_name, description=f"{ns}-secret")
    run = await api.create_experiment(ns, side.experiment_name, hyperparameters={"s": ns})
    checkpoint = await api.create_checkpoint(run["id"], 10, metadata={"m": f"{ns}-secret"})
    version = await api.create_version(
        model["id"],
        experimentId=run["id"],
        checkpointId=checkpoint["id"],
        description=f"{ns}-secret-version",
    )
    for subject in (run["id"], version["id"]):
        series = [{"key": "loss", "steps": [1, 2, 3], "values": [0.3, 0.2, 0.1]}]
        await api.ok(GQL["metrics"], {"i": {"subjectId": subject, "series": series}})
    events = await api.ok(
        GQL["events"], {"i": {"subjectId": run["id"], "events": [{"name": f"{ns}-secret-event"}]}}
    )
    uploaded = (
        await api.ok(
            GQL["artifact"], {"i": {"subjectId": version["id"], "name": f"{ns}-secret-weights.bin"}}
        )
    )["createArtifact"]
    put = await api.client.put(
        uploaded["uploadUrl"],
        content=b"weights",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert put.status_code == 200, put.text
    pending = (
        await api.ok(
            GQL["artifact"], {"i": {"subjectId": model["id"], "name": f"{ns}-secret-pending.bin"}}
        )
    )["createArtifact"]
    tracked = await api.ok(
        GQL["track"],
        {"i": {"subjectId": run["id"], "name": f"{ns}-secret-data", "uri": f"s3://b/{ns}-secret"}},
    )
    policy = await api.ok(
        GQL["policy"],
        {
            "i": {
                "namespace": ns,
                "name": f"{ns}-secret-policy",
                "kind": "PROMOTION",
                "modelId": model["id"],
                "conditions": [{"key": "loss", "op": "LTE", "value": 1.0}],
            }
        },
    )
    policy_id = policy["createPolicy"]["id"]
    evaluated = await api.ok(
        GQL["evaluate"],
        {"i": {"policyId": policy_id, "subjectId": checkpoint["id"], "dryRun": True}},
    )
    data = await api.ok(
        """query($ns: String!) { namespace(name: $ns) { id
             auditEvents(first: 1) { edges { node { id } } } } }""",
        {"ns": ns},
    )
    side.ids = {
        "Namespace": [data["namespace"]["id"]],
        "Model": [model["id"]],
        "Experiment": [run["id"]],
        "Checkpoint": [checkpoint["id"]],
        "ModelVersion": [version["id"]],
        "Event": [events["logEvents"][0]["id"]],
        "Artifact": [uploaded["id"], pending["id"], tracked["trackArtifact"]["id"]],
        "AuditEvent": [data["namespace"]["auditEvents"]["edges"][0]["node"]["id"]],
        "Policy": [policy_id],
        "PolicyEvaluation": [e["id"] for e in evaluated["evaluatePolicy"]],
    }
    side.artifact_urls = [uploaded["uploadUrl"], pending["uploadUrl"]]
    side.admin = await api.token((ns, "ADMIN"), name=f"admin-of-{ns}")
    return side


async def _try_cross_links(api: Api, sides: dict[str, Side]) -> None:
    """Lineage into the other namespace, as a token that reads both would try it."""
    for here, there in itertools.permutations(NAMESPACES):
        token = await api.token((here, "WRITER"), (there, "VIEWER"), name="linker")
        for field_name, kind in (("experimentId", "Experiment"), ("checkpointId", "Checkpoint")):
            await api.post(
                """mutation($i: CreateModelVersionInput!) { createModelVersion(input: $i) {
                     id } }""",
                {
                    "i": {
                        "modelId": sides[here].ids["Model"][0],
                        "description": f"{here}-secret-linked",
                        field_name: sides[there].ids[kind][0],
                    }
                },
                token,
            )


async def _seed(url: str) -> World:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        api = Api(client)
        sides = {ns: await _seed_side(api, ns) for ns in NAMESPACES}
        await _try_cross_links(api, sides)
        revoked = await api.token(("alpha", "ADMIN"), name="revoked")
        token_id = (await api.ok("{ viewer { id } }", token=revoked))["viewer"]["id"]
        await api.ok(
            "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }",
            {"id": token_id},
        )
        expires = datetime.now(UTC) + timedelta(seconds=1)
        data = await api.ok(
            """mutation($at: DateTime!) { createApiToken(input: {name: "expired",
                 roles: [{namespace: "alpha", role: ADMIN}], expiresAt: $at}) { token } }""",
            {"at": expires.isoformat()},
        )
        await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    dead = {"revoked": revoked, "expired": data["createApiToken"]["token"], "none": None}
    return World(url, sides, dead)


@pytest.fixture(scope="module")
def world(mongodb_uri: str) -> Iterator[World]:
    database = f"test_matrix_{uuid.uuid4().hex[:12]}"
    server = ServerProcess(
        {
            "MODELBOX_MONGODB_URI": mongodb_uri,
            "MODELBOX_DATABASE": database,
            "MODELBOX_ADMIN_TOKEN": ADMIN_TOKEN,
        }
    )
    try:
        server.start()
        yield asyncio.run(_seed(server.url))
    finally:
        server.stop()
        with MongoClient(mongodb_uri) as client:
            client.drop_database(database)


@pytest.fixture(scope="module")
def schema(world: World) -> GraphQLSchema:
    response = httpx.post(
        f"{world.url}/graphql",
        json={"query": get_introspection_query()},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    )
    return build_client_schema(response.json()["data"])


# --- running and judging ---------------------------------------------------------------


@dataclass
class Attack:
    """Who asks (the token) and whose data must not come back (the victim)."""

    name: str
    token: str | None
    victim: Side


def _attacks(world: World, dead_too: bool) -> list[Attack]:
    alpha, beta = world.sides["alpha"], world.sides["beta"]
    attacks = [Attack("beta-admin", beta.admin, alpha), Attack("alpha-admin", alpha.admin, beta)]
    if dead_too:
        attacks += [Attack(kind, token, alpha) for kind, token in world.dead.items()]
    return attacks


def _judge(attack: Attack, case: Case, transport: str, answer: Any) -> list[str]:
    text = json.dumps(answer)
    problems = [
        f"{transport} {attack.name} {case.label}: {secret!r} leaked in {text[:400]}"
        for secret in attack.victim.secrets
        if secret in text
    ]
    if attack.name in ("revoked", "expired", "none") and case.root not in PUBLIC_ROOT_FIELDS:
        codes = {
            e.get("extensions", {}).get("code")
            for message in (answer if isinstance(answer, list) else [answer])
            for e in _errors(message)
        }
        if codes != {"UNAUTHENTICATED"}:
            problems.append(f"{transport} {attack.name} {case.label}: not refused: {text[:300]}")
    return problems


def _errors(message: Any) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        return []
    payload = message.get("payload", message)
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        return list(payload.get("errors") or ([payload] if "message" in payload else []))
    return []


async def _over_ws(ws: WsClient, case: Case) -> list[dict[str, Any]]:
    """Every message the server sends for one query, until it completes."""
    op = await ws.subscribe(case.query, case.variables)
    messages = []
    while True:
        message = await ws.message(op, timeout=15)
        if message["type"] == "complete":
            return messages
        messages.append(message)
        if message["type"] == "error":
            return messages


async def test_root_query_fields_show_nothing_of_another_namespace(
    world: World, schema: GraphQLSchema
) -> None:
    assert schema.query_type is not None
    problems: list[str] = []
    for attack in _attacks(world, dead_too=True):
        cases = root_cases(schema, schema.query_type, "query", attack.victim)
        assert len(cases) >= len(schema.query_type.fields)
        problems += await _run_for(world, attack, cases)
    assert not problems, "\n".join(problems)


async def test_fields_that_reach_objects_show_nothing_of_another_namespace(
    world: World, schema: GraphQLSchema
) -> None:
    problems: list[str] = []
    for attack in _attacks(world, dead_too=False):
        # Asked on the victim's objects (which must not load) and on the caller's own
        # (whose links must not lead into the victim's namespace).
        own = next(s for s in world.sides.values() if s is not attack.victim)
        cases = nested_cases(schema, attack.victim) + nested_cases(schema, own)
        problems += await _run_for(world, attack, cases)
    assert not problems, "\n".join(problems)


async def _run_for(world: World, attack: Attack, cases: list[Case]) -> list[str]:
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=world.url, timeout=30) as client:
        api = Api(client)
        async with WsClient(world.url, token=attack.token) as ws:
            for case in cases:
                body = await api.post(case.query, case.variables, attack.token)
                problems += _judge(attack, case, "http", body)
                problems += _judge(attack, case, "ws", await _over_ws(ws, case))
    return problems


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
        for attack in _attacks(world, dead_too=True):
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
                    problems += _judge(attack, case, protocol, received)
    assert not problems, "\n".join(problems)


async def test_artifact_urls_serve_nothing_to_another_namespace(world: World) -> None:
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for attack in _attacks(world, dead_too=True):
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
