"""A small world of every kind of object, made through the public API.

Built so that lists have ties on their natural sort keys (three models' version 1 under one
experiment, events at the same wallclock), for tests that page every connection, and so
that fuzzers can be seeded with ids that exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.api import Api

TRACK = """mutation($input: TrackArtifactInput!) { trackArtifact(input: $input) { id } }"""
LOG_EVENTS = """mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }"""
LOG_METRICS = """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"""
SAME_TIME = "2026-03-01T12:00:00Z"
POLICY = """mutation($input: CreatePolicyInput!) { createPolicy(input: $input) { id } }"""
EVALUATE = """mutation($input: EvaluatePolicyInput!) { evaluatePolicy(input: $input) { id } }"""


@dataclass
class World:
    namespaces: list[str]
    # Global ids by GraphQL type name.
    ids: dict[str, list[str]] = field(default_factory=dict)
    metric_keys: list[str] = field(default_factory=list)
    event_names: list[str] = field(default_factory=list)

    def add(self, type_name: str, record: dict[str, Any]) -> dict[str, Any]:
        self.ids.setdefault(type_name, []).append(record["id"])
        return record


async def build_world(api: Api) -> World:
    world = World(namespaces=["alpha", "beta"])
    models = [world.add("Model", await api.create_model("alpha", f"m{i}")) for i in range(3)]
    world.add("Model", await api.create_model("beta", "other"))
    runs = [
        world.add("Experiment", await api.create_experiment("alpha", f"run{i}")) for i in (1, 2)
    ]
    checkpoints = [
        world.add("Checkpoint", await api.create_checkpoint(runs[0]["id"], step))
        for step in (10, 20, 30)
    ]
    # Every model's version 1 comes from the same run and checkpoint: ties on `version`.
    for model in models:
        world.add(
            "ModelVersion",
            await api.create_version(
                model["id"], experimentId=runs[0]["id"], checkpointId=checkpoints[0]["id"]
            ),
        )
    world.add("ModelVersion", await api.create_version(models[0]["id"], experimentId=runs[0]["id"]))
    subjects = [runs[0], checkpoints[0], models[0], {"id": world.ids["ModelVersion"][0]}]
    for subject in subjects:
        for name in ("weights.bin", "config.json"):
            data = await api.ok(
                TRACK,
                {"input": {"subjectId": subject["id"], "name": name, "uri": f"s3://b/{name}"}},
            )
            world.add("Artifact", data["trackArtifact"])
        events = [{"name": n, "source": "world", "wallclock": SAME_TIME} for n in ("a", "b", "a")]
        data = await api.ok(LOG_EVENTS, {"input": {"subjectId": subject["id"], "events": events}})
        for event in data["logEvents"]:
            world.add("Event", event)
    policy = await api.ok(
        POLICY,
        {
            "input": {
                "namespace": "alpha",
                "name": "label-good",
                "kind": "LABELING",
                "modelId": models[0]["id"],
                "conditions": [{"key": "acc", "op": "GTE", "value": 0.9}],
                "addLabels": [{"key": "good", "value": "yes"}],
                "enabled": False,
            }
        },
    )
    world.add("Policy", policy["createPolicy"])
    for _ in range(2):
        evaluated = await api.ok(
            EVALUATE,
            {
                "input": {
                    "policyId": policy["createPolicy"]["id"],
                    "subjectId": world.ids["ModelVersion"][0],
                    "dryRun": True,
                }
            },
        )
        for evaluation in evaluated["evaluatePolicy"]:
            world.add("PolicyEvaluation", evaluation)
    world.event_names = ["a", "b"]
    world.metric_keys = ["loss", "acc"]
    for subject_id in (runs[0]["id"], world.ids["ModelVersion"][0]):
        series = [
            {"key": key, "steps": [1, 2, 3], "values": [0.5, 0.25, 0.125]}
            for key in world.metric_keys
        ]
        await api.ok(LOG_METRICS, {"input": {"subjectId": subject_id, "series": series}})
    return world


async def poke_world(api: Api, world: World, step: int) -> None:
    """A write of each kind a subscription field reports (metrics, events, changes of a
    namespace, policy decisions, audit events), on the world's first objects; `step` must
    grow from one call to the next."""
    run, version = world.ids["Experiment"][0], world.ids["ModelVersion"][0]
    for subject_id in (run, version):
        series = [{"key": key, "steps": [step], "values": [0.5]} for key in world.metric_keys]
        await api.ok(LOG_METRICS, {"input": {"subjectId": subject_id, "series": series}})
    events = [{"name": name, "source": "poke"} for name in world.event_names]
    await api.ok(LOG_EVENTS, {"input": {"subjectId": run, "events": events}})
    await api.ok(
        """mutation($input: UpdateModelInput!) { updateModel(input: $input) { id } }""",
        {"input": {"id": world.ids["Model"][0], "description": f"poked {step}"}},
    )
    await api.ok(
        EVALUATE,
        {"input": {"policyId": world.ids["Policy"][0], "subjectId": version, "dryRun": True}},
    )
