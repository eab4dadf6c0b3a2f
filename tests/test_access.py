"""Access control: every root field and nested path, with tokens that must see nothing."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.api import Api


@dataclass
class World:
    """Objects in namespace `alpha`, and a `beta` version trained in a `beta` experiment.

    Lineage into alpha is refused when made (tests/test_lineage_namespaces.py).
    """

    model: str
    version: str
    experiment: str
    checkpoint: str
    beta_version: str
    alpha_token_id: str

    @property
    def alpha_ids(self) -> list[str]:
        return [self.model, self.version, self.experiment, self.checkpoint, self.alpha_token_id]


@pytest.fixture
async def world(api: Api) -> World:
    model = await api.create_model("alpha", "secret-model")
    experiment = await api.create_experiment("alpha", "secret-run")
    checkpoint = await api.create_checkpoint(experiment["id"], 10)
    version = await api.create_version(model["id"], checkpointId=checkpoint["id"])
    beta = await api.create_model("beta", "public-model")
    beta_run = await api.create_experiment("beta", "public-run")
    beta_version = await api.create_version(beta["id"], experimentId=beta_run["id"])
    token = await api.ok(
        """mutation { createApiToken(input: {name: "alpha-writer",
             roles: [{namespace: "alpha", role: WRITER}]}) { principal { id } } }"""
    )
    return World(
        model["id"],
        version["id"],
        experiment["id"],
        checkpoint["id"],
        beta_version["id"],
        token["createApiToken"]["principal"]["id"],
    )


def _reads(w: World) -> list[tuple[str, dict[str, object]]]:
    return [
        ('{ namespace(name: "alpha") { name } }', {}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": w.model}),
        ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": w.alpha_ids}),
        ("{ namespaces { edges { node { name } } } }", {}),
        (
            """query($reps: [_Any!]!) { _entities(representations: $reps) {
                 ... on Model { name } ... on Experiment { name } } }""",
            {
                "reps": [
                    {"__typename": "Model", "id": w.model},
                    {"__typename": "Experiment", "id": w.experiment},
                    {"__typename": "Namespace", "name": "alpha"},
                ]
            },
        ),
        (
            """query($id: ID!) { node(id: $id) { ... on ModelVersion {
                 experiment { name } checkpoint { step } model { name } } } }""",
            {"id": w.beta_version},
        ),
    ]


def _writes(w: World) -> list[tuple[str, dict[str, object]]]:
    by_id = "mutation($id: ID!) { %s(input: {id: $id}) { %s } }"
    return [
        ('mutation { createModel(input: {namespace: "alpha", name: "x"}) { id } }', {}),
        ('mutation { createExperiment(input: {namespace: "alpha", name: "x"}) { id } }', {}),
        (
            "mutation($id: ID!) { createModelVersion(input: {modelId: $id}) { id } }",
            {"id": w.model},
        ),
        (
            "mutation($id: ID!) { createCheckpoint(input: {experimentId: $id, step: 1}) { id } }",
            {"id": w.experiment},
        ),
        (by_id % ("updateModel", "id"), {"id": w.model}),
        (by_id % ("updateModelVersion", "id"), {"id": w.version}),
        (by_id % ("updateExperiment", "id"), {"id": w.experiment}),
        (by_id % ("updateCheckpoint", "id"), {"id": w.checkpoint}),
        (by_id % ("deleteModel", "deletedId"), {"id": w.model}),
        (by_id % ("deleteModelVersion", "deletedId"), {"id": w.version}),
        (by_id % ("deleteExperiment", "deletedId"), {"id": w.experiment}),
        (by_id % ("revokeApiToken", "deletedId"), {"id": w.alpha_token_id}),
        (
            """mutation { createApiToken(input: {name: "escalate",
                 roles: [{namespace: "alpha", role: ADMIN}]}) { token } }""",
            {},
        ),
    ]


def _assert_no_leak(body: dict[str, object], w: World) -> None:
    text = json.dumps(body)
    for secret in ["alpha", "secret-model", "secret-run", *w.alpha_ids]:
        assert secret not in text, f"{secret!r} leaked in {text}"


async def test_other_namespace_sees_nothing_and_changes_nothing(api: Api, world: World) -> None:
    outsider = await api.token(("beta", "ADMIN"), name="beta-admin")
    for query, variables in _reads(world):
        body = await api.post(query, variables, outsider)
        assert not body.get("errors"), body
        _assert_no_leak(body, world)
    for query, variables in _writes(world):
        body = await api.post(query, variables, outsider)
        codes = [e["extensions"]["code"] for e in body["errors"]]
        assert codes in (["NOT_FOUND"], ["FORBIDDEN"]), body
        # The namespace name is the caller's own words in createModel; nothing else may leak.
        if "namespace:" not in query and "roles:" not in query:
            _assert_no_leak(body, world)
    # The admin still sees everything exactly as it was.
    data = await api.ok(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [world.model, world.version, world.experiment, world.checkpoint]},
    )
    assert all(node is not None for node in data["nodes"])
    data = await api.ok('{ namespace(name: "alpha") { models { totalCount } } }')
    assert data["namespace"]["models"]["totalCount"] == 1


async def test_beta_viewer_sees_beta_and_its_lineage_but_not_alpha(api: Api, world: World) -> None:
    viewer = await api.token(("beta", "VIEWER"))
    data = await api.ok(
        """query($id: ID!) { node(id: $id) { ... on ModelVersion {
             version experiment { name } model { name } } } }""",
        {"id": world.beta_version},
        viewer,
    )
    assert data["node"] == {
        "version": 1,
        "experiment": {"name": "public-run"},
        "model": {"name": "public-model"},
    }
    data = await api.ok("{ namespaces { totalCount edges { node { name } } } }", token=viewer)
    assert data["namespaces"]["totalCount"] == 1
    assert [e["node"]["name"] for e in data["namespaces"]["edges"]] == ["beta"]


@pytest.mark.parametrize("kind", ["none", "garbage", "revoked", "expired"])
async def test_missing_or_dead_tokens_are_unauthenticated(
    api: Api, world: World, kind: str
) -> None:
    token: str | None
    if kind == "none":
        token = None
    elif kind == "garbage":
        token = "mbx_not-a-real-token"
    elif kind == "revoked":
        token = await api.token(("alpha", "ADMIN"))
        data = await api.ok("{ viewer { id } }", token=token)
        await api.ok(
            "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }",
            {"id": data["viewer"]["id"]},
        )
    else:
        expires = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        data = await api.ok(
            """mutation($at: DateTime!) { createApiToken(input: {name: "short",
                 roles: [{namespace: "alpha", role: ADMIN}], expiresAt: $at}) { token } }""",
            {"at": expires},
        )
        token = data["createApiToken"]["token"]
        assert (await api.ok("{ viewer { name } }", token=token))["viewer"]["name"] == "short"
        await asyncio.sleep(1.2)
    for query, variables in [("{ viewer { name } }", {}), *_reads(world), *_writes(world)]:
        body = await api.post(query, variables, token)
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes == {"UNAUTHENTICATED"}, (query, body)
        _assert_no_leak(body, world)


async def test_roles_are_ordered_viewer_writer_admin(api: Api, world: World) -> None:
    viewer = await api.token(("alpha", "VIEWER"))
    writer = await api.token(("alpha", "WRITER"))
    create = "mutation($id: ID!) { createModelVersion(input: {modelId: $id}) { version } }"
    delete = "mutation($id: ID!) { deleteModelVersion(input: {id: $id}) { deletedId } }"
    audit = '{ namespace(name: "alpha") { auditEvents { totalCount } } }'

    assert await api.fails(create, {"id": world.model}, viewer) == ["FORBIDDEN"]
    created = await api.ok(create, {"id": world.model}, writer)
    assert created["createModelVersion"]["version"] == 2
    assert await api.fails(delete, {"id": world.version}, writer) == ["FORBIDDEN"]
    assert await api.fails(audit, token=writer) == ["FORBIDDEN"]
    await api.ok(delete, {"id": world.version})
    assert (await api.ok(audit))["namespace"]["auditEvents"]["totalCount"] > 0


async def test_admin_of_one_namespace_cannot_mint_wider_tokens(api: Api) -> None:
    admin = await api.token(("alpha", "ADMIN"))
    minted = await api.ok(
        """mutation { createApiToken(input: {name: "w",
             roles: [{namespace: "alpha", role: WRITER}]}) {
               token principal { roles { role } } } }""",
        token=admin,
    )
    assert minted["createApiToken"]["principal"]["roles"] == [{"role": "WRITER"}]
    wider = """mutation { createApiToken(input: {name: "w",
                 roles: [{namespace: "*", role: VIEWER}]}) { token } }"""
    assert await api.fails(wider, token=admin) == ["FORBIDDEN"]
