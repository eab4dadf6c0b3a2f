"""PROMOTION policies through real servers: good checkpoints become versions, exactly once."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
from pymongo import MongoClient

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN, Api
from tests.live import running
from tests.policies import evaluate, evaluations, eventually, promotion_setup, versions

GOOD = [
    {"key": "accuracy", "value": 0.93, "dataset": "imagenet-val"},
    {"key": "loss", "value": 0.2},
]
BAD = [{"key": "accuracy", "value": 0.87, "dataset": "imagenet-val"}, {"key": "loss", "value": 0.4}]


async def _checkpoint_versions(api: Api, checkpoint_id: str) -> list[dict[str, object]]:
    data = await api.ok(
        """query($id: ID!) { node(id: $id) { ... on Checkpoint {
             modelVersion { id version }
             modelVersions { totalCount edges { node { id version } } } } } }""",
        {"id": checkpoint_id},
    )
    return data["node"]


async def test_a_good_checkpoint_becomes_the_next_version_and_a_bad_one_is_skipped(
    settings: Settings,
) -> None:
    async with running(settings) as (_, api):
        model, run, policy = await promotion_setup(api)
        assert policy["kind"] == "PROMOTION" and policy["model"]["id"] == model["id"]

        good = await api.create_checkpoint(run["id"], 1000, epoch=3, metrics=GOOD)
        found = await eventually(
            lambda: versions(api, model["id"]), lambda vs: len(vs) == 2, "the promoted version"
        )
        promoted = found[0]
        assert promoted["version"] == 2
        assert promoted["checkpoint"] == {"id": good["id"]}
        assert promoted["experiment"] == {"id": run["id"]}
        assert promoted["aliases"] == ["staging"]  # moved off version 1
        assert found[1]["aliases"] == []
        assert {"key": "source", "value": "policy"} in promoted["labels"]
        assert promoted["metrics"] == [
            {"key": "accuracy", "value": 0.93, "dataset": "imagenet-val"},
            {"key": "loss", "value": 0.2, "dataset": None},
        ]
        lineage = await _checkpoint_versions(api, good["id"])
        assert lineage["modelVersion"] == {"id": promoted["id"], "version": 2}
        assert lineage["modelVersions"]["totalCount"] == 1

        bad = await api.create_checkpoint(run["id"], 2000, metrics=BAD)
        records = await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 2, "two evaluations"
        )
        skipped, applied = records
        assert skipped["decision"] == "SKIPPED"
        assert skipped["subject"] == {"id": bad["id"], "__typename": "Checkpoint", "step": 2000}
        assert skipped["reasons"] == ["accuracy on imagenet-val 0.87 < 0.9"]
        assert skipped["trigger"] == "CHANGE"
        assert applied["decision"] == "APPLIED"
        assert applied["reasons"] == ["accuracy on imagenet-val 0.93 >= 0.9"]
        assert applied["actions"]["createdVersion"] == promoted["id"]
        assert applied["actions"]["setAlias"] == "staging"
        assert len(await versions(api, model["id"])) == 2
        assert (await _checkpoint_versions(api, bad["id"]))["modelVersions"]["totalCount"] == 0

        # Evaluated again by hand: a checkpoint is promoted at most once per policy.
        again = await evaluate(api, policy["id"], good["id"])
        assert again[0]["decision"] == "SKIPPED" and again[0]["trigger"] == "MANUAL"
        assert again[0]["reasons"] == ["already promoted to version 2"]
        assert len(await versions(api, model["id"])) == 2

        # What the policy did is audited in its own name.
        audit = await api.ok(
            """query { namespace(name: "vision") { auditEvents(first: 50,
                 filter: {actors: ["policy:promote-good"]}) { edges { node {
                   action objectType objectId } } } } }"""
        )
        done = {
            (e["node"]["action"], e["node"]["objectType"])
            for e in audit["namespace"]["auditEvents"]["edges"]
        }
        assert ("CREATED", "ModelVersion") in done and ("UPDATED", "ModelVersion") in done
        assert ("CREATED", "PolicyEvaluation") in done  # every decision, skipped ones too


async def test_a_promoted_version_carries_the_checkpoints_artifacts_without_copying_bytes(
    settings: Settings,
) -> None:
    data = b"weights " * 10_000
    async with running(settings) as (_, api):
        model, run, _ = await promotion_setup(api)
        checkpoint = await api.create_checkpoint(run["id"], 1000, metrics=GOOD)
        await eventually(
            lambda: versions(api, model["id"]), lambda vs: len(vs) == 2, "the promoted version"
        )
        # Uploaded after the promotion: it is attached to the version when it is complete.
        created = await api.ok(
            """mutation($s: ID!) { createArtifact(input: {subjectId: $s, name: "model.pt"}) {
                 uploadUrl } }""",
            {"s": checkpoint["id"]},
        )
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(timeout=30) as http:
            put = await http.put(
                created["createArtifact"]["uploadUrl"], content=data, headers=headers
            )
            assert put.status_code in (200, 201), put.text

            async def version_artifacts() -> list[dict[str, object]]:
                got = await api.ok(
                    """query($id: ID!) { node(id: $id) { ... on Model { version(version: 2) {
                         artifacts { edges { node { name size sha256 downloadUrl } } } } } } }""",
                    {"id": model["id"]},
                )
                return [e["node"] for e in got["node"]["version"]["artifacts"]["edges"]]

            attached = await eventually(version_artifacts, lambda a: len(a) == 1, "the artifact")
            assert attached[0]["name"] == "model.pt"
            assert attached[0]["sha256"] == hashlib.sha256(data).hexdigest()
            download = await http.get(attached[0]["downloadUrl"], headers=headers)
            assert download.content == data
        with MongoClient(settings.mongodb_uri) as client:
            assert client[settings.database]["fs.files"].count_documents({}) == 1


async def test_two_processes_promote_each_of_50_concurrent_checkpoints_exactly_once(
    settings: Settings,
) -> None:
    async with running(settings) as (_, first), running(settings) as (_, second):
        model, run, policy = await promotion_setup(first)
        apis = [first, second]
        created = await asyncio.gather(
            *(apis[i % 2].create_checkpoint(run["id"], 10 * i, metrics=GOOD) for i in range(50))
        )
        await eventually(
            lambda: versions(first, model["id"]), lambda vs: len(vs) >= 51, "50 promoted versions"
        )
        records = await eventually(
            lambda: evaluations(first, policy["id"]), lambda es: len(es) >= 50, "50 evaluations"
        )
        # Both processes saw every checkpoint; give the slower one time to (not) act twice.
        await asyncio.sleep(2)
        found = await versions(second, model["id"])
        assert len(found) == 51
        assert sorted(v["version"] for v in found) == list(range(1, 52))
        from_checkpoints = [v["checkpoint"]["id"] for v in found if v["checkpoint"]]
        assert sorted(from_checkpoints) == sorted(c["id"] for c in created)
        records = await evaluations(second, policy["id"])
        assert len(records) == 50 and {r["decision"] for r in records} == {"APPLIED"}
        # The alias ended on exactly one of them.
        assert sum("staging" in v["aliases"] for v in found) == 1
