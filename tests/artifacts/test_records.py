"""Artifact records through a real server: tracked artifacts, listings, deletes, transfer
URLs, federation."""

from __future__ import annotations

import os
from typing import Any

import httpx

from modelbox.server.config import Settings
from modelbox.server.web.app import create_app
from tests.api import Api
from tests.artifacts.helpers import (
    ARTIFACT_FIELDS,
    MiB,
    Served,
    api_id_to_oid,
    bearer,
    create_artifact,
    pending_artifact,
    read_artifact,
)


async def test_tracked_artifacts_are_available_at_once_without_a_download_url(
    api: Api, http: httpx.AsyncClient
) -> None:
    model = await api.create_model("tracked", "llm")
    digest = "ab" * 32
    data = await api.ok(
        f"""mutation($input: TrackArtifactInput!) {{
              trackArtifact(input: $input) {{ {ARTIFACT_FIELDS} }} }}""",
        {
            "input": {
                "subjectId": model["id"],
                "name": "weights",
                "uri": "s3://models/llm/weights.safetensors",
                "size": 40 * 1024**3,
                "sha256": digest.upper(),
            }
        },
    )
    tracked = data["trackArtifact"]
    assert tracked["state"] == "AVAILABLE" and tracked["storage"] == "EXTERNAL"
    assert tracked["size"] == 40 * 1024**3 and tracked["sha256"] == digest
    assert tracked["uri"] == "s3://models/llm/weights.safetensors"
    assert tracked["downloadUrl"] is None and tracked["uploadUrl"] is None
    url = f"/artifacts/{tracked['id']}"
    assert (await http.get(url, headers=bearer())).status_code == 404
    assert (await http.put(url, content=b"x", headers=bearer())).status_code == 409

    track = """mutation($input: TrackArtifactInput!) { trackArtifact(input: $input) { id } }"""
    for bad in (
        {"uri": "javascript:alert(1)"},
        {"uri": "ftp://host/file"},
        {"uri": "https://"},
        {"uri": "gs://bucket/x", "sha256": "not-a-digest"},
        {"uri": "gs://bucket/x", "size": -1},
        {"uri": "gs://bucket/x", "size": 1.5},
        {"uri": "gs://bucket/x", "name": "../escape"},
    ):
        variables = {"input": {"subjectId": model["id"], "name": "bad", **bad}}
        assert await api.fails(track, variables) == ["BAD_USER_INPUT"], bad
    ok = {"input": {"subjectId": model["id"], "name": "local", "uri": "file:///data/x.bin"}}
    await api.ok(track, ok)


async def test_artifacts_of_every_subject_are_listed_and_resolve_as_nodes(api: Api) -> None:
    model = await api.create_model("listed", "net")
    version = await api.create_version(model["id"])
    experiment = await api.create_experiment("listed", "train")
    checkpoint = await api.create_checkpoint(experiment["id"], step=10)
    subjects = {
        "Model": model["id"],
        "ModelVersion": version["id"],
        "Experiment": experiment["id"],
        "Checkpoint": checkpoint["id"],
    }
    for type_name, id in subjects.items():
        for i in range(3):
            await create_artifact(api, id, f"{type_name.lower()}-{i}.bin", kind="file")

    for type_name, id in subjects.items():
        data = await api.ok(
            f"""query($id: ID!) {{ node(id: $id) {{ ... on {type_name} {{
                  artifacts(first: 2) {{ totalCount pageInfo {{ hasNextPage }}
                    edges {{ node {{ name subject {{ __typename id }} }} }} }} }} }} }}""",
            {"id": id},
        )
        listed = data["node"]["artifacts"]
        assert listed["totalCount"] == 3 and listed["pageInfo"]["hasNextPage"]
        names = [e["node"]["name"] for e in listed["edges"]]
        assert names == [f"{type_name.lower()}-2.bin", f"{type_name.lower()}-1.bin"]
        assert all(
            e["node"]["subject"] == {"__typename": type_name, "id": id} for e in listed["edges"]
        )

    duplicate = await api.fails(
        """mutation($id: ID!) { createArtifact(input: {subjectId: $id, name: "model-0.bin"}) {
             id } }""",
        {"id": model["id"]},
    )
    assert duplicate == ["CONFLICT"]
    viewer = await api.token(("listed", "VIEWER"))
    refused = await api.fails(
        """mutation($id: ID!) { createArtifact(input: {subjectId: $id, name: "v.bin"}) { id } }""",
        {"id": model["id"]},
        token=viewer,
    )
    assert refused == ["FORBIDDEN"]


async def test_deleting_an_artifact_or_its_subject_deletes_its_bytes(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    model = await api.create_model("deletes", "net")
    version = await api.create_version(model["id"])
    experiment = await api.create_experiment("deletes", "train")
    checkpoint = await api.create_checkpoint(experiment["id"], step=1)
    stored: dict[str, dict[str, Any]] = {}
    for key, subject in (("alone", model), ("version", version), ("checkpoint", checkpoint)):
        stored[key] = await create_artifact(api, subject["id"], f"{key}.bin")
        put = await http.put(
            stored[key]["uploadUrl"], content=os.urandom(MiB + 1), headers=bearer()
        )
        assert put.status_code == 200

    def files_of(artifact: dict[str, Any]) -> int:
        raw = httpx.URL(artifact["uploadUrl"]).path.rsplit("/", 1)[1]
        found = api_id_to_oid(raw)
        file = served.db["fs.files"].find_one({"metadata.artifact_id": found})
        chunks = served.db["fs.chunks"].count_documents({"files_id": file["_id"]}) if file else 0
        return (1 if file else 0) + chunks

    assert all(files_of(a) == 3 for a in stored.values())

    delete = "mutation($id: ID!) { deleteArtifact(input: {id: $id}) { deletedId } }"
    writer = await api.token(("deletes", "WRITER"))
    assert await api.fails(delete, {"id": stored["alone"]["id"]}, token=writer) == ["FORBIDDEN"]
    await api.ok(delete, {"id": stored["alone"]["id"]})
    assert files_of(stored["alone"]) == 0
    assert await read_artifact(api, stored["alone"]["id"]) is None
    assert (await http.get(stored["alone"]["uploadUrl"], headers=bearer())).status_code == 404

    await api.ok("mutation($id: ID!) { deleteModel(input: {id: $id}) { deletedId } }", model)
    await api.ok(
        "mutation($id: ID!) { deleteExperiment(input: {id: $id}) { deletedId } }", experiment
    )
    for key in ("version", "checkpoint"):
        assert files_of(stored[key]) == 0, key
        assert await read_artifact(api, stored[key]["id"]) is None
    assert served.orphan_chunks() == 0


async def test_transfer_urls_use_the_public_url_when_one_is_set(settings: Settings) -> None:
    app = create_app(settings.with_(public_url="https://models.example.com/mbx/"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8000") as c:
            artifact = await pending_artifact(Api(c), "public")
    assert artifact["uploadUrl"].startswith("https://models.example.com/mbx/artifacts/")
    assert artifact["uploadUrl"].endswith(artifact["id"])


async def test_artifacts_resolve_as_federation_entities_through_access_control(api: Api) -> None:
    artifact = await pending_artifact(api, "federated")
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
                 ... on Artifact { id name state } } }"""
    representations = {"r": [{"__typename": "Artifact", "id": artifact["id"]}]}
    data = await api.ok(query, representations)
    assert data["_entities"] == [{"id": artifact["id"], "name": "model.bin", "state": "PENDING"}]
    outsider = await api.token(("elsewhere", "VIEWER"))
    assert (await api.ok(query, representations, token=outsider))["_entities"] == [None]
