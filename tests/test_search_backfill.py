"""Runs written before search kept its data are found once a process starts on them."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
from pymongo import MongoClient

from modelbox.server.config import Settings
from modelbox.server.web.app import create_app
from tests.api import Api
from tests.test_search import IN_NAMESPACE, LOG, SEARCH

# name: (lr, optimizer, val_acc points)
RUNS = {
    "old-0": (0.1, "adam", [0.2, 0.9]),
    "old-1": (0.001, "sgd", [0.8, 0.6]),
    "old-2": (0.001, "adam", [0.7]),
    "old-3": (0.01, "adam", [0.3, 0.4]),
    "old-4": (0.0001, "lamb", [0.95, 0.1]),
}


def names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


async def test_runs_from_before_the_search_data_are_found_after_a_restart(
    api: Api, settings: Settings
) -> None:
    for name, (lr, optimizer, points) in RUNS.items():
        run = await api.create_experiment(
            "vision", name, hyperparameters={"lr": lr, "optimizer": {"name": optimizer}}
        )
        series = [{"key": "val_acc", "steps": list(range(len(points))), "values": points}]
        await api.ok(LOG, {"input": {"subjectId": run["id"], "series": series}})
    # The database as an older ModelBox left it: no summaries on the runs, no search values.
    with MongoClient(settings.mongodb_uri) as client:
        database = client[settings.database]
        database.experiments.update_many({}, {"$unset": {"metric_summaries": ""}})
        database.search_values.delete_many({})
        database.migrations.delete_many({})

    # Two processes start on it at once: both rebuild, neither spoils the other's work.
    apps = [create_app(settings) for _ in range(2)]
    async with AsyncExitStack() as stack:
        await asyncio.gather(
            *(stack.enter_async_context(app.router.lifespan_context(app)) for app in apps)
        )
        for app in apps:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mb.test") as client:
                fresh = Api(client)
                top = await fresh.ok(
                    IN_NAMESPACE,
                    {"ns": "vision", "first": 3, "orderBy": [{"metric": "val_acc"}]},
                )
                # Last values: old-0 0.9, old-2 0.7, old-1 0.6, old-3 0.4, old-4 0.1.
                assert names(top["namespace"]["experiments"]) == ["old-0", "old-2", "old-1"]
                low_lr = await fresh.ok(
                    IN_NAMESPACE,
                    {
                        "ns": "vision",
                        "query": "params.lr < 0.01 and metrics.val_acc.max >= 0.8",
                        "orderBy": [{"field": "name", "direction": "ASC"}],
                    },
                )
                assert names(low_lr["namespace"]["experiments"]) == ["old-1", "old-4"]
                # Across namespaces the search reads the runs' own summaries, rebuilt too.
                everywhere = await fresh.ok(
                    SEARCH,
                    {"query": "metrics.val_acc.min < 0.25 and params.optimizer.name = 'adam'"},
                )
                assert names(everywhere["experiments"]) == ["old-0"]
