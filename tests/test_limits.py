"""Query limits, body limits and input checks: refused with a named limit, nothing written."""

from __future__ import annotations

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN, Api


async def test_query_depth_is_limited(api: Api) -> None:
    depth = Settings().max_query_depth
    inner = "name"
    for _ in range(depth):
        inner = f"model {{ namespace {{ models {{ edges {{ node {{ {inner} }} }} }} }} }}"
    body = await api.post(
        f'{{ namespace(name: "x") {{ models {{ edges {{ node {{ {inner} }} }} }} }} }}'
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "depth" in error["message"]


async def test_aliases_are_limited(api: Api) -> None:
    count = Settings().max_aliases + 1
    query = "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(count)) + " }"
    body = await api.post(query)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "aliases" in body["errors"][0]["message"]


async def test_tokens_are_limited(api: Api) -> None:
    query = "{ viewer { " + "name " * Settings().max_tokens + "} }"
    body = await api.post(query)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "token" in body["errors"][0]["message"].lower()


async def test_oversized_body_is_refused_before_parsing(api: Api) -> None:
    limit = Settings().max_body_bytes
    filler = "x" * (limit + 1)
    response = await api.client.post(
        "/graphql",
        json={"query": "{ viewer { name } }", "variables": {"pad": filler}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 413
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "max_body_bytes" in error["message"]


async def test_oversized_metadata_is_refused_and_nothing_is_written(api: Api) -> None:
    big = {"blob": "y" * (Settings().max_metadata_bytes + 1)}
    body = await api.post(
        'mutation($m: JSON) { createModel(input: {namespace: "lim", name: "m", metadata: $m})'
        " { id } }",
        {"m": big},
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "metadata" in error["message"] and "max_metadata_bytes" in error["message"]
    assert (await api.ok('{ namespace(name: "lim") { name } }'))["namespace"] is None


async def test_graphiql_is_served_to_browsers(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
