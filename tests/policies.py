"""Helpers for the policy tests: the public API's policy mutations and reads, and waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tests.api import ADMIN_TOKEN, Api

T = TypeVar("T")

POLICY = """id name kind enabled dryRun setAlias keepLast keepBest keepBestBy keepBestMode
  maxAgeDays action webhookUrl hasWebhookSecret namespace { name } model { id } experiment { id }
  targetModel { id } conditions { key dataset op value compareToAlias minDelta }
  requireLabels { key value } addLabels { key value } protectLabels { key value }"""
EVALUATION = """id decision reasons actions trigger at policy { id name }
  subject { id __typename ... on ModelVersion { version } ... on Checkpoint { step } }
  webhook { url status attempts responseStatus lastError }"""


async def create_policy(api: Api, token: str | None = ADMIN_TOKEN, **fields: Any) -> dict[str, Any]:
    data = await api.ok(
        f"mutation($input: CreatePolicyInput!) {{ createPolicy(input: $input) {{ {POLICY} }} }}",
        {"input": fields},
        token,
    )
    return data["createPolicy"]


async def promotion_setup(
    api: Api, first_version: bool = True
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A model (with a version 1 holding `staging`), a run, and a policy promoting its
    checkpoints with accuracy >= 0.9 on imagenet-val; returns (model, run, policy)."""
    model = await api.create_model("vision", "resnet")
    if first_version:
        await api.create_version(model["id"], aliases=["staging"])
    run = await api.create_experiment("vision", "resnet-run-1")
    policy = await create_policy(
        api,
        namespace="vision",
        name="promote-good",
        kind="PROMOTION",
        modelId=model["id"],
        experimentId=run["id"],
        conditions=[{"key": "accuracy", "dataset": "imagenet-val", "op": "GTE", "value": 0.9}],
        setAlias="staging",
        addLabels=[{"key": "source", "value": "policy"}],
    )
    return model, run, policy


async def labeling_by_hand(api: Api, namespace: str, model_id: str) -> dict[str, Any]:
    """A disabled LABELING policy of the model (evaluated only by hand): acc >= 0.9 labels
    a version good=yes."""
    return await create_policy(
        api,
        namespace=namespace,
        name="label",
        kind="LABELING",
        modelId=model_id,
        conditions=[{"key": "acc", "op": "GTE", "value": 0.9}],
        addLabels=[{"key": "good", "value": "yes"}],
        enabled=False,
    )


async def update_policy(api: Api, id: str, **changes: Any) -> dict[str, Any]:
    data = await api.ok(
        f"mutation($input: UpdatePolicyInput!) {{ updatePolicy(input: $input) {{ {POLICY} }} }}",
        {"input": {"id": id, **changes}},
    )
    return data["updatePolicy"]


async def evaluate(
    api: Api, policy_id: str, subject_id: str | None = None, dry_run: bool | None = None
) -> list[dict[str, Any]]:
    data = await api.ok(
        f"""mutation($input: EvaluatePolicyInput!) {{
              evaluatePolicy(input: $input) {{ {EVALUATION} }} }}""",
        {"input": {"policyId": policy_id, "subjectId": subject_id, "dryRun": dry_run}},
    )
    return data["evaluatePolicy"]


async def evaluations(api: Api, policy_id: str, first: int = 100) -> list[dict[str, Any]]:
    """The policy's evaluations, newest first."""
    data = await api.ok(
        f"""query($id: ID!, $first: Int) {{ node(id: $id) {{ ... on Policy {{
              evaluations(first: $first) {{ totalCount edges {{ node {{ {EVALUATION} }} }} }}
            }} }} }}""",
        {"id": policy_id, "first": first},
    )
    return [edge["node"] for edge in data["node"]["evaluations"]["edges"]]


async def versions(api: Api, model_id: str, first: int = 100) -> list[dict[str, Any]]:
    """The model's versions, newest first."""
    data = await api.ok(
        """query($id: ID!, $first: Int) { node(id: $id) { ... on Model {
             versions(first: $first) { edges { node {
               id version aliases labels { key value } metrics { key value dataset }
               checkpoint { id } experiment { id } } } } } } }""",
        {"id": model_id, "first": first},
    )
    return [edge["node"] for edge in data["node"]["versions"]["edges"]]


async def eventually(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    what: str,
    timeout: float = 20.0,
) -> T:
    """`probe()` once `ok` accepts it; the server acts on changes a moment after they land."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        await asyncio.sleep(0.1)
