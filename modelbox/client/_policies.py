"""Policies through the client: list them, apply a spec (create, or update the policy of
that name), and test one on a subject without acting (a dry-run evaluation)."""

from __future__ import annotations

from typing import Any

from modelbox.client._client import Client
from modelbox.client._exceptions import NotFound

POLICY = """fragment Po on Policy { id name kind enabled dryRun setAlias keepLast keepBest
  keepBestBy keepBestMode maxAgeDays action createdAt updatedAt
  conditions { key dataset op value compareToAlias minDelta }
  requireLabels { key value } addLabels { key value } protectLabels { key value }
  namespace { name } model { id name } experiment { id name } targetModel { id name } }"""
POLICIES = (
    "query($ns: String!, $first: Int, $after: String) { namespace(name: $ns) {"
    " policies(first: $first, after: $after) { pageInfo { hasNextPage endCursor }"
    " edges { node { ...Po } } } } }\n" + POLICY
)
CREATE = "mutation($input: CreatePolicyInput!) { createPolicy(input: $input) { ...Po } }\n" + POLICY
UPDATE = "mutation($input: UpdatePolicyInput!) { updatePolicy(input: $input) { ...Po } }\n" + POLICY
EVALUATE = """mutation($input: EvaluatePolicyInput!) { evaluatePolicy(input: $input) {
  id decision reasons actions trigger at subject { __typename id } } }"""
# Given by path in a spec, resolved to the ids the API takes.
REFERENCES = {"model": "modelId", "targetModel": "targetModelId", "experiment": "experimentId"}
# What CreatePolicyInput has and UpdatePolicyInput has not: fixed once created.
FIXED = ("namespace", "kind", "modelId", "experimentId", "targetModelId")


def policies(client: Client, namespace: str) -> list[dict[str, Any]]:
    return list(client._pages(POLICIES, ["namespace", "policies"], ns=namespace))


def apply(client: Client, spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create the policy `spec` describes (CreatePolicyInput; `model`, `targetModel` and
    `experiment` may name objects by path), or update the namespace's policy of that name.
    Returns ("created" | "updated", the policy)."""
    spec = dict(spec)
    for path_field, id_field in REFERENCES.items():
        if (ref := spec.pop(path_field, None)) is not None:
            found = client.experiment(ref) if path_field == "experiment" else client.model(ref)
            spec[id_field] = found["id"]
    existing = {p["name"]: p for p in policies(client, spec["namespace"])}
    if spec["name"] not in existing:
        return "created", dict(client.graphql(CREATE, input=spec)["createPolicy"])
    changes = {k: v for k, v in spec.items() if k not in FIXED and k != "name"}
    updated = client.graphql(UPDATE, input={"id": existing[spec["name"]]["id"], **changes})
    return "updated", dict(updated["updatePolicy"])


def test(client: Client, namespace: str, name: str, subject_id: str | None) -> list[dict[str, Any]]:
    """A dry-run evaluation of the policy `name`: what it would decide, and why."""
    found = {p["name"]: p for p in policies(client, namespace)}
    if name not in found:
        raise NotFound(f"no policy {name!r} in {namespace} (or not yours to read)")
    variables = {"policyId": found[name]["id"], "subjectId": subject_id, "dryRun": True}
    return list(client.graphql(EVALUATE, input=variables)["evaluatePolicy"])
