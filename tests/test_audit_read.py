"""The read side of the audit trail: everything written is there, filters narrow it, admins only."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api import Api
from tests.policies import evaluate, labeling_by_hand

AUDIT = """query($ns: String!, $first: Int, $after: String, $filter: AuditEventFilter) {
  namespace(name: $ns) { auditEvents(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id action objectType objectId actor at changes } } } } }"""

GLOBAL = """query($filter: AuditEventFilter) { auditEvents(first: 100, filter: $filter) {
  edges { node { action objectType namespace changes } } } }"""


async def audit(api: Api, ns: str = "ops", token: str | None = None, **variables: Any) -> Any:
    kwargs = {"token": token} if token else {}
    data = await api.ok(AUDIT, {"ns": ns, "first": 100, **variables}, **kwargs)
    return data["namespace"]["auditEvents"] if data["namespace"] else None


def mutation(name: str, input_type: str, selection: str = "id") -> str:
    return f"""mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} }} }}"""


async def test_every_write_is_in_the_trail_oldest_last(api: Api) -> None:
    run = await api.create_experiment("ops", "run")
    await api.ok(
        mutation("updateExperiment", "UpdateExperimentInput"),
        {"input": {"id": run["id"], "status": "FINISHED"}},
    )
    checkpoint = await api.create_checkpoint(run["id"], 5)
    model = await api.create_model("ops", "m")
    first = await api.create_version(model["id"], aliases=["production"])
    # The alias moves: the version that held it is updated in the same transaction.
    second = await api.create_version(model["id"], aliases=["production"])
    await api.ok(
        mutation("updateModelVersion", "UpdateModelVersionInput"),
        {"input": {"id": second["id"], "framework": "jax"}},
    )
    await api.ok(
        mutation("deleteModelVersion", "DeleteInput", "deletedId"), {"input": {"id": first["id"]}}
    )
    await api.ok(
        mutation("deleteExperiment", "DeleteInput", "deletedId"), {"input": {"id": run["id"]}}
    )
    await api.token(("ops", "VIEWER"), name="reader")

    trail = await audit(api)
    oldest_first = [(e["node"]["action"], e["node"]["objectType"]) for e in trail["edges"]][::-1]
    assert oldest_first == [
        ("CREATED", "Namespace"),
        ("CREATED", "Experiment"),
        ("UPDATED", "Experiment"),
        ("CREATED", "Checkpoint"),
        ("CREATED", "Model"),
        ("CREATED", "ModelVersion"),
        ("UPDATED", "ModelVersion"),
        ("CREATED", "ModelVersion"),
        ("UPDATED", "ModelVersion"),
        ("DELETED", "ModelVersion"),
        ("DELETED", "Checkpoint"),
        ("DELETED", "Experiment"),
        ("CREATED", "ApiToken"),
    ]
    assert trail["totalCount"] == len(oldest_first)
    by_id = {e["node"]["objectId"] for e in trail["edges"]}
    assert {run["id"], checkpoint["id"], model["id"], first["id"], second["id"]} <= by_id
    moved = trail["edges"][::-1][6]["node"]
    assert moved["objectId"] == first["id"]
    assert moved["changes"] == {"aliases": {"from": ["production"], "to": []}}


async def test_filters_and_pages_narrow_the_trail(api: Api) -> None:
    writer = await api.token(("ops", "WRITER"), name="trainer")
    await api.create_model("ops", "by-admin")
    name = {"namespace": "ops", "name": "by-trainer"}
    await asyncio.sleep(0.01)  # distinct milliseconds on either side of the time filters
    await api.ok(mutation("createExperiment", "CreateExperimentInput"), {"input": name}, writer)
    await asyncio.sleep(0.01)
    await api.ok(mutation("createModel", "CreateModelInput"), {"input": name}, writer)

    mine = await audit(api, filter={"actors": ["trainer"]})
    assert [e["node"]["objectType"] for e in mine["edges"]] == ["Model", "Experiment"]
    models = await audit(api, filter={"objectTypes": ["Model"], "actions": ["CREATED"]})
    assert models["totalCount"] == 2
    both = await audit(api, filter={"objectTypes": ["Model", "Experiment"]})
    assert both["totalCount"] == 3
    middle = mine["edges"][1]["node"]["at"]
    before = await audit(api, filter={"until": middle})
    assert [e["node"]["objectType"] for e in before["edges"]] == ["Model", "Namespace", "ApiToken"]
    since = await audit(api, filter={"since": middle})
    assert [e["node"]["objectType"] for e in since["edges"]] == ["Model", "Experiment"]

    seen: list[str] = []
    after = None
    while True:
        page = await audit(api, first=2, after=after)
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"] == 5


async def test_only_admins_read_the_trail(api: Api) -> None:
    await api.create_model("ops", "m")
    await api.create_model("lab", "m")
    for role in ("VIEWER", "WRITER"):
        token = await api.token(("ops", role))
        codes = await api.fails(AUDIT, {"ns": "ops"}, token=token)
        assert codes == ["FORBIDDEN"]
    lab_admin = await api.token(("lab", "ADMIN"))
    assert await audit(api, "ops", token=lab_admin) is None
    # Its trail: the namespace, the model, and the token that was minted for it.
    assert (await audit(api, "lab", token=lab_admin))["totalCount"] == 3
    # The whole trail, where tokens for every namespace show, is for admins of "*" alone.
    assert await api.fails(GLOBAL, token=lab_admin) == ["FORBIDDEN"]


async def test_tokens_for_all_namespaces_are_in_the_whole_trail(api: Api) -> None:
    await api.token(("*", "VIEWER"), name="everything-reader")
    await api.token(("ops", "VIEWER"), name="ops-reader")
    data = await api.ok(GLOBAL, {"filter": {"objectTypes": ["ApiToken"]}})
    names = [e["node"]["changes"]["name"] for e in data["auditEvents"]["edges"]]
    assert names == ["ops-reader", "everything-reader", "bootstrap-admin"]


async def test_a_policy_evaluation_is_audited_in_its_namespace(api: Api) -> None:
    model = await api.create_model("ops", "m")
    version = await api.create_version(model["id"], metrics=[{"key": "acc", "value": 0.95}])
    policy = await labeling_by_hand(api, "ops", model["id"])
    [evaluation] = await evaluate(api, policy["id"], version["id"])

    trail = await audit(api, filter={"objectTypes": ["PolicyEvaluation"]})
    [event] = [e["node"] for e in trail["edges"]]
    assert (event["action"], event["objectType"]) == ("CREATED", "PolicyEvaluation")
    assert event["objectId"] == evaluation["id"]
    assert event["changes"]["decision"] == evaluation["decision"] == "APPLIED"
    assert event["changes"]["reasons"] == evaluation["reasons"]
