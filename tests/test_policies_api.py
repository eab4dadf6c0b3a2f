"""Policies as objects: CRUD, validation at create time, access, links within one namespace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelbox.server.config import Settings
from modelbox.server.web.app import create_app
from tests.api import Api
from tests.policies import POLICY, create_policy, evaluations, labeling_by_hand, update_policy

CREATE = f"mutation($input: CreatePolicyInput!) {{ createPolicy(input: $input) {{ {POLICY} }} }}"
LIST = """query($ns: String!) { namespace(name: $ns) {
  policies { totalCount edges { node { id name } } }
  model(name: "resnet") { policies { totalCount edges { node { id name } } } } } }"""


async def _model(api: Api, namespace: str = "vision") -> dict[str, Any]:
    return await api.create_model(namespace, "resnet")


def _promotion(model_id: str, **more: Any) -> dict[str, Any]:
    return {
        "namespace": "vision",
        "name": "promote",
        "kind": "PROMOTION",
        "modelId": model_id,
        "conditions": [{"key": "acc", "op": "GTE", "value": 0.9}],
        **more,
    }


async def _refused(api: Api, input: dict[str, Any], field: str, token: str | None = None) -> str:
    """The message of a createPolicy refused as BAD_USER_INPUT about `field`."""
    body = await api.post(CREATE, {"input": input}, **({"token": token} if token else {}))
    assert body.get("errors"), body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"].get("field") == field, error
    return str(error["message"])


async def test_a_policy_is_created_listed_updated_and_deleted_with_an_audit_trail(
    api: Api,
) -> None:
    model = await _model(api)
    policy = await create_policy(
        api,
        **_promotion(model["id"]),
        webhookUrl="https://hooks.example.com/modelbox",
        webhookSecret="s3cret-value",
    )
    assert policy["enabled"] is True and policy["dryRun"] is False
    assert policy["namespace"] == {"name": "vision"}
    assert policy["targetModel"] == {"id": model["id"]}
    assert policy["conditions"] == [
        {
            "key": "acc",
            "dataset": None,
            "op": "GTE",
            "value": 0.9,
            "compareToAlias": None,
            "minDelta": None,
        }
    ]
    assert policy["hasWebhookSecret"] is True
    listed = await api.ok(LIST, {"ns": "vision"})
    assert listed["namespace"]["policies"]["totalCount"] == 1
    assert listed["namespace"]["model"]["policies"]["edges"][0]["node"]["id"] == policy["id"]

    changed = await update_policy(api, policy["id"], enabled=False, setAlias="candidate")
    assert changed["enabled"] is False and changed["setAlias"] == "candidate"
    assert await evaluations(api, policy["id"]) == []

    deleted = await api.ok(
        "mutation($id: ID!) { deletePolicy(input: {id: $id}) { deletedId } }", {"id": policy["id"]}
    )
    assert deleted["deletePolicy"]["deletedId"] == policy["id"]
    assert (await api.ok(LIST, {"ns": "vision"}))["namespace"]["policies"]["totalCount"] == 0

    audit = await api.ok(
        """query { namespace(name: "vision") { auditEvents(first: 20,
             filter: {objectTypes: ["Policy"]}) { edges { node { action changes } } } } }"""
    )
    trail = [e["node"] for e in audit["namespace"]["auditEvents"]["edges"]]
    assert [e["action"] for e in trail] == ["DELETED", "UPDATED", "CREATED"]
    # The secret is write-only: never in a field, never in the audit trail.
    assert "s3cret-value" not in str(trail)
    assert trail[2]["changes"]["webhook_url"] == "https://hooks.example.com/modelbox"
    names = await api.ok('{ __type(name: "Policy") { fields { name } } }')
    assert "webhookSecret" not in {f["name"] for f in names["__type"]["fields"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"keepLast": -1, "kind": "RETENTION", "conditions": None}, "keepLast"),
        ({"setAlias": "1-not-an-alias"}, "setAlias"),
        ({"conditions": [{"key": "acc", "op": "GT"}]}, "conditions.value"),
        ({"conditions": [{"key": "acc", "op": "EQ", "compareToAlias": "prod"}]}, "conditions.op"),
        (
            {"conditions": [{"key": "acc", "op": "GT", "value": 1, "minDelta": -1}]},
            "conditions.minDelta",
        ),
        ({"conditions": []}, "conditions"),
        ({"modelId": None}, "modelId"),
        ({"name": "no spaces allowed"}, "name"),
        ({"webhookUrl": "file:///etc/passwd"}, "webhookUrl"),
        ({"webhookUrl": "ftp://example.com/x"}, "webhookUrl"),
        ({"webhookUrl": "http://[::1/unclosed"}, "webhookUrl"),
        ({"webhookSecret": "s"}, "webhookUrl"),
        ({"keepLast": 3}, "keepLast"),
        ({"kind": "RETENTION", "conditions": None}, "keepLast"),
        ({"kind": "RETENTION", "conditions": None, "keepBest": 2}, "keepBestBy"),
        (
            {
                "kind": "RETENTION",
                "conditions": None,
                "keepBest": 2,
                "keepBestBy": "acc",
                "keepBestMode": "median",
            },
            "keepBestMode",
        ),
        ({"kind": "RETENTION", "conditions": None, "maxAgeDays": 0}, "maxAgeDays"),
        ({"kind": "RETENTION", "conditions": None, "maxAgeDays": 1e300}, "maxAgeDays"),
        ({"kind": "RETENTION", "keepLast": 2}, "conditions"),
        ({"addLabels": [{"key": "", "value": "x"}]}, "addLabels.key"),
    ],
)
async def test_a_bad_policy_is_refused_naming_the_field_and_nothing_is_stored(
    api: Api, change: dict[str, Any], field: str
) -> None:
    model = await _model(api)
    await _refused(api, {**_promotion(model["id"]), **change}, field)
    assert (await api.ok(LIST, {"ns": "vision"}))["namespace"]["policies"]["totalCount"] == 0


async def test_an_unknown_comparison_is_refused_by_the_schema(api: Api) -> None:
    model = await _model(api)
    input = _promotion(model["id"], conditions=[{"key": "acc", "op": "ABOUT", "value": 1}])
    body = await api.post(CREATE, {"input": input})
    assert body["errors"] and "ABOUT" in body["errors"][0]["message"]
    assert (await api.ok(LIST, {"ns": "vision"}))["namespace"]["policies"]["totalCount"] == 0


async def test_a_policy_name_is_unique_in_its_namespace(api: Api) -> None:
    model = await _model(api)
    await create_policy(api, **_promotion(model["id"]))
    assert await api.fails(CREATE, {"input": _promotion(model["id"])}) == ["CONFLICT"]


async def test_policies_are_managed_by_admins_and_read_by_viewers_of_their_namespace(
    api: Api,
) -> None:
    model = await _model(api)
    writer = await api.token(("vision", "WRITER"))
    assert await api.fails(CREATE, {"input": _promotion(model["id"])}, writer) == ["FORBIDDEN"]
    admin = await api.token(("vision", "ADMIN"))
    hook = "https://hooks.example.com/T0/B0/s3cret"
    policy = await create_policy(api, admin, **_promotion(model["id"]), webhookUrl=hook)
    viewer = await api.token(("vision", "VIEWER"))
    seen = await api.ok(LIST, {"ns": "vision"}, viewer)
    assert seen["namespace"]["policies"]["totalCount"] == 1
    # A webhook URL may carry the receiver's secret: admins see it, viewers do not.
    url = "query($id: ID!) { node(id: $id) { ... on Policy { webhookUrl } } }"
    assert (await api.ok(url, {"id": policy["id"]}, viewer))["node"] == {"webhookUrl": None}
    shown = await api.ok(url, {"id": policy["id"]}, admin)
    assert shown["node"] == {"webhookUrl": "https://hooks.example.com/T0/B0/s3cret"}
    update = "mutation($id: ID!) { updatePolicy(input: {id: $id, enabled: false}) { id } }"
    assert await api.fails(update, {"id": policy["id"]}, viewer) == ["FORBIDDEN"]
    evaluate = """mutation($id: ID!) { evaluatePolicy(input: {policyId: $id}) { id } }"""
    assert await api.fails(evaluate, {"id": policy["id"]}, writer) == ["FORBIDDEN"]

    outsider = await api.token(("nlp", "ADMIN"))
    node = await api.ok("query($id: ID!) { node(id: $id) { id } }", {"id": policy["id"]}, outsider)
    assert node["node"] is None
    assert await api.fails(update, {"id": policy["id"]}, outsider) == ["NOT_FOUND"]
    delete = "mutation($id: ID!) { deletePolicy(input: {id: $id}) { deletedId } }"
    assert await api.fails(delete, {"id": policy["id"]}, outsider) == ["NOT_FOUND"]


async def test_a_policy_never_links_to_another_namespace(api: Api) -> None:
    theirs = await _model(api, "nlp")
    ours = await _model(api)
    run = await api.create_experiment("nlp", "their-run")
    message = await _refused(api, _promotion(theirs["id"]), "modelId")
    assert "links never cross namespaces" in message
    await _refused(api, _promotion(ours["id"], targetModelId=theirs["id"]), "targetModelId")
    await _refused(api, _promotion(ours["id"], experimentId=run["id"]), "experimentId")
    # An admin of only this namespace does not even learn the other model exists.
    admin = await api.token(("vision", "ADMIN"))
    body = await api.post(CREATE, {"input": _promotion(theirs["id"])}, admin)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
    assert (await api.ok(LIST, {"ns": "vision"}))["namespace"]["policies"]["totalCount"] == 0


async def test_evaluating_by_hand_needs_a_subject_of_the_policys_scope(api: Api) -> None:
    model = await _model(api)
    other = await api.create_model("vision", "other")
    policy = await labeling_by_hand(api, "vision", model["id"])
    mine = await api.create_version(model["id"], metrics=[{"key": "acc", "value": 0.95}])
    outside = await api.create_version(other["id"], metrics=[{"key": "acc", "value": 0.95}])
    evaluate = """mutation($input: EvaluatePolicyInput!) { evaluatePolicy(input: $input) {
      decision reasons subject { id } } }"""
    no_subject = await api.post(evaluate, {"input": {"policyId": policy["id"]}})
    assert no_subject["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "subjectId"}
    wrong = await api.post(
        evaluate, {"input": {"policyId": policy["id"], "subjectId": outside["id"]}}
    )
    assert wrong["errors"][0]["extensions"]["field"] == "subjectId"
    dry = await api.ok(
        evaluate, {"input": {"policyId": policy["id"], "subjectId": mine["id"], "dryRun": True}}
    )
    assert dry["evaluatePolicy"] == [
        {"decision": "DRY_RUN", "reasons": ["acc 0.95 >= 0.9"], "subject": {"id": mine["id"]}}
    ]
    labels = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on ModelVersion { labels { key } } } }",
        {"id": mine["id"]},
    )
    assert labels["node"]["labels"] == []


async def test_metric_values_name_the_dataset_they_were_measured_on(api: Api) -> None:
    model = await _model(api)
    metrics = [
        {"key": "acc", "value": 0.91, "dataset": "imagenet-val"},
        {"key": "acc", "value": 0.85, "dataset": "imagenet-v2"},
        {"key": "loss", "value": 0.3},
    ]
    version = await api.create_version(model["id"], metrics=metrics)
    read = await api.ok(
        """query($id: ID!) { node(id: $id) { ... on ModelVersion {
             metrics { key value dataset } } } }""",
        {"id": version["id"]},
    )
    assert read["node"]["metrics"] == [{"dataset": None, **m} for m in metrics]
    twice = [*metrics, {"key": "acc", "value": 0.5, "dataset": "imagenet-val"}]
    create = """mutation($input: CreateModelVersionInput!) { createModelVersion(input: $input) {
      id } }"""
    body = await api.post(create, {"input": {"modelId": model["id"], "metrics": twice}})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "metrics"}
    bad = [{"key": "acc", "value": 0.5, "dataset": "no spaces"}]
    body = await api.post(create, {"input": {"modelId": model["id"], "metrics": bad}})
    assert body["errors"][0]["extensions"]["field"] == "metrics.dataset"


async def test_retention_of_an_experiments_checkpoints_keeps_the_last_steps(api: Api) -> None:
    run = await api.create_experiment("vision", "long-run")
    for step in (100, 400, 200, 300, 500):
        await api.create_checkpoint(run["id"], step)
    policy = await create_policy(
        api,
        namespace="vision",
        name="last-two-checkpoints",
        kind="RETENTION",
        experimentId=run["id"],
        keepLast=2,
    )
    evaluate = """mutation($id: ID!) { evaluatePolicy(input: {policyId: $id}) {
      decision actions subject { id } } }"""
    done = (await api.ok(evaluate, {"id": policy["id"]}))["evaluatePolicy"]
    assert done == [
        {
            "decision": "APPLIED",
            "actions": {"delete": [300, 200, 100]},
            "subject": {"id": run["id"]},
        }
    ]
    left = await api.ok(
        """query($id: ID!) { node(id: $id) { ... on Experiment {
             checkpoints { edges { node { step } } } } } }""",
        {"id": run["id"]},
    )
    assert [e["node"]["step"] for e in left["node"]["checkpoints"]["edges"]] == [400, 500]


async def test_an_operator_can_limit_the_hosts_webhooks_may_call(settings: Settings) -> None:
    app = create_app(settings.with_(webhook_hosts=("hooks.example.com", ".runner.internal")))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelbox.test") as c:
            api = Api(c)
            model = await _model(api)
            for allowed in ("https://hooks.example.com/x", "http://bench.runner.internal/go"):
                name = f"ok-{len(allowed)}"
                await create_policy(api, **_promotion(model["id"], name=name, webhookUrl=allowed))
            for refused in ("http://169.254.169.254/latest", "https://evil.example.com/x"):
                input = _promotion(model["id"], webhookUrl=refused)
                message = await _refused(api, input, "webhookUrl")
                assert "webhook_hosts" in message
