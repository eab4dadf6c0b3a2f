"""A small world for the browser: two runs with metrics, events, a checkpoint and an
artifact, and a model whose version came from one of them."""

from __future__ import annotations

import time
from typing import Any

from tests.api import ADMIN_TOKEN
from tests.browser.conftest import Client

RUN = """mutation($input: CreateExperimentInput!) { createExperiment(input: $input) { id name } }"""
LOG = """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"""


def log_points(client: Client, run_id: str, key: str, steps: range, scale: float = 1.0) -> None:
    client.ok(
        LOG,
        {
            "input": {
                "subjectId": run_id,
                "series": [
                    {"key": key, "steps": list(steps), "values": [scale / (s + 1) for s in steps]}
                ],
            }
        },
    )


def build(client: Client) -> dict[str, Any]:
    runs = []
    for name, lr in (("resnet-1", 0.1), ("resnet-2", 0.01)):
        run = client.ok(
            RUN,
            {
                "input": {
                    "namespace": "vision",
                    "name": name,
                    "owner": "ada",
                    "hyperparameters": {"lr": lr, "optimizer": {"name": "sgd"}},
                }
            },
        )["createExperiment"]
        log_points(client, run["id"], "loss", range(0, 200), scale=lr * 10)
        log_points(client, run["id"], "val_acc", range(0, 200, 10), scale=lr)
        runs.append(run)
    first = runs[0]["id"]
    start = time.time() - 600
    client.ok(
        """mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }""",
        {
            "input": {
                "subjectId": first,
                "events": [
                    {"name": name, "wallclock": _iso(start + 60 * i)}
                    for i, name in enumerate(["epoch", "epoch", "preempted", "epoch", "epoch"])
                ],
            }
        },
    )
    checkpoint = client.ok(
        """mutation($input: CreateCheckpointInput!) { createCheckpoint(input: $input) { id } }""",
        {"input": {"experimentId": first, "step": 199, "epoch": 3,
                   "metrics": [{"key": "val_acc", "value": 0.93}]}},
    )["createCheckpoint"]
    artifact = client.ok(
        """mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { uploadUrl } }""",
        {"input": {"subjectId": first, "name": "weights/model.pt"}},
    )["createArtifact"]
    client.http.put(
        artifact["uploadUrl"], content=b"weights" * 100,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ).raise_for_status()
    model = client.ok(
        """mutation($input: CreateModelInput!) { createModel(input: $input) { id } }""",
        {"input": {"namespace": "vision", "name": "resnet", "task": "classification"}},
    )["createModel"]
    version = client.ok(
        """mutation($input: CreateModelVersionInput!) { createModelVersion(input: $input) { id } }""",
        {"input": {"modelId": model["id"], "experimentId": first, "checkpointId": checkpoint["id"],
                   "aliases": ["production"], "metrics": [{"key": "val_acc", "value": 0.93}]}},
    )["createModelVersion"]
    return {"runs": runs, "model": model, "version": version, "checkpoint": checkpoint}


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))

