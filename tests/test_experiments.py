"""Experiments and checkpoints, and the lineage from a checkpoint to a model version."""

from __future__ import annotations

from tests.api import Api

EXPERIMENT = """query($id: ID!) { node(id: $id) { ... on Experiment {
  name status owner hyperparameters startedAt endedAt namespace { name }
  checkpoints { totalCount edges { node {
    step epoch metrics { key value } modelVersion { version } } } }
  modelVersions { edges { node { version checkpoint { step } experiment { name } } } }
} } }"""


async def test_experiment_runs_and_finishes(api: Api) -> None:
    run = await api.create_experiment(
        "nlp", "bert-base", owner="ana", hyperparameters={"lr": 3e-4, "layers": 12}
    )
    assert run["status"] == "RUNNING"
    data = await api.ok(EXPERIMENT, {"id": run["id"]})
    node = data["node"]
    assert node["hyperparameters"] == {"lr": 3e-4, "layers": 12}
    assert node["startedAt"] is not None and node["endedAt"] is None
    assert node["namespace"] == {"name": "nlp"}

    finished = await api.ok(
        """mutation($id: ID!) { updateExperiment(input: {id: $id, status: FINISHED}) {
             status endedAt } }""",
        {"id": run["id"]},
    )
    assert finished["updateExperiment"]["status"] == "FINISHED"
    assert finished["updateExperiment"]["endedAt"] is not None


async def test_checkpoints_list_by_step_and_promote_to_a_version(api: Api) -> None:
    run = await api.create_experiment("nlp", "promote")
    for step in (300, 100, 200):
        await api.create_checkpoint(
            run["id"], step, epoch=step // 100, metrics=[{"key": "loss", "value": 1 / step}]
        )
    assert await api.fails(
        "mutation($id: ID!) { createCheckpoint(input: {experimentId: $id, step: 200}) { id } }",
        {"id": run["id"]},
    ) == ["CONFLICT"]

    checkpoints = (await api.ok(EXPERIMENT, {"id": run["id"]}))["node"]["checkpoints"]
    assert checkpoints["totalCount"] == 3
    steps = [e["node"]["step"] for e in checkpoints["edges"]]
    assert steps == [100, 200, 300]

    best = await api.ok(
        """query($id: ID!) { node(id: $id) { ... on Experiment {
             checkpoints(first: 1) { edges { node { id } } } } } }""",
        {"id": run["id"]},
    )
    checkpoint_id = best["node"]["checkpoints"]["edges"][0]["node"]["id"]
    model = await api.create_model("nlp", "bert")
    await api.create_version(model["id"], checkpointId=checkpoint_id)

    node = (await api.ok(EXPERIMENT, {"id": run["id"]}))["node"]
    assert node["checkpoints"]["edges"][0]["node"]["modelVersion"] == {"version": 1}
    assert node["modelVersions"]["edges"][0]["node"] == {
        "version": 1,
        "checkpoint": {"step": 100},
        "experiment": {"name": "promote"},
    }


async def test_a_checkpoint_of_another_experiment_is_refused_as_lineage(api: Api) -> None:
    first = await api.create_experiment("nlp", "first")
    second = await api.create_experiment("nlp", "second")
    checkpoint = await api.create_checkpoint(first["id"], 1)
    model = await api.create_model("nlp", "mixed")
    body = await api.post(
        """mutation($m: ID!, $c: ID!, $e: ID!) { createModelVersion(input: {
             modelId: $m, checkpointId: $c, experimentId: $e}) { id } }""",
        {"m": model["id"], "c": checkpoint["id"], "e": second["id"]},
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "experimentId" in body["errors"][0]["message"]
    data = await api.ok(
        "query($m: ID!) { node(id: $m) { ... on Model { latestVersion { version } } } }",
        {"m": model["id"]},
    )
    assert data["node"]["latestVersion"] is None


async def test_deleting_an_experiment_deletes_its_checkpoints(api: Api) -> None:
    run = await api.create_experiment("nlp", "gone")
    checkpoint = await api.create_checkpoint(run["id"], 5)
    await api.ok(
        "mutation($id: ID!) { deleteExperiment(input: {id: $id}) { deletedId } }", {"id": run["id"]}
    )
    data = await api.ok(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [run["id"], checkpoint["id"]]}
    )
    assert data["nodes"] == [None, None]


async def test_experiments_filter_by_status_and_label(api: Api) -> None:
    await api.create_experiment("cv", "a", labels=[{"key": "sweep", "value": "s1"}])
    b = await api.create_experiment("cv", "b", labels=[{"key": "sweep", "value": "s2"}])
    await api.ok(
        "mutation($id: ID!) { updateExperiment(input: {id: $id, status: FAILED}) { id } }",
        {"id": b["id"]},
    )
    data = await api.ok(
        """{ namespace(name: "cv") {
             failed: experiments(filter: {status: FAILED}) { edges { node { name } } }
             s1: experiments(filter: {labels: [{key: "sweep", value: "s1"}]}) {
               edges { node { name } } }
             byName: experiment(name: "a") { name } } }"""
    )
    ns = data["namespace"]
    assert [e["node"]["name"] for e in ns["failed"]["edges"]] == ["b"]
    assert [e["node"]["name"] for e in ns["s1"]["edges"]] == ["a"]
    assert ns["byName"] == {"name": "a"}


UPDATE_CHECKPOINT = """mutation($input: UpdateCheckpointInput!) {
  updateCheckpoint(input: $input) { step metrics { key value } metadata } }"""


async def test_update_checkpoint_keeps_what_is_left_out_and_clears_what_is_null(api: Api) -> None:
    run = await api.create_experiment("nlp", "evaluated")
    acc = [{"key": "acc", "value": 0.5}]
    checkpoint = await api.create_checkpoint(run["id"], 10, metrics=acc, metadata={"a": 1})

    async def update(**changes: object) -> dict:
        data = await api.ok(UPDATE_CHECKPOINT, {"input": {"id": checkpoint["id"], **changes}})
        return data["updateCheckpoint"]

    better = [{"key": "acc", "value": 0.75}, {"key": "f1", "value": 0.5}]
    assert await update(metrics=better) == {"step": 10, "metrics": better, "metadata": {"a": 1}}
    assert await update(metadata={"b": 2}) == {"step": 10, "metrics": better, "metadata": {"b": 2}}
    assert await update(metrics=None) == {"step": 10, "metrics": [], "metadata": {"b": 2}}
    assert (await update(metrics=acc, metadata=None))["metadata"] is None
    assert (await update(metrics=[]))["metrics"] == []
    # The same rule as a literal in the document (no variables).
    literal = """mutation($id: ID!) {
      updateCheckpoint(input: {id: $id, metrics: null}) { metrics { key } } }"""
    await update(metrics=acc)
    assert (await api.ok(literal, {"id": checkpoint["id"]}))["updateCheckpoint"]["metrics"] == []
