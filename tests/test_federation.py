"""ModelBox as a federation subgraph: composed with a JavaScript subgraph, served by real gateways.

Everything runs as real processes on loopback: `modelbox serve`, the `deployments` subgraph
(@apollo/subgraph), Hive Gateway and Apollo Gateway over a supergraph composed by
@apollo/composition. Skipped, with the reason, where Node.js or the npm packages are missing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from tests import gateways
from tests.api import ADMIN_TOKEN, Api
from tests.metrics import log
from tests.servers import ServerProcess
from tests.ws import WsClient

if (reason := gateways.unavailable()) is not None:
    pytest.skip(reason, allow_module_level=True)

NAMESPACE = "fleet"


@dataclass
class Federation:
    modelbox: str
    hive: str
    apollo: str
    version_ids: list[str]
    viewer_token: str
    outsider_token: str


async def _seed(url: str) -> tuple[list[str], str, str]:
    """Two versions of a model in `fleet`; a fleet viewer's token, and another namespace's."""
    async with httpx.AsyncClient(base_url=url) as client:
        api = Api(client)
        model = await api.create_model(NAMESPACE, "ranker", description="click ranker")
        versions = [(await api.create_version(model["id"]))["id"] for _ in range(2)]
        await api.create_model("elsewhere", "other")
        viewer = await api.token((NAMESPACE, "VIEWER"), name="fleet-viewer")
        outsider = await api.token(("elsewhere", "ADMIN"), name="outsider")
    return versions, viewer, outsider


@pytest.fixture(scope="module")
def federation(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    directory = tmp_path_factory.mktemp("federation")
    database = f"test_fed_{uuid.uuid4().hex[:12]}"
    modelbox = ServerProcess(
        {
            "MODELBOX_MONGODB_URI": mongodb_uri,
            "MODELBOX_DATABASE": database,
            "MODELBOX_ADMIN_TOKEN": ADMIN_TOKEN,
        }
    )
    deployments = gateways.deployments_subgraph()
    supergraph = directory / "supergraph.graphql"
    composed = gateways.compose(
        supergraph,
        {
            "modelbox": (f"{modelbox.url}/graphql", gateways.modelbox_sdl(directory)),
            "deployments": (f"{deployments.url}/graphql", gateways.deployments_sdl(directory)),
        },
    )
    assert composed.returncode == 0, composed.stderr
    nodes = [deployments, gateways.hive_gateway(supergraph), gateways.apollo_gateway(supergraph)]
    try:
        # Node programs start while ModelBox does; each is then awaited.
        for process in nodes:
            process.launch()
        modelbox.start()
        for process in nodes:
            process.wait_ready()
        versions, viewer, outsider = asyncio.run(_seed(modelbox.url))
        yield Federation(modelbox.url, nodes[1].url, nodes[2].url, versions, viewer, outsider)
    finally:
        for process in nodes:
            process.stop()
        modelbox.stop()
        with MongoClient(mongodb_uri) as client:
            client.drop_database(database)


@asynccontextmanager
async def _api(url: str) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=url, timeout=20) as client:
        yield Api(client)


@pytest.fixture
async def hive(federation: Federation) -> AsyncIterator[Api]:
    async with _api(federation.hive) as api:
        yield api


@pytest.fixture
async def apollo(federation: Federation) -> AsyncIterator[Api]:
    async with _api(federation.apollo) as api:
        yield api


@pytest.fixture
async def modelbox(federation: Federation) -> AsyncIterator[Api]:
    """ModelBox itself, not through a gateway."""
    async with _api(federation.modelbox) as api:
        yield api


@pytest.fixture(params=["hive", "apollo"])
async def gateway(request: pytest.FixtureRequest, federation: Federation) -> AsyncIterator[Api]:
    """Each gateway in turn."""
    async with _api(getattr(federation, request.param)) as api:
        yield api


# ModelBox fields down to versions, then `deployments` from the JS subgraph.
NESTED = """query($ns: String!) { namespace(name: $ns) { name model(name: "ranker") {
    description versions { edges { node { id version
      deployments { environment replicas seenAuthorization } } } } } } }"""

REVERSE = """query($ids: [ID!]) { deployments(modelVersionIds: $ids) {
    environment modelVersion { id version model { name } } } }"""


def _versions(data: dict) -> list[dict]:
    return [edge["node"] for edge in data["namespace"]["model"]["versions"]["edges"]]


async def test_query_across_both_subgraphs_returns_joined_data(
    hive: Api, federation: Federation
) -> None:
    data = await hive.ok(NESTED, {"ns": NAMESPACE}, token=federation.viewer_token)
    versions = _versions(data)
    # Newest first, as ModelBox lists them.
    assert [(v["version"], v["id"]) for v in versions] == [
        (2, federation.version_ids[1]),
        (1, federation.version_ids[0]),
    ]
    for v in versions:
        assert [(d["environment"], d["replicas"]) for d in v["deployments"]] == [
            ("staging", 1),
            ("production", 3),
        ]


async def test_entities_of_the_js_subgraph_resolve_through_modelbox(
    hive: Api, federation: Federation
) -> None:
    data = await hive.ok(REVERSE, {"ids": federation.version_ids}, token=federation.viewer_token)
    joined = [(d["environment"], d["modelVersion"]) for d in data["deployments"]]
    first, second = federation.version_ids
    assert joined == [
        ("staging", {"id": first, "version": 1, "model": {"name": "ranker"}}),
        ("production", {"id": first, "version": 1, "model": {"name": "ranker"}}),
        ("staging", {"id": second, "version": 2, "model": {"name": "ranker"}}),
        ("production", {"id": second, "version": 2, "model": {"name": "ranker"}}),
    ]


async def test_apollo_gateway_serves_the_same_query(
    hive: Api, apollo: Api, federation: Federation
) -> None:
    variables = {"ns": NAMESPACE}
    through_apollo = await apollo.ok(NESTED, variables, token=federation.viewer_token)
    assert through_apollo == await hive.ok(NESTED, variables, token=federation.viewer_token)
    reverse = {"ids": federation.version_ids}
    assert await apollo.ok(REVERSE, reverse, token=federation.viewer_token) == await hive.ok(
        REVERSE, reverse, token=federation.viewer_token
    )


async def test_the_bearer_token_reaches_modelbox_through_the_gateway(
    hive: Api, federation: Federation
) -> None:
    data = await hive.ok("{ viewer { name } }", token=federation.viewer_token)
    assert data["viewer"]["name"] == "fleet-viewer"
    nested = await hive.ok(NESTED, {"ns": NAMESPACE}, token=federation.viewer_token)
    seen = {d["seenAuthorization"] for v in _versions(nested) for d in v["deployments"]}
    assert seen == {f"Bearer {federation.viewer_token}"}


async def test_a_token_of_another_namespace_gets_no_modelbox_data(
    gateway: Api, federation: Federation
) -> None:
    body = await gateway.post(NESTED, {"ns": NAMESPACE}, token=federation.outsider_token)
    assert body == {"data": {"namespace": None}}, body
    # The JS subgraph still answers; the versions it points at are null, as if they did not exist.
    ids = {"ids": federation.version_ids}
    body = await gateway.post(REVERSE, ids, token=federation.outsider_token)
    assert [d["modelVersion"] for d in body["data"]["deployments"]] == [None] * 4, body
    assert "ranker" not in str(body)


async def test_no_token_is_refused_with_unauthenticated(
    gateway: Api, federation: Federation
) -> None:
    body = await gateway.post(NESTED, {"ns": NAMESPACE}, token=None)
    assert body["data"] == {"namespace": None}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body


METRICS_LOGGED = """subscription($id: ID!, $key: String!) {
  metricsLogged(subjectId: $id, keys: [$key], fromStep: 0) {
    key kind points { steps values } } }"""


@asynccontextmanager
async def _subscribe_sse(
    api: Api, query: str, variables: dict[str, object], token: str | None
) -> AsyncIterator[AsyncIterator[dict]]:
    """Results of a subscription through a gateway over GraphQL-over-SSE, one per `next`."""
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {"query": query, "variables": variables}
    async with api.client.stream("POST", "/graphql", json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()

        async def results() -> AsyncIterator[dict]:
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:") and event == "next":
                    yield json.loads(line.removeprefix("data:"))

        yield results()


def _points(*steps: int) -> dict[str, list]:
    return {"steps": list(steps), "values": [step / 10 for step in steps]}


async def _log(modelbox: Api, subject: str, key: str, *steps: int) -> None:
    """Points logged on ModelBox itself (as the admin), not through a gateway."""
    await log(modelbox, subject, {"key": key, **_points(*steps)})


async def test_metrics_logged_through_hive_delivers_live_points(
    hive: Api, modelbox: Api, federation: Federation
) -> None:
    subject = federation.version_ids[0]
    await _log(modelbox, subject, "sse", 0, 1)
    variables = {"id": subject, "key": "sse"}
    async with (
        asyncio.timeout(20),
        _subscribe_sse(hive, METRICS_LOGGED, variables, federation.viewer_token) as results,
    ):
        # The stored points first: once they are here, the subscription is live.
        stored = await anext(results)
        update = {"key": "sse", "kind": "FLOAT", "points": _points(0, 1)}
        assert stored == {"data": {"metricsLogged": update}}
        for steps in [(2, 3), (4,)]:
            await _log(modelbox, subject, "sse", *steps)
            live = await anext(results)
            assert live["data"]["metricsLogged"]["points"] == _points(*steps)


async def test_metrics_logged_through_hive_over_graphql_ws(
    modelbox: Api, federation: Federation
) -> None:
    # The token in the client's connection_init is the one Hive hands on to ModelBox.
    subject = federation.version_ids[0]
    await _log(modelbox, subject, "ws", 0)
    async with WsClient(federation.hive, token=federation.viewer_token) as ws:
        op = await ws.subscribe(METRICS_LOGGED, {"id": subject, "key": "ws"})
        assert (await ws.next(op))["metricsLogged"]["points"] == _points(0)
        await _log(modelbox, subject, "ws", 1, 2)
        assert (await ws.next(op))["metricsLogged"]["points"] == _points(1, 2)


async def test_a_subscription_of_another_namespace_gets_an_error_and_no_points(
    hive: Api, modelbox: Api, federation: Federation
) -> None:
    subject = federation.version_ids[1]
    await _log(modelbox, subject, "hidden", 0)
    variables = {"id": subject, "key": "hidden"}
    async with (
        asyncio.timeout(20),
        _subscribe_sse(hive, METRICS_LOGGED, variables, federation.outsider_token) as results,
    ):
        result = await anext(results)
    # As if the version did not exist: nothing about it, not even that it is there.
    assert result["data"] is None, result
    assert [e["extensions"]["code"] for e in result["errors"]] == ["NOT_FOUND"], result


@pytest.mark.parametrize("token", [None, "mbx_not-a-token"])
async def test_a_subscription_without_a_live_token_is_refused_with_unauthenticated(
    hive: Api, federation: Federation, token: str | None
) -> None:
    variables = {"id": federation.version_ids[0], "key": "sse"}
    async with (
        asyncio.timeout(20),
        _subscribe_sse(hive, METRICS_LOGGED, variables, token) as results,
    ):
        result = await anext(results)
    assert result["data"] is None, result
    assert [e["extensions"]["code"] for e in result["errors"]] == ["UNAUTHENTICATED"], result


COMPOSERS = pytest.mark.parametrize("composer", ["apollo", "guild"])


@COMPOSERS
def test_composition_fails_on_a_conflicting_subgraph(tmp_path: Path, composer: str) -> None:
    # `ModelVersion.version` is Int! in ModelBox; a subgraph that says String! must not compose.
    conflicting = tmp_path / "conflicting.graphql"
    conflicting.write_text(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key",'
        ' "@shareable"])\n'
        'type ModelVersion @key(fields: "id") { id: ID! version: String! @shareable }\n'
        "type Query { latest: ModelVersion }\n"
    )
    result = gateways.compose(
        tmp_path / "supergraph.graphql",
        {
            "modelbox": ("http://127.0.0.1:1/graphql", gateways.modelbox_sdl(tmp_path)),
            "conflicting": ("http://127.0.0.1:2/graphql", conflicting),
        },
        composer,
    )
    assert result.returncode == 1
    assert "ModelVersion.version" in result.stderr


@COMPOSERS
def test_the_exported_sdl_composes_with_the_deployments_subgraph(
    tmp_path: Path, composer: str
) -> None:
    out = tmp_path / "supergraph.graphql"
    result = gateways.compose(
        out,
        {
            "modelbox": ("http://127.0.0.1:1/graphql", gateways.modelbox_sdl(tmp_path)),
            "deployments": ("http://127.0.0.1:2/graphql", gateways.deployments_sdl(tmp_path)),
        },
        composer,
    )
    assert result.returncode == 0, result.stderr
    supergraph = out.read_text()
    # ModelVersion is one entity of both subgraphs, and `deployments` is served by the JS one.
    assert '@join__type(graph: DEPLOYMENTS, key: "id")' in supergraph
    assert '@join__type(graph: MODELBOX, key: "id")' in supergraph
    assert "deployments: [Deployment!]! @join__field(graph: DEPLOYMENTS)" in supergraph
