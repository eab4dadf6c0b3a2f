"""LABELING and RETENTION policies through a real server, and what they record."""

from __future__ import annotations

from typing import Any

import httpx
from pymongo import MongoClient

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN, Api
from tests.live import running
from tests.policies import create_policy, evaluate, evaluations, eventually, update_policy, versions

UPDATE = """mutation($input: UpdateModelVersionInput!) { updateModelVersion(input: $input) {
  id aliases labels { key value } } }"""


def _acc(value: float) -> list[dict[str, Any]]:
    return [{"key": "acc", "value": value, "dataset": "val"}]


def _holder(found: list[dict[str, Any]], alias: str) -> int | None:
    return next((v["version"] for v in found if alias in v["aliases"]), None)


async def test_labeling_moves_production_only_to_a_version_better_by_min_delta(
    settings: Settings,
) -> None:
    async with running(settings) as (_, api):
        model = await api.create_model("vision", "resnet")
        await api.create_version(model["id"], aliases=["production"], metrics=_acc(0.90))
        policy = await create_policy(
            api,
            namespace="vision",
            name="better-than-prod",
            kind="LABELING",
            modelId=model["id"],
            conditions=[
                {
                    "key": "acc",
                    "dataset": "val",
                    "op": "GT",
                    "compareToAlias": "production",
                    "minDelta": 0.02,
                }
            ],
            requireLabels=[{"key": "reviewed", "value": "true"}],
            setAlias="production",
            addLabels=[{"key": "qualified", "value": "true"}],
        )
        reviewed = [{"key": "reviewed", "value": "true"}]
        close = await api.create_version(model["id"], metrics=_acc(0.91), labels=reviewed)
        records = await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 1, "an evaluation"
        )
        assert records[0]["decision"] == "SKIPPED"
        assert records[0]["subject"]["id"] == close["id"]
        assert records[0]["reasons"] == [
            "acc on val 0.91 vs 0.9 for v1 (production): +0.01 (needs more than 0.02)",
            "label reviewed=true present",
        ]
        assert _holder(await versions(api, model["id"]), "production") == 1

        # Better by enough, but not reviewed yet: skipped until the label comes.
        better = await api.create_version(model["id"], metrics=_acc(0.95))
        records = await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 2, "two evaluations"
        )
        assert records[0]["decision"] == "SKIPPED"
        assert records[0]["reasons"][-1] == "label reviewed=true missing"
        await api.ok(UPDATE, {"input": {"id": better["id"], "labels": reviewed}})
        found = await eventually(
            lambda: versions(api, model["id"]),
            lambda vs: _holder(vs, "production") == 3,
            "production on version 3",
        )
        labels = next(v["labels"] for v in found if v["version"] == 3)
        assert {"key": "qualified", "value": "true"} in labels
        assert _holder(found, "production") == 3 and found[-1]["aliases"] == []
        records = await evaluations(api, policy["id"])
        assert [r["decision"] for r in records] == ["APPLIED", "SKIPPED", "SKIPPED"]
        assert records[0]["actions"] == {
            "setAlias": "production",
            "aliasFrom": 1,
            "addLabels": [{"key": "qualified", "value": "true"}],
        }
        # The label it added changed the version again, and moving the alias changed version 1:
        # neither is a decision (aliases are no trigger; a version is labeled once per policy).
        poke = [*reviewed, {"key": "poke", "value": "1"}]
        await api.ok(UPDATE, {"input": {"id": close["id"], "labels": poke}})
        await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 4, "the poke's record"
        )
        assert len(await evaluations(api, policy["id"])) == 4


async def test_labeling_looks_again_when_metrics_or_datasets_change_and_only_then(
    settings: Settings,
) -> None:
    async with running(settings) as (_, api):
        model = await api.create_model("vision", "resnet")
        policy = await create_policy(
            api,
            namespace="vision",
            name="good-on-val",
            kind="LABELING",
            modelId=model["id"],
            conditions=[{"key": "acc", "dataset": "val", "op": "GTE", "value": 0.9}],
            addLabels=[{"key": "qualified", "value": "true"}],
        )
        version = await api.create_version(model["id"], metrics=_acc(0.5))
        await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 1, "the first look"
        )
        # A description is no criterion: no new evaluation. Datasets are: a new one.
        await api.ok(UPDATE, {"input": {"id": version["id"], "description": "re-trained"}})
        datasets = [{"name": "val", "uri": "s3://data/val"}]
        await api.ok(UPDATE, {"input": {"id": version["id"], "datasets": datasets}})
        records = await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 2, "the datasets' look"
        )
        assert [r["decision"] for r in records] == ["SKIPPED", "SKIPPED"]
        assert records[0]["reasons"] == ["acc on val 0.5 < 0.9"]
        assert records[0]["trigger"] == "CHANGE"

        await api.ok(UPDATE, {"input": {"id": version["id"], "metrics": _acc(0.95)}})
        found = await eventually(
            lambda: versions(api, model["id"]),
            lambda vs: {"key": "qualified", "value": "true"} in vs[0]["labels"],
            "the label",
        )
        assert found[0]["metrics"] == _acc(0.95)
        records = await evaluations(api, policy["id"])
        assert [r["decision"] for r in records] == ["APPLIED", "SKIPPED", "SKIPPED"]
        assert records[0]["reasons"] == ["acc on val 0.95 >= 0.9"]


async def _upload(http: httpx.AsyncClient, api: Api, subject_id: str, data: bytes) -> None:
    created = await api.ok(
        """mutation($s: ID!) { createArtifact(input: {subjectId: $s, name: "w.bin"}) {
             uploadUrl } }""",
        {"s": subject_id},
    )
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    put = await http.put(created["createArtifact"]["uploadUrl"], content=data, headers=headers)
    assert put.status_code in (200, 201), put.text


async def test_retention_keeps_last_best_aliased_and_protected_and_deletes_bytes(
    settings: Settings,
) -> None:
    async with running(settings) as (_, api), httpx.AsyncClient(timeout=30) as http:
        model = await api.create_model("vision", "resnet")
        made = []
        for i in range(1, 11):
            extra: dict[str, Any] = {}
            if i == 2:
                extra["aliases"] = ["production"]
            if i == 3:
                extra["labels"] = [{"key": "pinned", "value": "yes"}]
            # acc by version: the best two are versions 4 and 6.
            acc = {4: 0.99, 6: 0.98}.get(i, 0.5 + i / 100)
            made.append(await api.create_version(model["id"], metrics=_acc(acc), **extra))
            await _upload(http, api, made[-1]["id"], f"bytes of version {i}".encode())
        policy = await create_policy(
            api,
            namespace="vision",
            name="keep-some",
            kind="RETENTION",
            modelId=model["id"],
            keepLast=2,
            keepBest=2,
            keepBestBy="acc",
            keepBestMode="max",
            protectLabels=[{"key": "pinned", "value": "yes"}],
            dryRun=True,
        )
        files = MongoClient(settings.mongodb_uri)[settings.database]["fs.files"]
        try:
            dry = await evaluate(api, policy["id"])
            assert dry[0]["decision"] == "DRY_RUN"
            assert dry[0]["subject"]["id"] == model["id"]
            assert sorted(dry[0]["actions"]["delete"]) == [1, 5, 7, 8]
            assert len(await versions(api, model["id"])) == 10 and files.count_documents({}) == 10

            await update_policy(api, policy["id"], dryRun=False)
            done = await evaluate(api, policy["id"])
            assert done[0]["decision"] == "APPLIED"
            assert "1 kept: holds an alias" in done[0]["reasons"]
            assert "1 kept: protected by label pinned=yes" in done[0]["reasons"]
            left = sorted(v["version"] for v in await versions(api, model["id"]))
            assert left == [2, 3, 4, 6, 9, 10]
            assert files.count_documents({}) == 6
            names = {f["filename"] for f in files.find()}
            assert names == {"w.bin"}
            deleted = await api.ok(
                """query($id: ID!) { node(id: $id) { id } }""", {"id": made[0]["id"]}
            )
            assert deleted["node"] is None

            # A new version runs the policy by itself: version 9 is no longer among the last 2.
            await api.create_version(model["id"], metrics=_acc(0.1))
            found = await eventually(
                lambda: versions(api, model["id"]),
                lambda vs: 9 not in {v["version"] for v in vs},
                "version 9 deleted",
            )
            assert sorted(v["version"] for v in found) == [2, 3, 4, 6, 10, 11]
            audit = await api.ok(
                """query { namespace(name: "vision") { auditEvents(first: 100,
                     filter: {actors: ["policy:keep-some"], actions: [DELETED]}) {
                     edges { node { objectType objectId } } } } }"""
            )
            gone = {
                e["node"]["objectId"]
                for e in audit["namespace"]["auditEvents"]["edges"]
                if e["node"]["objectType"] == "ModelVersion"
            }
            assert {made[i - 1]["id"] for i in (1, 5, 7, 8, 9)} <= gone
        finally:
            files.database.client.close()


async def test_retention_can_archive_instead_of_deleting(settings: Settings) -> None:
    async with running(settings) as (_, api), httpx.AsyncClient(timeout=30) as http:
        model = await api.create_model("vision", "resnet")
        for i in range(1, 4):
            version = await api.create_version(model["id"], metrics=_acc(0.5))
            await _upload(http, api, version["id"], f"bytes {i}".encode())
        policy = await create_policy(
            api,
            namespace="vision",
            name="archive-old",
            kind="RETENTION",
            modelId=model["id"],
            keepLast=1,
            action="ARCHIVE",
        )
        done = await evaluate(api, policy["id"])
        assert done[0]["decision"] == "APPLIED" and sorted(done[0]["actions"]["archive"]) == [1, 2]
        found = await versions(api, model["id"])
        assert [v["version"] for v in found] == [3, 2, 1]
        archived = [
            v["version"] for v in found if {"key": "archived", "value": "true"} in v["labels"]
        ]
        assert archived == [2, 1]
        with MongoClient(settings.mongodb_uri) as client:
            assert client[settings.database]["fs.files"].count_documents({}) == 1
        # Each archived version and each removed artifact is audited in the policy's name.
        audit = await api.ok(
            """query { namespace(name: "vision") { auditEvents(first: 100,
                 filter: {actors: ["policy:archive-old"]}) {
                 edges { node { action objectType objectId changes } } } } }"""
        )
        events = [e["node"] for e in audit["namespace"]["auditEvents"]["edges"]]
        updated = {e["objectId"]: e["changes"] for e in events if e["action"] == "UPDATED"}
        ids = {v["version"]: v["id"] for v in found}
        assert set(updated) == {ids[1], ids[2]}
        assert all(
            c == {"labels": {"from": [], "to": [{"key": "archived", "value": "true"}]}}
            for c in updated.values()
        )
        removed = [e for e in events if e["action"] == "DELETED"]
        assert [e["objectType"] for e in removed] == ["Artifact", "Artifact"]
        # Archived versions are left be on the next run.
        again = await evaluate(api, policy["id"])
        assert again[0]["actions"]["archive"] == []
        assert "2 kept: already archived" in again[0]["reasons"]


async def test_scheduled_retention_runs_without_any_new_version(settings: Settings) -> None:
    async with running(settings, MODELBOX_POLICY_INTERVAL="1") as (_, api):
        model = await api.create_model("vision", "resnet")
        for _ in range(3):
            await api.create_version(model["id"])
        policy = await create_policy(
            api,
            namespace="vision",
            name="short-lived",
            kind="RETENTION",
            modelId=model["id"],
            maxAgeDays=2 / 86400,  # two seconds
        )
        await eventually(
            lambda: versions(api, model["id"]), lambda vs: vs == [], "every version aged out"
        )
        records = await evaluations(api, policy["id"])
        assert "SCHEDULE" in {r["trigger"] for r in records}
