"""Fuzzing a real server with Schemathesis' GraphQL mode, seeded with the ids of a real world.

Random ids never get past id validation, so `ID` arguments are drawn mostly from the ids of
a fixture world (tests/world.py), and strings mostly from its names; the other arguments
are fuzzed: wrong types (Schemathesis' negative mode), extremes, unicode, NUL, deep and wide
JSON, long lists. Every answer must be a GraphQL answer: no 5xx, no INTERNAL_SERVER_ERROR,
no hang. Used by tests/test_fuzz.py (bounded) and bench/fuzz.py (long).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import graphql
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.graphql import nodes

from tests.world import World

# An answer slower than this is a hang.
TIMEOUT = 20.0
# Operations that would end the run for everything after them (the token the fuzzer uses).
SPARED = {"revokeApiToken"}

INT64 = 2**63
EXTREME_INTS = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, INT64 - 1, INT64, -INT64 - 1, 10**30]
EXTREME_FLOATS = [0.0, -0.0, 1e308, -1e308, 5e-324, 1.7976931348623157e308]
DATETIMES = [
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1969-12-31T23:59:59.999Z",
    "2500-01-01",
    "not a date",
    "",
]
# Characters that have broken servers: NUL, surrogates' neighbours, RTL, emoji, escapes.
NASTY_TEXT = st.text(
    alphabet=st.sampled_from(
        ["\x00", "\ufeff", "\u202e", "😀", "$", ".", "%", "\\", '"', "a", "é"]
    ),
    max_size=40,
)
NAME = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,8}", fullmatch=True)


def _to_ast(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal (object keys are GraphQL names there)."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_to_ast(v) for v in value])
    return nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_to_ast(v))
            for k, v in value.items()
        ]
    )


def json_values() -> st.SearchStrategy[Any]:
    """Deep, wide and extreme JSON: big integers, long strings, NUL, nesting."""
    scalars = (
        st.none()
        | st.booleans()
        | st.sampled_from(EXTREME_INTS)
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | NASTY_TEXT
    )
    nested = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=8) | st.dictionaries(NAME, children, max_size=8)
        ),
        max_leaves=60,
    )
    deep = st.integers(1, 80).map(_deep)
    wide = st.integers(100, 2000).map(lambda n: {f"k{i}": i for i in range(n)})
    return st.one_of(nested, deep, wide)


def _deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = {"d": value} if i % 2 else [value]
    return value


def representations(world: World) -> st.SearchStrategy[graphql.ValueNode]:
    """Federation `_Any`: real keys, and keys that are wrong in every way."""
    real = [{"__typename": t, "id": i} for t, ids in world.ids.items() for i in ids]
    real += [{"__typename": "Namespace", "name": n} for n in world.namespaces]
    wrong = st.fixed_dictionaries(
        {},
        optional={
            "__typename": st.sampled_from([*world.ids, "Query", "Nope", ""]) | st.integers(),
            "id": st.sampled_from([i for ids in world.ids.values() for i in ids])
            | st.integers()
            | st.lists(st.integers(), max_size=2),
            "name": NASTY_TEXT | st.integers(),
        },
    )
    return (st.sampled_from(real) | wrong).map(_to_ast)


def seeded_scalars(world: World) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    ids = [i for values in world.ids.values() for i in values]
    names = [*world.namespaces, *world.metric_keys, *world.event_names, "m0", "run1", "weights.bin"]
    return {
        "ID": (
            st.sampled_from(ids) | NASTY_TEXT | st.sampled_from(["", "TW9kZWw6", "x" * 5000])
        ).map(nodes.String),
        "String": (st.sampled_from(names) | NASTY_TEXT | st.text(max_size=300)).map(nodes.String),
        "Int": st.sampled_from(EXTREME_INTS).map(nodes.Int) | st.integers(-5, 200).map(nodes.Int),
        "Long": (st.sampled_from(EXTREME_INTS) | st.integers()).map(nodes.Int),
        "Float": st.sampled_from(EXTREME_FLOATS).map(nodes.Float)
        | st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        "DateTime": st.sampled_from(DATETIMES).map(nodes.String),
        "JSON": json_values().map(_to_ast),
        "Base64": (st.binary(max_size=64).map(lambda b: b.hex()) | NASTY_TEXT).map(nodes.String),
        "_Any": representations(world),
    }


# Which type an id argument names, by the argument's name.
ID_FIELDS = {"modelId": "Model", "targetModelId": "Model", "experimentId": "Experiment"}
ID_FIELDS |= {"checkpointId": "Checkpoint", "policyId": "Policy"}
# `updateModelVersion(input: {id})` names a ModelVersion.
BY_OPERATION = re.compile(r"(?:update|delete|revoke|evaluate)([A-Z]\w*)")
HUGE_LIST = 5000
SCALAR_NODES = (graphql.StringValueNode, graphql.IntValueNode, graphql.FloatValueNode)


class Seeder(graphql.Visitor):
    """Gives id arguments an id of the type they name, and makes some lists huge."""

    def __init__(self, world: World, operation: str, rng: random.Random) -> None:
        super().__init__()
        self.world, self.rng = world, rng
        found = BY_OPERATION.fullmatch(operation)
        self.own_type = found.group(1) if found else None

    def _expected(self, name: str) -> str | None:
        return ID_FIELDS.get(name) or (self.own_type if name == "id" else None)

    def enter_object_field(self, node: graphql.ObjectFieldNode, *_: Any) -> Any:
        return self._seed(node)

    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
        return self._seed(node)

    def _seed(self, node: Any) -> Any:
        expected = self._expected(node.name.value)
        ids = self.world.ids.get(expected or "")
        if ids and isinstance(node.value, graphql.StringValueNode) and self.rng.random() < 0.8:
            return node.__class__(name=node.name, value=nodes.String(self.rng.choice(ids)))
        return None

    def enter_list_value(self, node: graphql.ListValueNode, *_: Any) -> Any:
        scalars = all(isinstance(v, SCALAR_NODES) for v in node.values)
        if node.values and scalars and self.rng.random() < 0.03:
            return nodes.List(list(node.values) * (HUGE_LIST // len(node.values) + 1))
        return None


class OutOfTime(Exception):
    """The run's deadline passed."""


@dataclass
class Finding:
    operation: str
    query: str
    status: int
    detail: str


@dataclass
class FuzzRun:
    url: str
    token: str
    world: World
    # Cases per operation and generation mode.
    examples: int
    seed: int | None = None
    cases: int = 0
    findings: list[Finding] = field(default_factory=list)
    slowest: float = 0.0
    operations: int = 0
    # Past this (time.monotonic()), no more cases are sent: a slow run ends, never hangs.
    deadline: float = float("inf")
    out_of_time: bool = False
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def run(self, on_progress: Callable[[FuzzRun], None] | None = None) -> FuzzRun:
        for name, scalar in seeded_scalars(self.world).items():
            schemathesis.graphql.scalar(name, scalar)
        headers = {"Authorization": f"Bearer {self.token}"}
        schema = schemathesis.graphql.from_url(
            f"{self.url}/graphql", headers=headers, timeout=TIMEOUT
        )
        session = requests.Session()
        session.headers.update(headers)
        for operation in self._operations(schema):
            if self.out_of_time:
                break
            self.operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self._fuzz(operation, mode, session)
            if on_progress is not None:
                on_progress(self)
        return self

    @staticmethod
    def _operations(schema: Any) -> Iterator[Any]:
        """Queries first, then mutations, deletions last (they shrink the world)."""
        found = [result.ok() for result in schema.get_all_operations()]
        found = [op for op in found if op.definition.field_name not in SPARED]

        def order(op: Any) -> tuple[bool, bool, str]:
            name = op.definition.field_name
            return (op.definition.is_mutation, name.startswith("delete"), name)

        return iter(sorted(found, key=order))

    def _fuzz(self, operation: Any, mode: GenerationMode, session: requests.Session) -> None:
        try:
            strategy = operation.as_strategy(generation_mode=mode)
        except Exception:  # no negative cases possible for this operation
            return

        @settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            derandomize=self.seed is not None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def one(case: Any) -> None:
            self._check(operation.definition.field_name, case, session)

        try:
            one()
        except OutOfTime:
            self.out_of_time = True

    def _seeded(self, name: str, query: str) -> str:
        try:
            document = graphql.parse(query)
        except graphql.GraphQLError:
            return query  # a syntax error is a case too
        seeder = Seeder(self.world, name, self._rng)
        return graphql.print_ast(graphql.visit(document, seeder))

    def _check(self, name: str, case: Any, session: requests.Session) -> None:
        if time.monotonic() > self.deadline:
            raise OutOfTime
        self.cases += 1
        query = self._seeded(name, case.body if isinstance(case.body, str) else "")
        started = time.monotonic()
        try:
            response = session.post(f"{self.url}/graphql", json={"query": query}, timeout=TIMEOUT)
        except requests.Timeout:
            self.findings.append(Finding(name, query, 0, f"no answer within {TIMEOUT} s"))
            return
        except requests.ConnectionError as error:
            self.findings.append(Finding(name, query, 0, f"connection dropped: {error}"))
            return
        self.slowest = max(self.slowest, time.monotonic() - started)
        if response.status_code >= 500:
            self.findings.append(Finding(name, query, response.status_code, response.text[:300]))
            return
        try:
            body = response.json()
        except ValueError:
            self.findings.append(Finding(name, query, response.status_code, "not JSON"))
            return
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            if code in (None, "INTERNAL_SERVER_ERROR"):
                self.findings.append(Finding(name, query, response.status_code, str(error)[:300]))
                return

    def report(self) -> str:
        lines = [f"{self.cases} cases over {self.operations} operations, {len(self)} server errors"]
        if self.out_of_time:
            lines[0] += " (stopped at the deadline)"
        for finding in self.findings[:10]:
            lines.append(f"- {finding.operation} [{finding.status}] {finding.detail}")
            lines.append(f"  {finding.query[:500]}")
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.findings)
