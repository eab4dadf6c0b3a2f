"""The records the store hands up are what their TypedDicts declare.

mypy checks field names against the TypedDicts, but a record is cast to its TypedDict when
it leaves the database: this test keeps the declarations true to what the store writes
(every field declared, every required one present), for records written through the API.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette

from modelbox.server.resolvers.ids import from_global_id
from modelbox.server.store import Store
from modelbox.server.store.artifacts import ArtifactRecord
from modelbox.server.store.events import EventRecord
from modelbox.server.store.experiments import CheckpointRecord, ExperimentRecord
from modelbox.server.store.metrics.summaries import SeriesRecord
from modelbox.server.store.models import ModelRecord
from modelbox.server.store.namespaces import NamespaceRecord
from modelbox.server.store.policies import (
    ConditionRecord,
    PolicyEvaluationRecord,
    PolicyRecord,
    WebhookDeliveryRecord,
)
from modelbox.server.store.tokens import TokenRecord
from modelbox.server.store.versions import VersionRecord
from tests.api import Api
from tests.metrics import log
from tests.policies import (
    create_policy,
    evaluate,
    evaluations,
    eventually,
    labeling_by_hand,
    promotion_setup,
    update_policy,
    versions,
)
from tests.test_policies_notify import Receiver

CREATE_ARTIFACT = (
    """mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { id } }"""
)
TRACK_ARTIFACT = """mutation($input: TrackArtifactInput!) { trackArtifact(input: $input) { id } }"""
LOG_EVENTS = """mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }"""


def fields_of(record_type: Any) -> tuple[set[str], set[str]]:
    """(required, all) field names of a TypedDict. Read from its hints: with postponed
    annotations, `__required_keys__` counts NotRequired fields as required."""
    hints = typing.get_type_hints(record_type, include_extras=True)
    required = {k for k, v in hints.items() if typing.get_origin(v) is not typing.NotRequired}
    return required, set(hints)


def assert_declared(record: Mapping[str, Any] | None, record_type: Any) -> None:
    assert record is not None
    required, declared = fields_of(record_type)
    name = record_type.__name__
    assert set(record) <= declared, f"{name} lacks {sorted(set(record) - declared)}"
    assert required <= set(record), f"{name} requires {sorted(required - set(record))}"


def raw(global_id: str) -> str:
    decoded = from_global_id(global_id)
    assert decoded is not None
    return decoded[1]


async def test_every_record_the_store_hands_up_is_what_its_typeddict_declares(
    api: Api, app: Starlette
) -> None:
    store: Store = app.state.store
    labels = [{"key": "team", "value": "vision"}]
    model = await api.create_model("vision", "resnet", labels=labels, owner="ada")
    run = await api.create_experiment("vision", "run-1", labels=labels, hyperparameters={"lr": 0.1})
    await log(api, run["id"], {"key": "loss", "steps": [0, 1], "values": [0.5, 0.25]})
    checkpoint = await api.create_checkpoint(
        run["id"], 1, epoch=1, metrics=[{"key": "acc", "value": 0.9}]
    )
    version = await api.create_version(
        model["id"],
        aliases=["production"],
        labels=labels,
        checkpointId=checkpoint["id"],
        metrics=[{"key": "acc", "value": 0.9, "dataset": "imagenet"}],
        datasets=[{"name": "imagenet", "role": "eval"}],
    )
    pending = await api.ok(
        CREATE_ARTIFACT,
        {"input": {"subjectId": version["id"], "name": "model.bin", "sha256": "0" * 64}},
    )
    tracked = await api.ok(
        TRACK_ARTIFACT,
        {"input": {"subjectId": run["id"], "name": "data.csv", "uri": "s3://bucket/data.csv"}},
    )
    events = await api.ok(
        LOG_EVENTS,
        {
            "input": {
                "subjectId": run["id"],
                "events": [
                    {"name": "epoch", "source": "trainer", "payload": {"n": 1}},
                    {"name": "epoch"},
                ],
            }
        },
    )
    token = await api.token(("vision", "VIEWER"))

    [namespace] = await store.namespaces.get_by_names(["vision"])
    assert_declared(namespace, NamespaceRecord)
    assert_declared(await store.models.get(raw(model["id"])), ModelRecord)
    assert_declared(await store.experiments.get(raw(run["id"])), ExperimentRecord)
    assert_declared(await store.checkpoints.get(raw(checkpoint["id"])), CheckpointRecord)
    assert_declared(await store.versions.get(raw(version["id"])), VersionRecord)
    for artifact in (pending["createArtifact"], tracked["trackArtifact"]):
        assert_declared(await store.artifacts.get(raw(artifact["id"])), ArtifactRecord)
    for event in events["logEvents"]:
        assert_declared(await store.events.get(raw(event["id"])), EventRecord)
    assert_declared(await store.tokens.authenticate(token), TokenRecord)
    [[series]] = await store.metrics.summaries_of([raw(run["id"])])
    assert_declared(series, SeriesRecord)


async def test_a_version_a_policy_promoted_is_what_version_records_declare(
    api: Api, app: Starlette
) -> None:
    store: Store = app.state.store
    model, run, policy = await promotion_setup(api)
    good = [{"key": "accuracy", "value": 0.93, "dataset": "imagenet-val"}]
    checkpoint = await api.create_checkpoint(run["id"], 1000, metrics=good)
    # By hand, in case the engine has not come to it yet; a decision is taken once either way.
    await evaluate(api, policy["id"], checkpoint["id"])
    [promoted, _] = await eventually(
        lambda: versions(api, model["id"]), lambda found: len(found) == 2, "the promoted version"
    )
    record = await store.versions.get(raw(promoted["id"]))
    assert_declared(record, VersionRecord)
    assert record is not None and record.get("promoted_by") == raw(policy["id"])


async def test_policies_of_every_kind_are_what_policy_records_declare(
    api: Api, app: Starlette
) -> None:
    store: Store = app.state.store
    model, run, promotion = await promotion_setup(api)
    labeling = await labeling_by_hand(api, "vision", model["id"])
    retention = await create_policy(
        api,
        namespace="vision",
        name="keep-few",
        kind="RETENTION",
        experimentId=run["id"],
        keepLast=2,
        keepBest=1,
        keepBestBy="accuracy",
        maxAgeDays=30.0,
        protectLabels=[{"key": "keep", "value": "yes"}],
        action="ARCHIVE",
        dryRun=True,
    )
    # A webhook and its secret set afterwards, and a condition against an alias holder.
    await update_policy(
        api,
        labeling["id"],
        webhookUrl="https://hooks.example.com/modelbox",
        webhookSecret="s3cret-value",
        conditions=[{"key": "acc", "op": "GT", "compareToAlias": "prod", "minDelta": 0.01}],
        requireLabels=[{"key": "team", "value": "vision"}],
    )
    for policy in (promotion, labeling, retention):
        record = await store.policies.get(raw(policy["id"]))
        assert_declared(record, PolicyRecord)
        assert record is not None
        for condition in record.get("conditions") or []:
            assert_declared(condition, ConditionRecord)
    labeled = await store.policies.get(raw(labeling["id"]))
    assert labeled is not None and labeled.get("webhook_secret") == "s3cret-value"


async def test_policy_evaluations_of_every_kind_are_what_evaluation_records_declare(
    api: Api, app: Starlette
) -> None:
    store: Store = app.state.store
    async with Receiver([]).serving() as receiver:
        # LABELING on a change, APPLIED with a webhook call; then by hand, already done.
        other = await api.create_model("vision", "other")
        labeling = await create_policy(
            api,
            namespace="vision",
            name="label",
            kind="LABELING",
            modelId=other["id"],
            conditions=[{"key": "acc", "op": "GTE", "value": 0.9}],
            addLabels=[{"key": "good", "value": "yes"}],
            webhookUrl=receiver.url,
            webhookSecret="s3cret-value",
        )
        version = await api.create_version(other["id"], metrics=[{"key": "acc", "value": 0.95}])
        await eventually(
            lambda: evaluations(api, labeling["id"]),
            lambda es: bool(es) and es[0]["webhook"] and es[0]["webhook"]["status"] != "PENDING",
            "the webhook's delivery",
        )
        await evaluate(api, labeling["id"], version["id"])
    # PROMOTION on a change, APPLIED with a version made; RETENTION by hand, dry.
    model, run, _ = await promotion_setup(api)
    good = [{"key": "accuracy", "value": 0.93, "dataset": "imagenet-val"}]
    await api.create_checkpoint(run["id"], 1000, metrics=good)
    await eventually(
        lambda: versions(api, model["id"]), lambda found: len(found) == 2, "the promoted version"
    )
    retention = await create_policy(
        api,
        namespace="vision",
        name="keep-none",
        kind="RETENTION",
        experimentId=run["id"],
        keepLast=0,
        dryRun=True,
    )
    await evaluate(api, retention["id"])

    records = [
        await store.policy_evaluations.get(str(document["_id"]))
        async for document in store.policy_evaluations.collection.find({})
    ]
    for record in records:
        assert_declared(record, PolicyEvaluationRecord)
        assert record is not None
        if "webhook" in record:
            assert_declared(record["webhook"], WebhookDeliveryRecord)
    seen = {(r["kind"], r["decision"], r["trigger"]) for r in records if r is not None}
    assert {
        ("LABELING", "APPLIED", "CHANGE"),
        ("LABELING", "SKIPPED", "MANUAL"),
        ("PROMOTION", "APPLIED", "CHANGE"),
        ("RETENTION", "DRY_RUN", "MANUAL"),
    } <= seen, seen
    # The optional fields were there to be checked: a change's state, a webhook's delivery.
    assert any("state" in r for r in records if r is not None)
    assert any(r["webhook"]["status"] == "DELIVERED" for r in records if r and "webhook" in r)
