"""Models and versions through the API: create, read back, update, delete."""

from __future__ import annotations

import asyncio

from tests.api import Api


async def test_model_with_versions_reads_back_in_one_nested_query(api: Api) -> None:
    model = await api.create_model(
        "vision",
        "resnet",
        task="classification",
        labels=[{"key": "team", "value": "cv"}],
        datasets=[{"name": "imagenet", "uri": "s3://data/imagenet", "role": "train"}],
        metadata={"arch": "resnet50"},
    )
    await api.create_version(
        model["id"], framework="pytorch", metrics=[{"key": "acc", "value": 0.71}]
    )
    await api.create_version(model["id"], framework="pytorch", aliases=["production"])

    data = await api.ok(
        """{ namespace(name: "vision") { name models { totalCount edges { node {
              name task labels { key value } datasets { name uri role } metadata
              latestVersion { version }
              versions { totalCount edges { node {
                version framework aliases metrics { key value } } } }
           } } } } }"""
    )
    node = data["namespace"]["models"]["edges"][0]["node"]
    assert node["name"] == "resnet"
    assert node["labels"] == [{"key": "team", "value": "cv"}]
    assert node["datasets"] == [{"name": "imagenet", "uri": "s3://data/imagenet", "role": "train"}]
    assert node["metadata"] == {"arch": "resnet50"}
    assert node["latestVersion"] == {"version": 2}
    versions = [e["node"] for e in node["versions"]["edges"]]
    assert node["versions"]["totalCount"] == 2
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["aliases"] == ["production"]
    assert versions[1]["metrics"] == [{"key": "acc", "value": 0.71}]


async def test_concurrent_versions_get_distinct_consecutive_numbers(api: Api) -> None:
    model = await api.create_model("vision", "concurrent")
    created = await asyncio.gather(*(api.create_version(model["id"]) for _ in range(20)))
    assert sorted(v["version"] for v in created) == list(range(1, 21))


async def test_duplicate_model_name_is_a_conflict_and_changes_nothing(api: Api) -> None:
    await api.create_model("vision", "dup")
    codes = await api.fails(
        'mutation { createModel(input: {namespace: "vision", name: "dup"}) { id } }'
    )
    assert codes == ["CONFLICT"]
    data = await api.ok('{ namespace(name: "vision") { models { totalCount } } }')
    assert data["namespace"]["models"]["totalCount"] == 1


async def test_moving_an_alias_takes_it_from_the_other_version(api: Api) -> None:
    model = await api.create_model("vision", "aliased")
    v1 = await api.create_version(model["id"], aliases=["production", "stable"])
    v2 = await api.create_version(model["id"])
    data = await api.ok(
        """mutation($id: ID!) { updateModelVersion(input: {id: $id, aliases: ["production"]}) {
             aliases } }""",
        {"id": v2["id"]},
    )
    assert data["updateModelVersion"]["aliases"] == ["production"]
    data = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on ModelVersion { aliases } } }", {"id": v1["id"]}
    )
    assert data["node"]["aliases"] == ["stable"]
    data = await api.ok(
        """query($m: ID!) { node(id: $m) { ... on Model {
             versions(filter: {alias: "production"}) { edges { node { version } } } } } }""",
        {"m": model["id"]},
    )
    assert [e["node"]["version"] for e in data["node"]["versions"]["edges"]] == [2]


async def test_deleting_a_model_deletes_its_versions(api: Api) -> None:
    model = await api.create_model("vision", "doomed")
    version = await api.create_version(model["id"])
    data = await api.ok(
        "mutation($id: ID!) { deleteModel(input: {id: $id}) { deletedId } }", {"id": model["id"]}
    )
    assert data["deleteModel"]["deletedId"] == model["id"]
    data = await api.ok(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [model["id"], version["id"]]}
    )
    assert data["nodes"] == [None, None]


async def test_update_model_changes_fields_and_keeps_others(api: Api) -> None:
    model = await api.create_model("vision", "upd", task="detection", owner="ana")
    data = await api.ok(
        """mutation($id: ID!) { updateModel(input: {id: $id, description: "better"}) {
             description task owner } }""",
        {"id": model["id"]},
    )
    assert data["updateModel"] == {"description": "better", "task": "detection", "owner": "ana"}


async def test_pages_follow_cursors_without_overlap(api: Api) -> None:
    for i in range(7):
        await api.create_model("paging", f"m{i}")
    names: list[str] = []
    after = None
    while True:
        data = await api.ok(
            """query($after: String) { namespace(name: "paging") {
                 models(first: 3, after: $after) { totalCount
                   pageInfo { hasNextPage endCursor } edges { node { name } } } } }""",
            {"after": after},
        )
        models = data["namespace"]["models"]
        assert models["totalCount"] == 7
        names += [e["node"]["name"] for e in models["edges"]]
        if not models["pageInfo"]["hasNextPage"]:
            break
        after = models["pageInfo"]["endCursor"]
    assert names == [f"m{i}" for i in range(7)]


async def test_bad_input_names_the_field_and_writes_nothing(api: Api) -> None:
    body = await api.post(
        'mutation { createModel(input: {namespace: "Bad Name!", name: "x"}) { id } }'
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "namespace" in error["message"]
    data = await api.ok("{ namespaces { totalCount } }")
    assert data["namespaces"]["totalCount"] == 0


async def test_page_size_over_the_limit_is_refused_and_named(api: Api) -> None:
    await api.create_model("vision", "m")
    body = await api.post('{ namespace(name: "vision") { models(first: 1000) { totalCount } } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "max_page_size" in body["errors"][0]["message"]
