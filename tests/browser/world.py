"""A small world for the browser: two runs with metrics, events, a checkpoint and an
artifact, and a model whose version came from one of them."""

from __future__ import annotations

import time
from typing import Any

from tests.api import ADMIN_TOKEN
from tests.browser.conftest import Client


def mutate(client: Client, name: str, input: dict[str, Any], fields: str = "id") -> Any:
    """`name(input: …) { fields }`, the input type named after the mutation."""
    kind = name[0].upper() + name[1:]
    return client.ok(
        f"mutation($input: {kind}Input!) {{ {name}(input: $input) {{ {fields} }} }}",
        {"input": input},
    )[name]


def log_points(client: Client, run_id: str, key: str, steps: range, scale: float = 1.0) -> None:
    values = [scale / (s + 1) for s in steps]
    series = [{"key": key, "steps": list(steps), "values": values}]
    mutate(client, "logMetrics", {"subjectId": run_id, "series": series}, "accepted")


def build(client: Client) -> dict[str, Any]:
    runs = []
    for name, lr in (("resnet-1", 0.1), ("resnet-2", 0.01)):
        hyperparameters = {"lr": lr, "optimizer": {"name": "sgd"}}
        spec = {"namespace": "vision", "name": name, "owner": "ada"}
        run = mutate(
            client, "createExperiment", {**spec, "hyperparameters": hyperparameters}, "id name"
        )
        log_points(client, run["id"], "loss", range(0, 200), scale=lr * 10)
        log_points(client, run["id"], "val_acc", range(0, 200, 10), scale=lr)
        runs.append(run)
    first = runs[0]["id"]
    start = time.time() - 600
    names = ["epoch", "epoch", "preempted", "epoch", "epoch"]
    events = [{"name": name, "wallclock": _iso(start + 60 * i)} for i, name in enumerate(names)]
    mutate(client, "logEvents", {"subjectId": first, "events": events})
    metrics = [{"key": "val_acc", "value": 0.93, "dataset": "imagenet-val"}]
    checkpoint = mutate(
        client,
        "createCheckpoint",
        {"experimentId": first, "step": 199, "epoch": 3, "metrics": metrics},
    )
    artifact = mutate(
        client, "createArtifact", {"subjectId": first, "name": "weights/model.pt"}, "uploadUrl"
    )
    client.http.put(
        artifact["uploadUrl"],
        content=b"weights" * 100,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ).raise_for_status()
    model = mutate(
        client, "createModel", {"namespace": "vision", "name": "resnet", "task": "classification"}
    )
    version = mutate(
        client,
        "createModelVersion",
        {
            "modelId": model["id"],
            "experimentId": first,
            "checkpointId": checkpoint["id"],
            "aliases": ["production"],
            "metrics": metrics,
        },
    )
    condition = {"key": "val_acc", "op": "GTE", "value": 0.9, "dataset": "imagenet-val"}
    policy = mutate(
        client,
        "createPolicy",
        {
            "namespace": "vision",
            "modelId": model["id"],
            "name": "label-good",
            "kind": "LABELING",
            "conditions": [condition],
            "addLabels": [{"key": "quality", "value": "good"}],
        },
    )
    mutate(client, "evaluatePolicy", {"policyId": policy["id"], "subjectId": version["id"]})
    return {"runs": runs, "model": model, "version": version, "checkpoint": checkpoint}


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
