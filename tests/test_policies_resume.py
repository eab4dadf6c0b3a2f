"""Checkpoints and versions created while the change streams were down are caught up.

A database killed with -9 and restarted cannot resume a change stream: each process opens
a new one from "now" a moment later. What was created in between never reaches a stream;
the policy engines evaluate it when their stream is back, once, whatever their number.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from modelbox.server.config import Settings
from tests.api import Api, GraphQLErrors
from tests.live import running
from tests.policies import create_policy, evaluations, eventually, promotion_setup, versions
from tests.restarts import kill_and_restart, own_database

GOOD = [{"key": "accuracy", "value": 0.93, "dataset": "imagenet-val"}]
BAD = [{"key": "accuracy", "value": 0.5, "dataset": "imagenet-val"}]


async def _checkpoint(api: Api, run_id: str, step: int, metrics: list[Any]) -> dict[str, Any]:
    """Created as soon as the server can reach the restarted database again."""
    for _ in range(100):
        try:
            return await api.create_checkpoint(run_id, step, metrics=metrics)
        except GraphQLErrors:
            await asyncio.sleep(0.02)
    raise AssertionError("the server never reached the restarted database")


async def _version(api: Api, model_id: str) -> dict[str, Any]:
    for _ in range(100):
        try:
            return await api.create_version(model_id, metrics=GOOD)
        except GraphQLErrors:
            await asyncio.sleep(0.02)
    raise AssertionError("the server never reached the restarted database")


async def test_what_was_created_while_the_streams_were_down_is_evaluated_once(
    settings: Settings, tmp_path: Path
) -> None:
    async with own_database(tmp_path / "db") as database:
        own = settings.with_(mongodb_uri=database.uri)
        async with running(own) as (_, first), running(own) as (_, second):
            model, run, policy = await promotion_setup(first, first_version=False)
            labeled = await first.create_model("vision", "labeled")
            labeling = await create_policy(
                first,
                namespace="vision",
                name="label-good",
                kind="LABELING",
                modelId=labeled["id"],
                conditions=[{"key": "accuracy", "op": "GTE", "value": 0.9}],
                addLabels=[{"key": "qualified", "value": "true"}],
            )
            await first.create_checkpoint(run["id"], 0, metrics=GOOD)
            await eventually(
                lambda: versions(first, model["id"]), lambda vs: len(vs) == 1, "a live promotion"
            )

            await kill_and_restart(database)
            # Right after the restart, before either process has a stream again (each
            # finds its stream lost, then waits a second before opening a new one).
            missed = [await _checkpoint(first, run["id"], 10 * i, GOOD) for i in range(1, 6)]
            skipped = await _checkpoint(second, run["id"], 100, BAD)
            by_hand = await _version(second, labeled["id"])

            found = await eventually(
                lambda: versions(second, model["id"]), lambda vs: len(vs) == 6, "5 caught up"
            )
            records = await eventually(
                lambda: evaluations(first, policy["id"]), lambda es: len(es) == 7, "7 records"
            )
            await asyncio.sleep(2)  # time for the slower process to (not) act twice
            found = await versions(first, model["id"])
            assert len(found) == 6
            assert sorted(v["version"] for v in found) == list(range(1, 7))
            promoted = {v["checkpoint"]["id"] for v in found}
            assert {c["id"] for c in missed} <= promoted
            records = await evaluations(second, policy["id"])
            assert len(records) == 7
            caught = {r["subject"]["id"]: r for r in records if r["trigger"] == "RESUME"}
            assert set(caught) == {c["id"] for c in [*missed, skipped]}
            assert caught[skipped["id"]]["decision"] == "SKIPPED"
            assert caught[skipped["id"]]["reasons"] == ["accuracy on imagenet-val 0.5 < 0.9"]
            assert all(caught[c["id"]]["decision"] == "APPLIED" for c in missed)

            label = await eventually(
                lambda: evaluations(first, labeling["id"]), lambda es: len(es) == 1, "a label"
            )
            assert label[0]["subject"]["id"] == by_hand["id"]
            assert (label[0]["trigger"], label[0]["decision"]) == ("RESUME", "APPLIED")
            labels = (await versions(second, labeled["id"]))[0]["labels"]
            assert labels == [{"key": "qualified", "value": "true"}]

            # And live again afterwards.
            await first.create_checkpoint(run["id"], 1000, metrics=GOOD)
            await eventually(
                lambda: versions(first, model["id"]), lambda vs: len(vs) == 7, "live again"
            )
            latest = (await evaluations(first, policy["id"]))[0]
            assert latest["trigger"] == "CHANGE" and latest["decision"] == "APPLIED"
