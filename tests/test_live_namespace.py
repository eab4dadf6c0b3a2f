"""Watching a namespace live, and WebSocket authentication, through a real server."""

from __future__ import annotations

import pytest

from modelbox.server.config import Settings
from tests.live import running, until_live
from tests.ws import LEGACY_WS, TRANSPORT_WS, OperationError, WsClient

WATCH = """subscription($ns: String!) { namespaceChanges(namespace: $ns) { type at node {
  id __typename ... on Model { name description } ... on DeletedNode { type } } } }"""


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_namespace_watcher_sees_create_update_delete_in_order(
    settings: Settings, protocol: str
) -> None:
    async with running(settings) as (server, api), WsClient(server.url, protocol=protocol) as ws:
        op = await ws.subscribe(WATCH, {"ns": "vision"})
        first = await until_live(ws, op, lambda i: api.create_model("vision", f"probe-{i}"))
        assert first["namespaceChanges"]["type"] == "CREATED"

        model = await api.create_model("vision", "resnet")
        await api.ok(
            """mutation($id: ID!) { updateModel(input: {id: $id, description: "v2"}) { id } }""",
            {"id": model["id"]},
        )
        await api.ok(
            "mutation($id: ID!) { deleteModel(input: {id: $id}) { deletedId } }",
            {"id": model["id"]},
        )
        seen = []
        while len(seen) < 3:
            change = (await ws.next(op))["namespaceChanges"]
            if change["node"].get("name", "").startswith("probe-"):
                continue  # a probe that landed after the subscription went live
            seen.append(change)
        assert [c["type"] for c in seen] == ["CREATED", "UPDATED", "DELETED"]
        assert seen[0]["node"] == {
            "id": model["id"],
            "__typename": "Model",
            "name": "resnet",
            "description": None,
        }
        assert seen[1]["node"]["description"] == "v2"
        assert seen[2]["node"] == {"id": model["id"], "__typename": "DeletedNode", "type": "Model"}


async def test_websocket_operations_need_a_live_token(settings: Settings) -> None:
    async with running(settings) as (server, _):
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            for token, reason in [
                ("mbx_not-a-token", "the token is invalid, expired or revoked"),
                (None, "a bearer token is required"),
            ]:
                async with WsClient(server.url, token=token, protocol=protocol) as ws:
                    op = await ws.subscribe(WATCH, {"ns": "vision"})
                    with pytest.raises(OperationError) as refused:
                        await ws.next(op)
                    assert refused.value.codes == ["UNAUTHENTICATED"]
                    assert reason in str(refused.value)


async def test_a_token_cannot_watch_a_namespace_it_has_no_role_in(settings: Settings) -> None:
    async with running(settings) as (server, api):
        token = await api.token(("nlp", "VIEWER"))
        async with WsClient(server.url, token=token) as ws:
            op = await ws.subscribe(WATCH, {"ns": "vision"})
            with pytest.raises(OperationError) as refused:
                await ws.next(op)
            assert refused.value.codes == ["FORBIDDEN"]


async def test_revoking_the_token_ends_its_subscriptions(settings: Settings) -> None:
    async with running(settings) as (server, remote):
        token = await remote.token(("vision", "VIEWER"))
        async with WsClient(server.url, token=token) as ws:
            op = await ws.subscribe(WATCH, {"ns": "vision"})
            await until_live(ws, op, lambda i: remote.create_model("vision", f"probe-{i}"))
            viewer = await remote.ok("{ viewer { id } }", token=token)
            await remote.ok(
                "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }",
                {"id": viewer["viewer"]["id"]},
            )
            while True:
                try:
                    await ws.next(op)
                except OperationError as ended:
                    assert ended.codes == ["UNAUTHENTICATED"]
                    break


async def test_namespace_watcher_sees_artifacts_and_cascaded_deletes(settings: Settings) -> None:
    query = """subscription($ns: String!) { namespaceChanges(namespace: $ns) { type node {
      id __typename ... on Artifact { name uri } ... on DeletedNode { type } } } }"""
    async with running(settings) as (server, api), WsClient(server.url) as ws:
        op = await ws.subscribe(query, {"ns": "vision"})
        await until_live(ws, op, lambda i: api.create_model("vision", f"probe-{i}"))
        model = await api.create_model("vision", "resnet")
        version = await api.create_version(model["id"])
        tracked = await api.ok(
            """mutation($input: TrackArtifactInput!) { trackArtifact(input: $input) { id } }""",
            {"input": {"subjectId": version["id"], "name": "weights", "uri": "s3://b/w.pt"}},
        )
        artifact_id = tracked["trackArtifact"]["id"]
        for mutation, id in [("deleteArtifact", artifact_id), ("deleteModel", model["id"])]:
            await api.ok(
                f"mutation($id: ID!) {{ {mutation}(input: {{id: $id}}) {{ deletedId }} }}",
                {"id": id},
            )
        seen: list[tuple[str, str, str]] = []
        while ("DELETED", "Model", model["id"]) not in seen:
            change = (await ws.next(op))["namespaceChanges"]
            node = change["node"]
            kind = node.get("type") or node["__typename"]
            if not node.get("name", "").startswith("probe-"):
                seen.append((change["type"], kind, node["id"]))
        assert seen == [
            ("CREATED", "Model", model["id"]),
            ("CREATED", "ModelVersion", version["id"]),  # numbering it leaves the model as it was
            ("CREATED", "Artifact", artifact_id),
            ("DELETED", "Artifact", artifact_id),
            ("DELETED", "ModelVersion", version["id"]),  # with its model
            ("DELETED", "Model", model["id"]),
        ]


async def test_each_delivery_loads_afresh(settings: Settings) -> None:
    query = """subscription($ns: String!) { namespaceChanges(namespace: $ns) { type node {
      ... on ModelVersion { version model { description } } } } }"""
    async with running(settings) as (server, api), WsClient(server.url) as ws:
        model = await api.create_model("vision", "resnet", description="first")
        op = await ws.subscribe(query, {"ns": "vision"})
        await until_live(ws, op, lambda i: api.create_model("vision", f"probe-{i}"))
        versions: list[dict] = []

        async def next_version() -> dict:
            while True:
                change = (await ws.next(op))["namespaceChanges"]
                if change["type"] == "CREATED" and "version" in change["node"]:
                    return change["node"]

        await api.create_version(model["id"])
        versions.append(await next_version())
        await api.ok(
            'mutation($id: ID!) { updateModel(input: {id: $id, description: "second"}) { id } }',
            {"id": model["id"]},
        )
        await api.create_version(model["id"])
        versions.append(await next_version())
        # The model behind both versions is read again for the second one, not remembered.
        assert [v["model"]["description"] for v in versions] == ["first", "second"]
