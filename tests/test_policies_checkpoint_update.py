"""`updateCheckpoint`: a checkpoint's metrics change later, and PROMOTION looks again.

Through real servers: a checkpoint whose metrics come to meet the conditions is promoted
once (however often they change after, however many processes see it); the mutation is a
WRITER's of the checkpoint's namespace, over HTTP and WebSocket, and bad input changes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelbox.server.config import Settings
from tests.api import Api
from tests.live import running
from tests.policies import evaluations, eventually, promotion_setup, versions
from tests.ws import LEGACY_WS, TRANSPORT_WS, OperationError, WsClient

GOOD = [{"key": "accuracy", "value": 0.93, "dataset": "imagenet-val"}]
BETTER = [{"key": "accuracy", "value": 0.97, "dataset": "imagenet-val"}]
BAD = [{"key": "accuracy", "value": 0.87, "dataset": "imagenet-val"}]
UPDATE = """mutation($input: UpdateCheckpointInput!) { updateCheckpoint(input: $input) {
  id step metrics { key value dataset } metadata } }"""
READ = """query($id: ID!) { node(id: $id) { ... on Checkpoint {
  metrics { key value dataset } metadata modelVersions { totalCount } } } }"""


async def _update(api: Api, checkpoint_id: str, **fields: Any) -> dict[str, Any]:
    data = await api.ok(UPDATE, {"input": {"id": checkpoint_id, **fields}})
    return data["updateCheckpoint"]


async def test_metrics_that_come_to_meet_the_conditions_promote_the_checkpoint_once(
    settings: Settings,
) -> None:
    async with running(settings) as (_, api):
        model, run, policy = await promotion_setup(api, first_version=False)
        checkpoint = await api.create_checkpoint(run["id"], 100, metrics=BAD)
        await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 1, "the first look"
        )
        assert await versions(api, model["id"]) == []

        updated = await _update(api, checkpoint["id"], metrics=GOOD, metadata={"note": "re-run"})
        assert updated["metrics"] == [{**GOOD[0]}] and updated["metadata"] == {"note": "re-run"}
        found = await eventually(
            lambda: versions(api, model["id"]), lambda vs: len(vs) == 1, "the promoted version"
        )
        assert found[0]["checkpoint"] == {"id": checkpoint["id"]}
        assert found[0]["metrics"] == GOOD and found[0]["aliases"] == ["staging"]
        records = await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 2, "the second look"
        )
        assert [r["decision"] for r in records] == ["APPLIED", "SKIPPED"]
        assert records[0]["trigger"] == "CHANGE"
        assert records[0]["reasons"] == ["accuracy on imagenet-val 0.93 >= 0.9"]

        # Better still, and a metadata-only change: never a second version.
        await _update(api, checkpoint["id"], metrics=BETTER)
        await _update(api, checkpoint["id"], metadata={"note": "again"})
        await asyncio.sleep(1.5)
        assert len(await versions(api, model["id"])) == 1
        assert [r["decision"] for r in await evaluations(api, policy["id"])] == [
            "APPLIED",
            "SKIPPED",
        ]

        # The update is audited in its caller's name, with what changed.
        audit = await api.ok(
            """query { namespace(name: "vision") { auditEvents(first: 50,
                 filter: {objectTypes: ["Checkpoint"], actions: [UPDATED]}) {
                 edges { node { actor changes } } } } }"""
        )
        edges = audit["namespace"]["auditEvents"]["edges"]
        assert len(edges) == 3
        first = edges[-1]["node"]
        assert not first["actor"].startswith("policy:")
        assert first["changes"]["metrics"]["to"] == GOOD
        assert first["changes"]["metrics"]["from"] == BAD


async def test_two_processes_promote_an_updated_checkpoint_once(settings: Settings) -> None:
    async with running(settings) as (_, first), running(settings) as (_, second):
        model, run, policy = await promotion_setup(first, first_version=False)
        checkpoints = [
            await first.create_checkpoint(run["id"], 10 * i, metrics=BAD) for i in range(10)
        ]
        await eventually(
            lambda: evaluations(first, policy["id"]), lambda es: len(es) == 10, "10 skipped"
        )
        apis = [first, second]
        await asyncio.gather(
            *(
                apis[i % 2].ok(UPDATE, {"input": {"id": c["id"], "metrics": GOOD}})
                for i, c in enumerate(checkpoints)
            )
        )
        await eventually(
            lambda: versions(second, model["id"]), lambda vs: len(vs) >= 10, "10 versions"
        )
        await asyncio.sleep(2)  # time for the slower process to (not) act twice
        found = await versions(first, model["id"])
        assert len(found) == 10
        assert sorted(v["checkpoint"]["id"] for v in found) == sorted(c["id"] for c in checkpoints)
        decisions = [r["decision"] for r in await evaluations(second, policy["id"])]
        assert sorted(decisions) == ["APPLIED"] * 10 + ["SKIPPED"] * 10


async def test_bad_input_and_other_callers_change_nothing(settings: Settings) -> None:
    async with running(settings) as (_, api):
        model, run, policy = await promotion_setup(api, first_version=False)
        checkpoint = await api.create_checkpoint(run["id"], 100, metrics=BAD, metadata={"a": 1})
        await eventually(
            lambda: evaluations(api, policy["id"]), lambda es: len(es) == 1, "the first look"
        )
        before = (await api.ok(READ, {"id": checkpoint["id"]}))["node"]

        bad_inputs: list[tuple[dict[str, Any], str]] = [
            ({"metrics": [GOOD[0], GOOD[0]]}, "metrics"),
            ({"metrics": [{"key": "bad key!", "value": 1.0}]}, "metrics.key"),
            ({"metrics": [{"key": f"k{i}", "value": 1.0} for i in range(101)]}, "metrics"),
            ({"metadata": {"x": "y" * 100_000}}, "metadata"),
        ]
        for fields, field in bad_inputs:
            body = await api.post(UPDATE, {"input": {"id": checkpoint["id"], **fields}})
            codes = [e["extensions"]["code"] for e in body["errors"]]
            assert codes in (["BAD_USER_INPUT"], ["PAYLOAD_TOO_LARGE"]), body
            assert field in body["errors"][0]["message"], body

        outsider = await api.token(("other", "ADMIN"), name="other-admin")
        viewer = await api.token(("vision", "VIEWER"), name="vision-viewer")
        revoked = await api.token(("vision", "WRITER"), name="revoked")
        token_id = (await api.ok("{ viewer { id } }", token=revoked))["viewer"]["id"]
        await api.ok(
            "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }",
            {"id": token_id},
        )
        refusals = {outsider: "NOT_FOUND", viewer: "FORBIDDEN", revoked: "UNAUTHENTICATED"}
        for token, code in refusals.items():
            body = await api.post(
                UPDATE, {"input": {"id": checkpoint["id"], "metrics": GOOD}}, token
            )
            assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
            assert "imagenet" not in str(body) and "resnet" not in str(body)
            async with WsClient(str(api.client.base_url), token=token) as ws:
                op = await ws.subscribe(
                    UPDATE, {"input": {"id": checkpoint["id"], "metrics": GOOD}}
                )
                with pytest.raises(OperationError) as error:
                    await ws.next(op)
                assert error.value.codes == [code]

        await asyncio.sleep(1.0)  # a change would have reached the policy by now
        assert (await api.ok(READ, {"id": checkpoint["id"]}))["node"] == before
        assert await versions(api, model["id"]) == []
        assert len(await evaluations(api, policy["id"])) == 1


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_writer_updates_over_websocket_and_the_policy_promotes(
    settings: Settings, protocol: str
) -> None:
    async with running(settings) as (process, api):
        model, run, _ = await promotion_setup(api, first_version=False)
        checkpoint = await api.create_checkpoint(run["id"], 100, metrics=BAD)
        writer = await api.token(("vision", "WRITER"), name="vision-writer")
        async with WsClient(process.url, token=writer, protocol=protocol) as ws:
            op = await ws.subscribe(UPDATE, {"input": {"id": checkpoint["id"], "metrics": GOOD}})
            data = await ws.next(op)
        assert data["updateCheckpoint"]["metrics"] == GOOD
        found = await eventually(
            lambda: versions(api, model["id"]), lambda vs: len(vs) == 1, "the promoted version"
        )
        assert found[0]["checkpoint"] == {"id": checkpoint["id"]}
