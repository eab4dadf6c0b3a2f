"""A nested query costs database commands bounded by its depth, not by its size."""

from __future__ import annotations

from tests.api import Api
from tests.in_process import CommandCounter

NESTED_QUERY = """
query($ns: String!) { namespace(name: $ns) { models(first: 20) { totalCount edges { node {
  name versions(first: 10) { totalCount edges { node { version experiment { name status } } } }
} } } } }
"""


async def seed(api: Api, namespace: str, models: int, versions: int) -> None:
    experiment = await api.create_experiment(namespace, "train")
    for m in range(models):
        model = await api.create_model(namespace, f"model-{m:02d}")
        for _ in range(versions):
            await api.create_version(model["id"], experimentId=experiment["id"])


async def test_nested_query_commands_are_bounded_by_depth(
    counted: tuple[Api, CommandCounter],
) -> None:
    api, counter = counted
    await seed(api, "small", models=2, versions=1)
    await seed(api, "bounded", models=20, versions=10)

    counter.names.clear()
    await api.ok(NESTED_QUERY, {"ns": "small"})
    small = list(counter.names)

    counter.names.clear()
    data = await api.ok(NESTED_QUERY, {"ns": "bounded"})
    models = data["namespace"]["models"]
    assert models["totalCount"] == 20
    assert len(models["edges"]) == 20
    versions = [v for m in models["edges"] for v in m["node"]["versions"]["edges"]]
    assert len(versions) == 200
    assert all(v["node"]["experiment"]["name"] == "train" for v in versions)

    # token lookup, namespace, models page, models count, versions pages, versions counts,
    # experiments: one each, whatever the number of models and versions.
    assert len(counter.names) <= 7, " ".join(counter.names)
    assert counter.names == small
