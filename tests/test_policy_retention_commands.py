"""A retention run's database commands grow with its batches, not with its versions.

The API served in this process with PyMongo command monitoring: a run deleting (or
archiving) hundreds of versions audits each one, in one insert per batch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient

from modelbox.server.config import Settings
from modelbox.server.resolvers.ids import from_global_id
from modelbox.server.store.policies.actions import BATCH
from modelbox.server.web.app import create_app
from tests.api import Api
from tests.in_process import CommandCounter
from tests.policies import create_policy, evaluate

VERSIONS = 600
KEEP = 10
# Per batch: find, delete or update, guard seals, artifacts, metrics, events, audit, commit.
PER_BATCH = 14


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Api, CommandCounter]]:
    counter = CommandCounter()
    app = create_app(settings, event_listeners=[counter])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelbox.test") as c:
            yield Api(c), counter


def _seed(settings: Settings, raw_model_id: str) -> None:
    """VERSIONS versions straight into the database: the run, not the set-up, is measured."""
    start = datetime.now(UTC) - timedelta(days=1)
    documents = [
        {
            "model_id": ObjectId(raw_model_id),
            "namespace": "vision",
            "version": v,
            "aliases": [],
            "labels": [],
            "datasets": [],
            "metrics": [],
            "created_at": start + timedelta(seconds=v),
            "updated_at": start + timedelta(seconds=v),
        }
        for v in range(1, VERSIONS + 1)
    ]
    with MongoClient(settings.mongodb_uri) as client:
        db = client[settings.database]
        db.model_versions.insert_many(documents)
        db.model_version_counters.update_one(
            {"_id": ObjectId(raw_model_id)}, {"$set": {"n": VERSIONS}}, upsert=True
        )


@pytest.mark.parametrize("action", ["DELETE", "ARCHIVE"])
async def test_a_retention_run_audits_every_version_in_a_few_commands(
    settings: Settings, served: tuple[Api, CommandCounter], action: str
) -> None:
    api, counter = served
    model = await api.create_model("vision", "big")
    decoded = from_global_id(model["id"])
    assert decoded is not None
    _seed(settings, decoded[1])
    policy = await create_policy(
        api,
        namespace="vision",
        name="keep-few",
        kind="RETENTION",
        modelId=model["id"],
        keepLast=KEEP,
        action=action,
    )
    counter.names.clear()
    done = await evaluate(api, policy["id"])
    used = Counter(counter.names)

    removed = VERSIONS - KEEP
    key = "delete" if action == "DELETE" else "archive"
    assert done[0]["decision"] == "APPLIED" and len(done[0]["actions"][key]) == removed
    batches = math.ceil(removed / BATCH)
    assert used["insert"] <= batches + 2, used  # + the evaluation and its audit event
    assert sum(used.values()) <= PER_BATCH * batches + 20, used

    # Every version is in the audit trail in the policy's name, as one by one would have it.
    wanted = "DELETED" if action == "DELETE" else "UPDATED"
    audit = await api.ok(
        """query($a: [AuditAction!]) { namespace(name: "vision") { auditEvents(first: 1,
             filter: {actors: ["policy:keep-few"], objectTypes: ["ModelVersion"], actions: $a}) {
             totalCount edges { node { changes } } } } }""",
        {"a": [wanted]},
    )
    events = audit["namespace"]["auditEvents"]
    assert events["totalCount"] == removed
    expected = (
        {"cascade": True}
        if action == "DELETE"
        else {"labels": {"from": [], "to": [{"key": "archived", "value": "true"}]}}
    )
    assert events["edges"][0]["node"]["changes"] == expected
