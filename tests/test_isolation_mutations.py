"""The isolation matrix for writes, generated from the live schema: nobody changes another
namespace, or links to it, or learns of it by writing.

Every Mutation field's input is built from its input type: ids from the namespace under
attack (the object the mutation names, every subject, every optional id on its own), and
the same with the caller's own objects and one of the victim's ids among the optional ones
(lineage, a policy's target model). Optional ids and optional fields with a rule below are filled
too (`idempotencyKey` with a key both namespaces used, `metrics`, which re-evaluates PROMOTION
policies). Each is sent by the other namespace's ADMIN, which must be refused NOT_FOUND or
FORBIDDEN, and by tokens that once held the victim's ADMIN (revoked, expired) and none,
refused UNAUTHENTICATED, over HTTP and WebSocket; no answer may hold the victim's names or
ids, and the victim's namespace reads the same afterwards. A new input field of a kind no
rule can fill fails the run, naming itself.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    is_required_input_field,
)

from tests.api import Api
from tests.isolation import (
    SHARED_KEY,
    Attack,
    Case,
    Side,
    World,
    attacks,
    errors_of,
    live_schema,
    run_for,
    served_world,
)

SCALARS: dict[str, Any] = {
    "String": "intruder",
    "Int": 1,
    "Long": 1,
    "Float": 0.0,
    "Boolean": True,
    "JSON": {"intruder": True},
    "DateTime": "2099-01-01T00:00:00Z",
    "Base64": "aW50cnVkZXI=",
}
# Optional fields filled although not required: what the attack is about, or what makes
# the input valid (a series needs values).
OPTIONAL = {
    "idempotencyKey": SHARED_KEY,
    "metrics": [{"key": "loss", "value": 0.0}],
    "values": [0.0],
    "uri": "s3://intruder/x",
    "conditions": [{"key": "loss", "op": "LTE", "value": 1.0}],
}
# A required string field whose value must have a shape.
STRINGS = {"uri": "s3://intruder/x", "key": "loss"}
VERBS = ("create", "update", "delete", "revoke", "evaluate", "track", "log")
REFUSED = {"NOT_FOUND", "FORBIDDEN"}


def kind_of_id(mutation: str, field_name: str, side: Side) -> list[str]:
    """The ids an ID field can take from `side`: `id` names the mutation's own type,
    `...Id` its kind (`targetModelId` a Model, `subjectId` any subject)."""
    if field_name == "subjectId":
        return side.subject_ids
    kinds = {**side.ids, "ApiToken": [side.writer_id]}
    name = mutation if field_name == "id" else field_name[: -len("Id")]
    for verb in VERBS:
        if field_name == "id" and name.startswith(verb):
            name = name[len(verb) :]
    matches = [k for k in kinds if name.lower().endswith(k.lower())]
    if not matches:
        raise AssertionError(f"no object of the world fits {mutation}.{field_name}: add one")
    return kinds[max(matches, key=len)]


class InputBuilder:
    """Input values of one mutation, ids and namespaces taken from a side."""

    def __init__(self, mutation: str, ids: Side, namespace: str) -> None:
        self.mutation = mutation
        self.ids = ids
        self.namespace = namespace

    def value(self, name: str, t: GraphQLInputType) -> Any:
        if isinstance(t, GraphQLNonNull):
            return self.value(name, t.of_type)
        if isinstance(t, GraphQLList):
            return [self.value(name, t.of_type)]
        if isinstance(t, GraphQLInputObjectType):
            return self.object(t)
        if isinstance(t, GraphQLEnumType):
            return next(iter(t.values))
        assert isinstance(t, GraphQLScalarType)
        if t.name == "ID":
            return kind_of_id(self.mutation, name, self.ids)[0]
        if name == "namespace":
            return self.namespace
        if t.name == "String" and name in STRINGS:
            return STRINGS[name]
        if t.name not in SCALARS:
            raise AssertionError(f"{self.mutation}.{name}: no value for scalar {t.name}: add one")
        return SCALARS[t.name]

    def object(self, t: GraphQLInputObjectType) -> dict[str, Any]:
        built = {}
        for name, f in t.fields.items():
            if name in OPTIONAL and not is_required_input_field(f):
                built[name] = OPTIONAL[name]
            elif is_required_input_field(f) or _named(f.type) == "ID":
                built[name] = self.value(name, f.type)
        return built


def _optional_ids(t: GraphQLInputObjectType) -> dict[str, GraphQLInputField]:
    return {
        n: f
        for n, f in t.fields.items()
        if not is_required_input_field(f) and _named(f.type) == "ID"
    }


def _named(t: GraphQLInputType) -> str:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return str(getattr(t, "name", ""))


def mutation_cases(schema: GraphQLSchema, victim: Side, own: Side) -> list[Case]:
    """Every mutation on the victim's objects, and on the caller's own objects with one
    optional id of the victim's (a link into the victim's namespace)."""
    assert schema.mutation_type is not None
    cases = []
    for name, gql_field in schema.mutation_type.fields.items():
        [(arg, argument)] = gql_field.args.items()
        input_type = argument.type.of_type if isinstance(argument.type, GraphQLNonNull) else None
        assert isinstance(input_type, GraphQLInputObjectType), f"{name} takes one input object"
        query = f"mutation($i: {argument.type}) {{ {name}({arg}: $i) {{ __typename }} }}"
        base = InputBuilder(name, victim, victim.namespace).object(input_type)
        variants = [(f"{name} on the victim's", base)]
        required = {n for n, f in input_type.fields.items() if is_required_input_field(f)}
        ids = [n for n in required if _named(input_type.fields[n].type) == "ID"]
        for n in ids if "subjectId" in ids else []:
            variants += [(f"{name}.{n}={i}", {**base, n: i}) for i in victim.subject_ids]
        mine = InputBuilder(name, own, own.namespace).object(input_type)
        for n in _optional_ids(input_type):
            victims = kind_of_id(name, n, victim)
            variants += [(f"{name}.{n} of the victim's", {**base, n: i}) for i in victims]
            variants += [(f"{name} of mine, {n} of the victim's", {**mine, n: i}) for i in victims]
        cases += [Case(label, query, {"i": v}, name) for label, v in variants]
    return cases


def _refused(attack: Attack, case: Case, transport: str, answer: Any) -> list[str]:
    """The other namespace's ADMIN is refused as if the victim's objects did not exist."""
    messages = answer if isinstance(answer, list) else [answer]
    # An id of the wrong kind is told from the id itself, whoever owns the object.
    codes = (
        {
            e.get("extensions", {}).get("code")
            for m in messages
            for e in errors_of(m)
            if "not the id of a" not in e.get("message", "")
        }
        or {"NOT_FOUND"}
        if any(errors_of(m) for m in messages)
        else set()
    )
    if attack.name.endswith("admin") and (not codes or not codes <= REFUSED):
        return [f"{transport} {attack.name} {case.label}: {codes}: {json.dumps(answer)[:300]}"]
    return []


async def _snapshot(world: World, side: Side) -> str:
    """What the victim's namespace reads like to its own ADMIN."""
    async with httpx.AsyncClient(base_url=world.url, timeout=30) as client:
        data = await Api(client).ok(
            """query($ns: String!, $ids: [ID!]!) {
                 namespace(name: $ns) { events { totalCount } policies { totalCount }
                   models { totalCount } experiments { totalCount } auditEvents { totalCount } }
                 nodes(ids: $ids) { id
                   ... on Checkpoint { metrics { key value } metadata modelVersions { totalCount } }
                   ... on Model { description versions { totalCount } }
                   ... on Policy { name enabled } } }""",
            {"ns": side.namespace, "ids": side.all_ids},
            token=side.admin,
        )
        writer = await Api(client).post("{ viewer { id } }", token=side.writer)
    return json.dumps([data, writer], sort_keys=True)


@pytest.fixture(scope="module")
def world(mongodb_uri: str) -> Iterator[World]:
    with served_world(mongodb_uri) as seeded:
        yield seeded


async def test_mutations_change_and_show_nothing_of_another_namespace(world: World) -> None:
    schema = live_schema(world)
    before = {ns: await _snapshot(world, side) for ns, side in world.sides.items()}
    problems: list[str] = []
    for attack in attacks(world, dead_too=True):
        own = next(s for s in world.sides.values() if s is not attack.victim)
        cases = mutation_cases(schema, attack.victim, own)
        assert schema.mutation_type is not None
        assert {c.root for c in cases} == set(schema.mutation_type.fields)
        problems += await run_for(world, attack, cases, extra=_refused)
    for ns, side in world.sides.items():
        if await _snapshot(world, side) != before[ns]:
            problems.append(f"{ns} changed:\n{before[ns]}\n{await _snapshot(world, side)}")
    assert not problems, "\n".join(problems)


async def test_an_idempotency_key_answers_only_with_its_own_subjects_events(
    world: World,
) -> None:
    """Both namespaces logged events with the same key: each namespace's writer, sending
    its batch again on every subject it may write, gets its own events or new ones, never
    the other's; the key with another batch is refused (CONFLICT), naming none of them."""
    log = "mutation($i: LogEventsInput!) { logEvents(input: $i) { id name } }"
    problems = []
    async with httpx.AsyncClient(base_url=world.url, timeout=30) as client:
        api = Api(client)
        for me, other in itertools.permutations(world.sides.values()):
            for subject in me.subject_ids:
                variables = {"i": {"subjectId": subject, "idempotencyKey": SHARED_KEY}}
                variables["i"]["events"] = [{"name": f"{me.namespace}-secret-event"}]
                data = await api.ok(log, variables, token=me.writer)
                variables["i"]["events"] = [{"name": "retry"}]
                body = await api.post(log, variables, token=me.writer)
                text = json.dumps([data, body])
                problems += [f"{me.namespace} got {s!r}" for s in other.secrets if s in text]
                assert data["logEvents"], "a key answers with the events it stored"
                assert [e["extensions"]["code"] for e in body["errors"]] == ["CONFLICT"]
    assert not problems, "\n".join(problems)
