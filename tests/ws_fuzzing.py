"""Fuzzing every subscription field of the live schema over WebSockets, seeded with real ids.

Schemathesis does not generate subscriptions, so cases are drawn here from the introspected
schema with a seeded `random.Random`: each argument gets, by its type, real ids and names of
a fixture world (tests/world.py; ids of a namespace the token cannot read too), wrong types,
extremes, unicode and NUL, huge lists, nulls, or is left out; values go as variables or
inline. Each case is sent on a long-lived socket; whatever answers must carry an
`extensions.code` other than INTERNAL_SERVER_ERROR, the socket must never close, and a probe
query after each batch must be answered in time (else it is a hang). Subscriptions left
listening are poked by writes to the world, so their payloads are checked too. Used by
tests/test_ws_fuzz.py (bounded) and bench/fuzz.py (long).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import graphql
import websockets

from tests.fuzzing import EXTREME_FLOATS, EXTREME_INTS, HUGE_LIST
from tests.world import World
from tests.ws import TRANSPORT_WS, WsClient

# Long enough for an error to come back; a case quiet this long is listening.
QUIET_SECONDS = 0.2
# A probe not answered within this is a hang.
TIMEOUT = 20.0
BATCH = 12
NASTY = ["\x00", "a\x00b", "\ufeff", "\u202e", "😀" * 50, "$where", "a.b", "%", "", " ", "é"]
WRONG_TYPES: list[Any] = [0, -1, 1.5, True, {"a": 1}, [1, 2], {}, []]


def _named(type_: graphql.GraphQLInputType) -> graphql.GraphQLNamedType:
    return graphql.get_named_type(type_)  # type: ignore[no-any-return]


@dataclass
class Field:
    name: str
    args: dict[str, graphql.GraphQLArgument]
    selection: str


def subscription_fields(introspection: dict[str, Any]) -> list[Field]:
    """Every subscription field, with a selection of its scalars and its objects' types."""
    schema = graphql.build_client_schema(introspection)  # type: ignore[arg-type]
    assert schema.subscription_type is not None
    fields = []
    for name, definition in schema.subscription_type.fields.items():
        returned = graphql.get_named_type(definition.type)
        assert isinstance(returned, graphql.GraphQLObjectType)
        picked = ["__typename"]
        for child, child_field in returned.fields.items():
            if any(graphql.is_non_null_type(a.type) for a in child_field.args.values()):
                continue
            leaf = graphql.get_named_type(child_field.type)
            picked.append(child if graphql.is_leaf_type(leaf) else f"{child} {{ __typename }}")
        fields.append(Field(name, dict(definition.args), " ".join(picked)))
    return fields


@dataclass
class Values:
    """Argument values by GraphQL type, drawn from the world and from everything hostile."""

    world: World
    rng: random.Random

    def draw(self, type_: graphql.GraphQLInputType) -> Any:
        rng = self.rng
        if graphql.is_non_null_type(type_):
            return None if rng.random() < 0.05 else self.draw(type_.of_type)  # type: ignore[union-attr]
        if rng.random() < 0.05:
            return rng.choice(WRONG_TYPES)
        if graphql.is_list_type(type_):
            item = type_.of_type  # type: ignore[union-attr]
            roll = rng.random()
            if roll < 0.1:
                return [self.draw(item)] * (HUGE_LIST + rng.randrange(2))
            if roll < 0.2:
                return self.draw(item)  # a single value stands for a list of one
            return [self.draw(item) for _ in range(rng.randrange(4))]
        return self._scalar(_named(type_).name)

    def _scalar(self, name: str) -> Any:
        rng, world = self.rng, self.world
        ids = [i for values in world.ids.values() for i in values]
        names = [*world.namespaces, *world.metric_keys, *world.event_names, "nope"]
        pools: dict[str, list[Any]] = {
            "ID": ids * 3 + NASTY + ["TW9kZWw6", "x" * 5000, 7],
            "String": names * 3 + NASTY + ["x" * 5000, 7],
            "Long": [*EXTREME_INTS, 1, 2, 3, "1", 1.5, *EXTREME_FLOATS],
            "Int": [*EXTREME_INTS, 0, 5, "5"],
            "Boolean": [True, False, "true", 0],
        }
        return rng.choice(pools.get(name, NASTY + WRONG_TYPES))


def _document(field: Field, values: dict[str, Any], inline: set[str]) -> str:
    """The operation, with `inline` arguments written as literals and the rest as variables."""
    declared, passed = [], []
    for name, arg in field.args.items():
        if name not in values:
            continue
        if name in inline:
            passed.append(f"{name}: {graphql.print_ast(_literal(values[name]))}")
        else:
            declared.append(f"${name}: {arg.type}")
            passed.append(f"{name}: ${name}")
    head = f"({', '.join(declared)})" if declared else ""
    args = f"({', '.join(passed)})" if passed else ""
    return f"subscription{head} {{ {field.name}{args} {{ {field.selection} }} }}"


def _literal(value: Any) -> graphql.ValueNode:
    """Any JSON value as a GraphQL literal (wrong types included: validation refuses them)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float):
        return graphql.FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return graphql.StringValueNode(value=value)
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(_literal(v) for v in value))
    return graphql.ObjectValueNode(
        fields=tuple(
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_literal(v))
            for k, v in value.items()
        )
    )


@dataclass
class Finding:
    field: str
    query: str
    variables: dict[str, Any]
    detail: str


@dataclass
class WsFuzzRun:
    url: str
    # Tokens to fuzz as: an admin, and one that reads only some of the world's namespaces.
    tokens: list[str]
    world: World
    fields: list[Field]
    # Cases per subscription field and protocol.
    examples: int
    # Writes to the world that every subscription field reports (its subscribers are poked).
    poke: Callable[[], Awaitable[None]]
    protocols: tuple[str, ...] = (TRANSPORT_WS,)
    seed: int = 0
    cases: int = 0
    answered: int = 0
    listening: int = 0
    delivered: int = 0
    # Deliveries after a poke, by field: which fields' payloads were checked live.
    delivered_by_field: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    deadline: float = float("inf")
    out_of_time: bool = False

    async def run(self) -> WsFuzzRun:
        rng = random.Random(self.seed)
        for protocol in self.protocols:
            for field_ in self.fields:
                cases = [self._case(field_, rng) for _ in range(self.examples)]
                for start in range(0, len(cases), BATCH):
                    if time.monotonic() > self.deadline:
                        self.out_of_time = True
                        return self
                    await self._batch(field_, cases[start : start + BATCH], protocol, rng)
        return self

    def _case(self, field_: Field, rng: random.Random) -> tuple[str, dict[str, Any], set[str]]:
        values = Values(self.world, rng)
        chosen = {
            name: values.draw(arg.type)
            for name, arg in field_.args.items()
            if graphql.is_non_null_type(arg.type) or rng.random() < 0.7
        }
        inline = {name for name in chosen if rng.random() < 0.2}
        variables = {k: v for k, v in chosen.items() if k not in inline}
        return _document(field_, chosen, inline), variables, inline

    async def _batch(
        self,
        field_: Field,
        cases: list[tuple[str, dict[str, Any], set[str]]],
        protocol: str,
        rng: random.Random,
    ) -> None:
        token = rng.choice(self.tokens)
        sent: dict[str, tuple[str, dict[str, Any]]] = {}
        client = WsClient(self.url, token=token, protocol=protocol, max_size=None)
        try:
            await client.connect()
            for query, variables, _ in cases:
                self.cases += 1
                op = await client.subscribe(query, variables)
                sent[op] = (query, variables)
                if await self._answers(client, field_.name, op, query, variables, QUIET_SECONDS):
                    self.answered += 1
                else:
                    self.listening += 1
            await self.poke()
            for op, (query, variables) in sent.items():
                while await self._answers(client, field_.name, op, query, variables, 0.05):
                    self.delivered += 1
                    self.delivered_by_field[field_.name] += 1
                await client.stop(op)
            # The socket still answers, in time.
            probe = await client.subscribe("{ __typename }")
            if await client.next(probe, timeout=TIMEOUT) != {"__typename": "Query"}:
                self._found(field_.name, "{ __typename }", {}, "the probe got a wrong answer")
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else "none"
            reason = closed.rcvd.reason if closed.rcvd else ""
            self._last(field_.name, sent, f"socket closed (code {code}) {reason}")
        except TimeoutError:
            self._last(field_.name, sent, f"no answer to the probe within {TIMEOUT} s")
        finally:
            await client.close()

    async def _answers(
        self,
        client: WsClient,
        name: str,
        op: str,
        query: str,
        variables: dict[str, Any],
        wait: float,
    ) -> bool:
        """Whether `op` said something within `wait` (checked); False if it is listening."""
        try:
            message = await client.message(op, wait)
        except TimeoutError:
            return False
        kind, payload = message["type"], message.get("payload")
        if kind == "complete":
            return True
        if kind == "error":
            errors = payload if isinstance(payload, list) else [payload]
        elif kind in ("next", "data") and isinstance(payload, dict):
            errors = payload.get("errors") or []
        else:
            self._found(name, query, variables, f"unexpected message {message}"[:300])
            return True
        for error in errors:
            code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
            if code in (None, "INTERNAL_SERVER_ERROR"):
                self._found(name, query, variables, str(error)[:300])
        return True

    def _found(self, name: str, query: str, variables: dict[str, Any], detail: str) -> None:
        self.findings.append(Finding(name, query, variables, detail))

    def _last(self, name: str, sent: dict[str, tuple[str, dict[str, Any]]], detail: str) -> None:
        query, variables = list(sent.values())[-1] if sent else ("", {})
        self._found(name, query, variables, detail)

    def report(self) -> str:
        lines = [
            f"{self.cases} subscription cases over {len(self.fields)} fields"
            f" ({self.answered} answered at once, {self.listening} listening,"
            f" {self.delivered} deliveries after a poke), {len(self)} findings",
            "deliveries by field: "
            + ", ".join(f"{name} {n}" for name, n in sorted(self.delivered_by_field.items())),
        ]
        if self.out_of_time:
            lines[0] += " (stopped at the deadline)"
        for finding in self.findings[:10]:
            variables = str(finding.variables)[:200]
            lines.append(
                f"- {finding.field}: {finding.detail}\n  {finding.query[:300]} {variables}"
            )
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.findings)


async def fetch_fields(client: Any, token: str) -> list[Field]:
    """The subscription fields of the running server's schema (an httpx client on it)."""
    response = await client.post(
        "/graphql",
        json={"query": graphql.get_introspection_query()},
        headers={"Authorization": f"Bearer {token}"},
    )
    return subscription_fields(response.json()["data"])
