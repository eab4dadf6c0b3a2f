"""A budget per request: objects and metric points read across all its fields, aliases included.

Limits per field alone let a small request force a huge answer (the same series under 24
aliases, the same id 1,000 times); the budget is estimated from the operation and its
variables before anything is read where it can be, and refused by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from modelbox.server.config import Settings
from modelbox.server.web.app import create_app
from tests.api import Api

OBJECTS = 50
POINTS = 1000


@pytest.fixture
async def small(settings: Settings) -> AsyncIterator[Api]:
    """A server whose budget is small enough to reach with a few objects."""
    app = create_app(settings.with_(max_objects_per_request=OBJECTS, max_points_per_request=POINTS))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Api(client)


def _over_budget(body: dict[str, Any], setting: str, limit: int) -> None:
    assert body["errors"], body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert setting in error["message"], error
    assert error["extensions"]["limit"] == limit


async def _series(api: Api, points: int) -> str:
    run = await api.create_experiment("vision", "run")
    await api.ok(
        "mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }",
        {
            "input": {
                "subjectId": run["id"],
                "series": [{"key": "big", "steps": list(range(points)), "values": [0.5] * points}],
            }
        },
    )
    return str(run["id"])


async def test_aliases_of_one_series_share_the_points_budget(small: Api) -> None:
    run = await _series(small, 600)
    one = """query($id: ID!) { node(id: $id) { ... on Experiment {
               a: metric(key: "big") { points { steps } } } } }"""
    data = await small.ok(one, {"id": run})
    assert len(data["node"]["a"]["points"]["steps"]) == 600
    # The same key 24 times is one series.
    keys = """query($id: ID!) { node(id: $id) { ... on Experiment {
                metricSeries(keys: ["big", "big", "big", "big", "big", "big"]) {
                  points { steps } } } } }"""
    data = await small.ok(keys, {"id": run})
    assert [len(s["points"]["steps"]) for s in data["node"]["metricSeries"]] == [600]

    two = """query($id: ID!) { node(id: $id) { ... on Experiment {
               a: metric(key: "big") { points { steps } }
               b: metric(key: "big") { points { steps } } } } }"""
    body = await small.post(two, {"id": run})
    _over_budget(body, "max_points_per_request", POINTS)
    # Whatever was answered before the budget ran out stays within it.
    answered = ((body.get("data") or {}).get("node") or {}).values()
    assert sum(len(s["points"]["steps"]) for s in answered if s) <= POINTS


async def test_a_points_budget_known_from_the_arguments_is_refused_before_any_read(
    small: Api,
) -> None:
    run = await _series(small, 10)
    query = """query($id: ID!) { node(id: $id) { ... on Experiment {
                 a: metric(key: "big") { downsampled(maxPoints: 600) { steps } }
                 b: metric(key: "big") { points(limit: 600) { steps } } } } }"""
    body = await small.post(query, {"id": run})
    _over_budget(body, "max_points_per_request", POINTS)
    assert body.get("data") is None


async def test_objects_are_counted_across_aliases_before_any_read(small: Api) -> None:
    model = await small.create_model("vision", "resnet", metadata={"blob": "x" * 1000})
    query = "query($ids: [ID!]!) { %s }"
    one = query % "a: nodes(ids: $ids) { ... on Model { metadata } }"
    data = await small.ok(one, {"ids": [model["id"]] * 30})
    assert len(data["a"]) == 30
    two = query % (
        "a: nodes(ids: $ids) { ... on Model { metadata } } "
        "b: nodes(ids: $ids) { ... on Model { metadata } }"
    )
    body = await small.post(two, {"ids": [model["id"]] * 30})
    _over_budget(body, "max_objects_per_request", OBJECTS)
    assert body.get("data") is None


async def test_connections_count_their_page_size_times_their_parents(small: Api) -> None:
    await small.create_model("vision", "resnet")
    nested = """query($models: Int, $versions: Int) { namespace(name: "vision") {
                  models(first: $models) { edges { node { name
                    versions(first: $versions) { edges { node { version } } } } } } } }"""
    # 1 namespace + 10 models + 10 x 3 versions = 41 objects at most: within 50.
    data = await small.ok(nested, {"models": 10, "versions": 3})
    assert data["namespace"]["models"]["edges"][0]["node"]["name"] == "resnet"
    # 1 + 10 + 10 x 4 = 51: over, though the namespace holds one model.
    body = await small.post(nested, {"models": 10, "versions": 4})
    _over_budget(body, "max_objects_per_request", OBJECTS)
    assert body.get("data") is None
