"""Search of a model's versions: metrics per dataset, aliases, labels, framework, order."""

from __future__ import annotations

from typing import Any

from tests.api import Api

VERSIONS = """query($id: ID!, $filter: ModelVersionFilter, $orderBy: [ModelVersionOrder!],
                  $query: String, $after: String) {
  node(id: $id) { ... on Model { versions(first: 3, after: $after, filter: $filter,
                                           orderBy: $orderBy, query: $query) {
    totalCount edges { node { version } } pageInfo { hasNextPage endCursor } } } } }"""

# version: (framework, aliases, {dataset: top1})
SPECS: list[tuple[str, list[str], dict[str, float]]] = [
    ("torch", [], {"imagenet": 0.70, "coco": 0.50}),
    ("torch", ["staging"], {"imagenet": 0.76}),
    ("jax", [], {"imagenet": 0.81, "coco": 0.40}),
    ("torch", [], {"coco": 0.90}),
    ("jax", ["production"], {"imagenet": 0.79, "coco": 0.55}),
    ("torch", [], {"imagenet": 0.76, "coco": 0.60}),
    ("torch", [], {}),
]


async def versions(api: Api, model_id: str, **variables: Any) -> tuple[list[int], int]:
    found: list[int] = []
    after = None
    for _ in range(10):
        data = await api.ok(VERSIONS, {"id": model_id, "after": after, **variables})
        connection = data["node"]["versions"]
        found += [edge["node"]["version"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return found, connection["totalCount"]
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


async def test_versions_filter_and_sort_by_dataset_metrics(api: Api) -> None:
    model = await api.create_model("vision", "resnet")
    for framework, aliases, top1 in SPECS:
        await api.create_version(
            model["id"],
            framework=framework,
            aliases=aliases,
            metrics=[{"key": "top1", "value": v, "dataset": d} for d, v in top1.items()],
        )
    best_on_imagenet = {"orderBy": [{"metric": "top1", "dataset": "imagenet"}]}
    # Highest first, ties (2 and 6 at 0.76) newest first, versions without it last (also
    # newest first: the order of the first key).
    assert await versions(api, model["id"], **best_on_imagenet) == ([3, 5, 6, 2, 1, 7, 4], 7)
    ascending = {"orderBy": [{"metric": "top1", "dataset": "imagenet", "direction": "ASC"}]}
    assert await versions(api, model["id"], **ascending) == ([1, 2, 6, 5, 3, 4, 7], 7)

    over = {
        "filter": {"metrics": [{"key": "top1", "dataset": "imagenet", "op": "GTE", "value": 0.76}]}
    }
    assert await versions(api, model["id"], **over, **best_on_imagenet) == ([3, 5, 6, 2], 4)
    text = {"query": "metrics.top1@coco > 0.5 and attributes.framework = 'torch'"}
    assert await versions(api, model["id"], **text, **best_on_imagenet) == ([6, 4], 2)
    either = {"query": "alias in ('production', 'staging') or metrics.top1@coco >= 0.9"}
    by_number = {"orderBy": [{"field": "version", "direction": "ASC"}]}
    assert await versions(api, model["id"], **either, **by_number) == ([2, 4, 5], 3)
    # Any dataset when none is named.
    assert await versions(api, model["id"], query="metrics.top1 < 0.45", **by_number) == ([3], 1)
    no_alias = {"query": "alias != 'production' and framework = 'jax'"}
    assert await versions(api, model["id"], **no_alias) == ([3], 1)

    body = await api.post(VERSIONS, {"id": model["id"], "query": "params.lr < 1"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "hyperparameters" in body["errors"][0]["message"]
