"""Webhook calls of policies: a signed JSON POST, retried with backoff for a bounded time.

Only the process that recorded a decision calls its webhook, so a receiver hears of each
decision once per successful delivery; every attempt sends the same body and the same
`X-ModelBox-Delivery` id, for a receiver that retries on its side too. Each attempt's
outcome is written to the evaluation (`webhook`: status, attempts, last error).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

import httpx
import orjson

from modelbox.server.config import Settings
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.resolvers.policies.checks import webhook_host_allowed
from modelbox.server.store import Store
from modelbox.server.store.policies import (
    PolicyEvaluationRecord,
    PolicyRecord,
    WebhookDeliveryRecord,
)

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
SIGNATURE = "X-ModelBox-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(policy: PolicyRecord, evaluation: PolicyEvaluationRecord) -> dict[str, Any]:
    return {
        "event": "policy.evaluation",
        "evaluationId": to_global_id("PolicyEvaluation", evaluation["id"]),
        "decision": evaluation["decision"],
        "reasons": evaluation["reasons"],
        "actions": public_actions(evaluation.get("actions") or {}),
        "policy": {
            "id": to_global_id("Policy", policy["id"]),
            "name": policy["name"],
            "kind": policy["kind"],
        },
        "namespace": policy["namespace"],
        "subject": {
            "id": to_global_id(evaluation["subject_type"], evaluation["subject_id"]),
            "type": evaluation["subject_type"],
        },
        "at": evaluation["at"].isoformat(),
    }


def public_actions(actions: dict[str, Any]) -> dict[str, Any]:
    """Actions as clients see them: the created version by its global id."""
    if actions.get("createdVersion"):
        return {
            **actions,
            "createdVersion": to_global_id("ModelVersion", actions["createdVersion"]),
        }
    return actions


class Webhooks:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.hosts = settings.webhook_hosts
        self.attempts = max(1, settings.webhook_attempts)
        self.backoff = settings.webhook_backoff
        # No redirects: a receiver cannot bounce the call to an address the operator did
        # not mean to reach.
        self.client = httpx.AsyncClient(timeout=settings.webhook_timeout, follow_redirects=False)
        self.tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def pending(url: str) -> WebhookDeliveryRecord:
        return {
            "url": url,
            "status": PENDING,
            "attempts": 0,
            "response_status": None,
            "last_error": None,
        }

    def send(self, policy: PolicyRecord, evaluation: PolicyEvaluationRecord) -> None:
        """Deliver in the background; the decision is already committed."""
        task = asyncio.create_task(self._deliver(policy, evaluation))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, policy: PolicyRecord, evaluation: PolicyEvaluationRecord) -> None:
        body = orjson.dumps(payload(policy, evaluation))
        headers = {
            "content-type": "application/json",
            "user-agent": "ModelBox-Webhook/1",
            "x-modelbox-event": "policy.evaluation",
            "x-modelbox-delivery": to_global_id("PolicyEvaluation", evaluation["id"]),
        }
        if secret := policy.get("webhook_secret"):
            headers[SIGNATURE] = signature(secret, body)
        # The URL the decision was recorded with (`send` is only called for one that has it).
        delivery = self.pending(evaluation["webhook"]["url"])
        if not webhook_host_allowed(delivery["url"], self.hosts):
            # The allowed hosts changed since the policy was made: not called at all.
            delivery["status"], delivery["last_error"] = FAILED, "host not allowed (webhook_hosts)"
            await self.store.policy_evaluations.set_webhook(evaluation["id"], delivery)
            return
        for attempt in range(1, self.attempts + 1):
            delivery["attempts"] = attempt
            try:
                response = await self.client.post(delivery["url"], content=body, headers=headers)
                delivery["response_status"] = response.status_code
                if response.is_success:
                    delivery["status"] = DELIVERED
                    break
                delivery["last_error"] = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                delivery["last_error"] = f"{type(error).__name__}: {str(error)[:200]}"
            if attempt == self.attempts:
                delivery["status"] = FAILED
                break
            await self.store.policy_evaluations.set_webhook(evaluation["id"], delivery)
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        await self.store.policy_evaluations.set_webhook(evaluation["id"], delivery)
        if delivery["status"] == FAILED:
            log.warning("webhook of policy %s failed: %s", policy["name"], delivery["last_error"])

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.aclose()
