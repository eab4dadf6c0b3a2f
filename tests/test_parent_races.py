"""A create racing its parent's delete: the child exists with its parent, or not at all."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import MongoClient

from modelbox.server.config import Settings
from tests.api import Api

ROUNDS = 40
DELETE = "mutation($id: ID!) { deleteExperiment(input: {id: $id}) { deletedId } }"
CHECKPOINT = """mutation($id: ID!) { createCheckpoint(input: {experimentId: $id, step: 7}) {
  id } }"""
ARTIFACT = """mutation($id: ID!) { createArtifact(input: {subjectId: $id, name: "w.pt"}) {
  id } }"""
METRICS = """mutation($id: ID!) { logMetrics(input: {subjectId: $id, series: [
  {key: "loss", steps: [1, 2], values: [0.5, 0.4]}]}) { accepted } }"""
EVENTS = """mutation($id: ID!) { logEvents(input: {subjectId: $id, events: [
  {name: "epoch_started"}]}) { id } }"""
CHILD_OF_CHECKPOINT = """mutation($id: ID!) { logEvents(input: {subjectId: $id, events: [
  {name: "written"}]}) { id } }"""

# Collections of children, and the field naming their parent.
CHILDREN = {
    "checkpoints": "experiment_id",
    "artifacts": "subject_id",
    "metric_series": "subject_id",
    "metric_buckets": "subject_id",
    "events": "subject_id",
}
PARENTS = ("experiments", "checkpoints", "models", "model_versions")


def _orphans(settings: Settings) -> dict[str, int]:
    """Children whose parent is gone, per collection, read straight from the database."""
    assert settings.mongodb_uri is not None
    with MongoClient(settings.mongodb_uri) as client:
        db = client[settings.database]
        alive = {doc["_id"] for name in PARENTS for doc in db[name].find({}, {"_id": 1})}
        return {
            name: sum(1 for doc in db[name].find({}, {field: 1}) if doc[field] not in alive)
            for name, field in CHILDREN.items()
        }


async def _outcome(api: Api, query: str, variables: dict[str, Any]) -> str:
    body = await api.post(query, variables)
    if body.get("errors"):
        error = body["errors"][0]
        return f"{error['extensions']['code']}: {error['message']}"
    return "OK"


async def test_creates_racing_a_delete_leave_no_orphans(api: Api, settings: Settings) -> None:
    outcomes: dict[str, list[str]] = {"delete": [], "child": []}
    for round in range(ROUNDS):
        experiment = await api.create_experiment("races", f"run-{round}")
        checkpoint = await api.create_checkpoint(experiment["id"], step=1)
        ids = {"id": experiment["id"]}
        results = await asyncio.gather(
            _outcome(api, DELETE, ids),
            *(_outcome(api, query, ids) for query in (CHECKPOINT, ARTIFACT, METRICS, EVENTS)),
            _outcome(api, CHILD_OF_CHECKPOINT, {"id": checkpoint["id"]}),
        )
        outcomes["delete"].append(results[0])
        outcomes["child"].extend(results[1:])

    assert set(outcomes["delete"]) == {"OK"}, outcomes["delete"]
    # Each create either won (and went with the experiment) or found no parent.
    codes = {outcome.split(":")[0] for outcome in outcomes["child"]}
    assert codes <= {"OK", "NOT_FOUND"}, sorted(set(outcomes["child"]))
    assert _orphans(settings) == dict.fromkeys(CHILDREN, 0)
