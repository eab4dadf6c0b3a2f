"""The isolation matrix's world and judge (tests/test_isolation_matrix.py for reads and
subscriptions, tests/test_isolation_mutations.py for writes).

The same objects in two namespaces, made through the public API by a server of its own;
tokens that once held alpha's ADMIN (revoked, expired) and none; each case is asked by
the other namespace's ADMIN and by those dead tokens, over HTTP and over WebSocket, and
no answer may hold the victim's names or ids.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from graphql import GraphQLSchema, build_client_schema, get_introspection_query
from pymongo import MongoClient

from tests.api import ADMIN_TOKEN, Api
from tests.servers import ServerProcess
from tests.ws import WsClient

NAMESPACES = ("alpha", "beta")
# Fields anyone may ask without a token (the schema itself, while public_schema is on).
PUBLIC_ROOT_FIELDS = frozenset({"_service", "__typename"})
# Object hops a root field's selection goes down; nested cases go one hop.


@dataclass
class Side:
    """One namespace's objects: one of each node type, and its artifact URLs."""

    namespace: str
    ids: dict[str, list[str]] = field(default_factory=dict)
    model_name: str = ""
    experiment_name: str = ""
    artifact_urls: list[str] = field(default_factory=list)
    admin: str = ""
    # A WRITER token of this namespace, and its id (for revokeApiToken).
    writer: str = ""
    writer_id: str = ""

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


@dataclass
class Case:
    label: str
    query: str
    variables: dict[str, Any]
    root: str


# --- the world -------------------------------------------------------------------------

SHARED_KEY = "same-key-everywhere"
GQL = {
    "metrics": "mutation($i: LogMetricsInput!) { logMetrics(input: $i) { accepted } }",
    "events": "mutation($i: LogEventsInput!) { logEvents(input: $i) { id } }",
    "artifact": "mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { id uploadUrl } }",
    "track": "mutation($i: TrackArtifactInput!) { trackArtifact(input: $i) { id } }",
    "policy": "mutation($i: CreatePolicyInput!) { createPolicy(input: $i) { id } }",
    "evaluate": "mutation($i: EvaluatePolicyInput!) { evaluatePolicy(input: $i) { id } }",
}


async def seed_side(api: Api, ns: str) -> Side:
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
        GQL["events"],
        {
            "i": {
                "subjectId": run["id"],
                "events": [{"name": f"{ns}-secret-event"}],
                # The same key in both namespaces: neither may answer with the other's events.
                "idempotencyKey": SHARED_KEY,
            }
        },
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
    side.writer = await api.token((ns, "WRITER"), name=f"writer-of-{ns}")
    side.writer_id = (await api.ok("{ viewer { id } }", token=side.writer))["viewer"]["id"]
    return side


async def try_cross_links(api: Api, sides: dict[str, Side]) -> None:
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


async def seed(url: str) -> World:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        api = Api(client)
        sides = {ns: await seed_side(api, ns) for ns in NAMESPACES}
        await try_cross_links(api, sides)
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


@contextmanager
def served_world(mongodb_uri: str) -> Iterator[World]:
    """A server of its own with the world seeded, stopped and dropped afterwards."""
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
        yield asyncio.run(seed(server.url))
    finally:
        server.stop()
        with MongoClient(mongodb_uri) as client:
            client.drop_database(database)


def live_schema(world: World) -> GraphQLSchema:
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


def attacks(world: World, dead_too: bool) -> list[Attack]:
    alpha, beta = world.sides["alpha"], world.sides["beta"]
    attacks = [Attack("beta-admin", beta.admin, alpha), Attack("alpha-admin", alpha.admin, beta)]
    if dead_too:
        attacks += [Attack(kind, token, alpha) for kind, token in world.dead.items()]
    return attacks


def judge(attack: Attack, case: Case, transport: str, answer: Any) -> list[str]:
    text = json.dumps(answer)
    problems = [
        f"{transport} {attack.name} {case.label}: {secret!r} leaked in {text[:400]}"
        for secret in attack.victim.secrets
        if secret in text
    ]
    errors = [e for m in (answer if isinstance(answer, list) else [answer]) for e in errors_of(m)]
    if any("_per_request)" in str(e.get("message")) for e in errors):
        # Refused for its size before anything ran: the case tests nothing.
        problems.append(f"{transport} {attack.name} {case.label}: too big: {text[:300]}")
    if any("this belongs to does not exist" in str(e.get("message")) for e in errors):
        # Nothing in the world is deleted: an object whose owner the caller cannot read came
        # back (its error nulls the answer around it, which would hide the leak).
        problems.append(f"{transport} {attack.name} {case.label}: unreadable owner: {text[:300]}")
    if attack.name in ("revoked", "expired", "none") and case.root not in PUBLIC_ROOT_FIELDS:
        codes = {e.get("extensions", {}).get("code") for e in errors}
        if codes != {"UNAUTHENTICATED"}:
            problems.append(f"{transport} {attack.name} {case.label}: not refused: {text[:300]}")
    return problems


def errors_of(message: Any) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        return []
    payload = message.get("payload", message)
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        return list(payload.get("errors") or ([payload] if "message" in payload else []))
    return []


async def over_ws(ws: WsClient, case: Case) -> list[dict[str, Any]]:
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


Judge = Callable[[Attack, Case, str, Any], list[str]]


async def run_for(
    world: World, attack: Attack, cases: list[Case], extra: Judge | None = None
) -> list[str]:
    """Each case over HTTP, then over one WebSocket, judged (and by `extra`, if given)."""
    problems: list[str] = []
    judges = [judge] if extra is None else [judge, extra]
    async with httpx.AsyncClient(base_url=world.url, timeout=30) as client:
        api = Api(client)
        async with WsClient(world.url, token=attack.token) as ws:
            for case in cases:
                body = await api.post(case.query, case.variables, attack.token)
                ws_answer = await over_ws(ws, case)
                for check in judges:
                    problems += check(attack, case, "http", body)
                    problems += check(attack, case, "ws", ws_answer)
    return problems
