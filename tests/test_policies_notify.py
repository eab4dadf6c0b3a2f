"""What policies tell others: signed webhooks with retries, and the live evaluation feed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelbox.server.config import Settings
from modelbox.server.embedded import free_port
from tests.live import running, until_live
from tests.policies import EVALUATION, create_policy, evaluations, eventually
from tests.ws import OperationError, WsClient

SECRET = "hook-secret-for-tests"


class Receiver:
    """A real HTTP endpoint that answers with `statuses` in turn (then 200) and keeps requests."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def hook(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.body()))
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(10):
                while not server.started:
                    await asyncio.sleep(0.02)
            yield self
        finally:
            server.should_exit = True
            await task


async def _labeling(api: Any, receiver: Receiver, name: str = "notify") -> tuple[str, str]:
    model = await api.create_model("vision", "resnet")
    policy = await create_policy(
        api,
        namespace="vision",
        name=name,
        kind="LABELING",
        modelId=model["id"],
        conditions=[{"key": "acc", "op": "GTE", "value": 0.9}],
        addLabels=[{"key": "benchmark", "value": "queued"}],
        webhookUrl=receiver.url,
        webhookSecret=SECRET,
    )
    return model["id"], policy["id"]


async def test_a_qualifying_version_calls_the_webhook_signed_and_retried(
    settings: Settings,
) -> None:
    receiver = Receiver([500, 503])
    async with receiver.serving(), running(settings, MODELBOX_WEBHOOK_BACKOFF="0.1") as (_, api):
        model_id, policy_id = await _labeling(api, receiver)
        version = await api.create_version(model_id, metrics=[{"key": "acc", "value": 0.95}])
        records = await eventually(
            lambda: evaluations(api, policy_id),
            lambda es: bool(es) and es[0]["webhook"] and es[0]["webhook"]["status"] != "PENDING",
            "the webhook's delivery",
        )
        delivery = records[0]["webhook"]
        assert delivery == {
            "url": receiver.url,
            "status": "DELIVERED",
            "attempts": 3,
            "responseStatus": 200,
            "lastError": "HTTP 503",
        }
        assert len(receiver.requests) == 3
        headers, body = receiver.requests[-1]
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-modelbox-signature"] == f"sha256={expected}"
        assert headers["content-type"] == "application/json"
        payload = json.loads(body)
        assert payload["decision"] == "APPLIED"
        assert payload["policy"]["name"] == "notify"
        assert payload["subject"] == {"id": version["id"], "type": "ModelVersion"}
        assert payload["evaluationId"] == records[0]["id"]
        assert payload["actions"]["addLabels"] == [{"key": "benchmark", "value": "queued"}]
        # Every attempt carried the same body, so a receiver can deduplicate on it.
        assert len({b for _, b in receiver.requests}) == 1


async def test_a_webhook_that_keeps_failing_is_given_up_and_recorded(settings: Settings) -> None:
    receiver = Receiver([500] * 20)
    env = {"MODELBOX_WEBHOOK_BACKOFF": "0.05", "MODELBOX_WEBHOOK_ATTEMPTS": "4"}
    async with receiver.serving(), running(settings, **env) as (_, api):
        model_id, policy_id = await _labeling(api, receiver)
        await api.create_version(model_id, metrics=[{"key": "acc", "value": 0.95}])
        records = await eventually(
            lambda: evaluations(api, policy_id),
            lambda es: bool(es) and es[0]["webhook"] and es[0]["webhook"]["status"] == "FAILED",
            "the webhook to be given up",
        )
        assert records[0]["decision"] == "APPLIED"  # the labels are on; only the call failed
        assert records[0]["webhook"]["attempts"] == 4
        assert records[0]["webhook"]["lastError"] == "HTTP 500"
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 4


WATCH = f"""subscription($ns: String!) {{ policyEvaluations(namespace: $ns) {{ {EVALUATION} }} }}"""


async def test_evaluations_are_watched_live_per_namespace(settings: Settings) -> None:
    async with running(settings) as (server, api):
        model = await api.create_model("vision", "resnet")
        run = await api.create_experiment("vision", "run")
        policy = await create_policy(
            api,
            namespace="vision",
            name="promote",
            kind="PROMOTION",
            modelId=model["id"],
            conditions=[{"key": "acc", "op": "GTE", "value": 0.9}],
        )
        viewer = await api.token(("vision", "VIEWER"))
        async with WsClient(server.url, token=viewer) as ws:
            op = await ws.subscribe(WATCH, {"ns": "vision"})
            first = await until_live(
                ws,
                op,
                lambda i: api.create_checkpoint(
                    run["id"], i, metrics=[{"key": "acc", "value": 0.1}]
                ),
            )
            seen = first["policyEvaluations"]
            assert seen["policy"] == {"id": policy["id"], "name": "promote"}
            assert seen["decision"] == "SKIPPED" and seen["reasons"] == ["acc 0.1 < 0.9"]

        outsider = await api.token(("nlp", "ADMIN"))
        async with WsClient(server.url, token=outsider) as ws:
            op = await ws.subscribe(WATCH, {"ns": "vision"})
            with pytest.raises(OperationError) as refused:
                await ws.next(op)
            assert refused.value.codes == ["FORBIDDEN"]
