"""Lineage never crosses namespaces: refused when made, invisible if old data holds one.

A token with WRITER on `b` and VIEWER on `a` used to register a version of `b` trained in
`a`'s experiment; `a`'s readers then read that version of `b` through the experiment.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from modelbox.server.config import Settings
from tests.api import Api

CREATE = """mutation($input: CreateModelVersionInput!) {
  createModelVersion(input: $input) { id version } }"""
UPDATE = """mutation($input: UpdateModelVersionInput!) {
  updateModelVersion(input: $input) { id experiment { id } checkpoint { id } } }"""
VERSIONS = """query($id: ID!) { node(id: $id) { ... on Model { versions { totalCount } } } }"""


async def _world(api: Api) -> dict[str, Any]:
    run = await api.create_experiment("a", "run-in-a")
    checkpoint = await api.create_checkpoint(run["id"], 10)
    model = await api.create_model("b", "model-in-b")
    same_ns_run = await api.create_experiment("b", "run-in-b")
    mixed = await api.token(("b", "WRITER"), ("a", "VIEWER"), name="b-writer-a-viewer")
    return {
        "run": run["id"],
        "checkpoint": checkpoint["id"],
        "model": model["id"],
        "b_run": same_ns_run["id"],
        "mixed": mixed,
    }


def _refusal(body: dict[str, Any], field: str) -> None:
    assert body.get("data") is None or not any(body["data"].values()), body
    (error,) = body["errors"]
    assert error["extensions"]["code"] in ("FORBIDDEN", "BAD_USER_INPUT"), error
    assert field in error["message"], error
    assert "namespace" in error["message"], error


@pytest.mark.parametrize("field", ["experimentId", "checkpointId"])
@pytest.mark.parametrize("who", ["mixed", "global-admin"])
async def test_a_version_cannot_name_lineage_in_another_namespace(
    api: Api, field: str, who: str
) -> None:
    w = await _world(api)
    token = w["mixed"] if who == "mixed" else None
    source = w["run"] if field == "experimentId" else w["checkpoint"]
    variables = {"input": {"modelId": w["model"], field: source}}
    body = await (api.post(CREATE, variables, token) if token else api.post(CREATE, variables))
    _refusal(body, field)
    # Nothing was written: the model in b has no version.
    data = await api.ok(VERSIONS, {"id": w["model"]})
    assert data["node"]["versions"]["totalCount"] == 0


@pytest.mark.parametrize("field", ["experimentId", "checkpointId"])
async def test_updating_a_version_cannot_link_it_into_another_namespace(
    api: Api, field: str
) -> None:
    w = await _world(api)
    version = await api.create_version(w["model"], experimentId=w["b_run"])
    source = w["run"] if field == "experimentId" else w["checkpoint"]
    body = await api.post(UPDATE, {"input": {"id": version["id"], field: source}}, w["mixed"])
    _refusal(body, field)
    data = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on ModelVersion { experiment { id } } } }",
        {"id": version["id"]},
    )
    assert data["node"]["experiment"] == {"id": w["b_run"]}


async def test_lineage_within_one_namespace_still_links_and_updates(api: Api) -> None:
    w = await _world(api)
    other_run = await api.create_experiment("b", "second-run-in-b")
    checkpoint = await api.create_checkpoint(other_run["id"], 5)
    version = await api.create_version(w["model"], experimentId=w["b_run"])
    data = await api.ok(UPDATE, {"input": {"id": version["id"], "checkpointId": checkpoint["id"]}})
    updated = data["updateModelVersion"]
    assert updated["checkpoint"] == {"id": checkpoint["id"]}
    # The checkpoint names its experiment: the version's experiment follows it.
    assert updated["experiment"] == {"id": other_run["id"]}


async def test_a_cross_namespace_link_left_in_old_data_reveals_nothing(
    api: Api, settings: Settings
) -> None:
    """Pages under an object check access to every object they list, whatever the parent."""
    w = await _world(api)
    secret = await api.create_version(
        w["model"], description="b-secret-description", metadata={"b": "secret"}
    )
    # A link written before links were checked (through the database, as old data is).
    assert settings.mongodb_uri is not None
    async with AsyncMongoClient(settings.mongodb_uri) as client:
        versions = client[settings.database]["model_versions"]
        checkpoints = client[settings.database]["checkpoints"]
        ckpt = await checkpoints.find_one({})
        assert ckpt is not None
        result = await versions.update_one(
            {"namespace": "b"},
            {"$set": {"experiment_id": ckpt["experiment_id"], "checkpoint_id": ckpt["_id"]}},
        )
        assert result.modified_count == 1

    a_reader = await api.token(("a", "VIEWER"), name="a-reader")
    body = await api.post(
        """query($run: ID!, $ckpt: ID!) {
             run: node(id: $run) { ... on Experiment { name
               modelVersions { totalCount edges { node { id description metadata
                 model { name } } } } } }
             ckpt: node(id: $ckpt) { ... on Checkpoint { step
               modelVersion { id description model { name } } } } }""",
        {"run": w["run"], "ckpt": w["checkpoint"]},
        a_reader,
    )
    assert not body.get("errors"), body
    assert body["data"]["run"]["modelVersions"]["edges"] == []
    assert body["data"]["ckpt"]["modelVersion"] is None
    text = json.dumps(body)
    for leaked in ("b-secret-description", "model-in-b", secret["id"]):
        assert leaked not in text, text

    # The b side: its version's lineage into a is null for a reader of b alone, never an error.
    b_reader = await api.token(("b", "VIEWER"), name="b-reader")
    body = await api.post(
        """query($id: ID!) { node(id: $id) { ... on ModelVersion {
             model { name } experiment { name } checkpoint { step } } } }""",
        {"id": secret["id"]},
        b_reader,
    )
    assert body == {
        "data": {"node": {"model": {"name": "model-in-b"}, "experiment": None, "checkpoint": None}}
    }
    # And a reader of a alone asking the version directly gets null, not a server error.
    body = await api.post(
        "query($id: ID!) { node(id: $id) { ... on ModelVersion { model { name } } } }",
        {"id": secret["id"]},
        a_reader,
    )
    assert body == {"data": {"node": None}}
