"""Starting a run costs a pinned set of database commands, whatever the number of runs.

A sweep seeds thousands of runs: each is `createExperiment` (its hyperparameters) and a
`logMetrics` that starts its series. Both are pinned command by command, and none may
read more than its own documents: the embedded database answers a findAndModify, or a
filter with a field outside an index, by scanning the whole collection, which made each
run slower than the last (bench/runs.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from modelbox.server.access import SYSTEM_ACTOR
from modelbox.server.config import Settings
from modelbox.server.errors import SeriesKindClash
from modelbox.server.store import Store
from modelbox.server.store.metrics import FLOAT, TENSOR, SeriesPoints
from tests.api import Api
from tests.in_process import CommandCounter
from tests.metrics import log, series_of

HYPERPARAMETERS = {f"p{i:02d}": i / 100 for i in range(20)}
KEYS = [f"metric_{i}" for i in range(10)]
TOP = """query($query: String!) { namespace(name: "sweep") {
  experiments(first: 5, query: $query, orderBy: [{metric: "metric_3", aggregate: MAX}]) {
    edges { node { name } } } } }"""

CREATE = [
    "find api_tokens",  # the token
    "update namespaces",  # created with its first object, in the same transaction
    "insert experiments",
    "insert audit_events",
    "insert search_values",  # the 20 hyperparameters, one insert
    "commitTransaction",
]
FIRST_LOG = [
    "find api_tokens",
    "find experiments",  # the subject and its namespace, for the access check
    "update parent_guards",  # conflicts with a delete of the run
    "find experiments",  # the run still exists, inside the transaction
    "find metric_series",  # which keys exist, and their kinds
    "insert metric_series",  # ten new summaries, one insert
    "insert metric_buckets",
    "update experiments",  # the run's metric summaries, for search
    "insert search_values",  # last/min/max of ten new series, one insert
    "commitTransaction",
]
NEXT_LOG = [
    "find api_tokens",
    "find experiments",
    "update parent_guards",
    "find experiments",
    "find metric_series",
    "update metric_series",  # ten summaries folded, one bulk write
    "insert metric_buckets",
    "update metric_tiles",  # plots of these steps are stale
    "update experiments",
    "find experiments",  # the folded summaries, read back by _id
    "update search_values",
    "commitTransaction",
    "find metric_series",  # whether a series has gathered enough small buckets to compact
]


FINISH = """mutation($id: ID!) { updateExperiment(input: {id: $id, status: FINISHED}) {
  status endedAt } }"""
# A run's end, as a sweep marks each run finished: reads and writes by `_id`, not findAndModify.
FINISH_COMMANDS = [
    "find api_tokens",
    "find experiments",  # the run, for the access check
    "find experiments",  # the run as it is, inside the transaction
    "update experiments",
    "insert audit_events",
    "find experiments",  # the run as it is now
    "commitTransaction",
]
EVENT = """mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }"""
TIMELINE = """query($id: ID!) { node(id: $id) { ... on Experiment {
  events(first: 10) { edges { node { sincePrevious } } } } } }"""
RELABEL = """mutation($id: ID!) { updateModel(input: {id: $id, description: "b"}) { id } }"""
DELETE_VERSION = """mutation($id: ID!) { deleteModelVersion(input: {id: $id}) { deletedId } }"""
DELETE = """mutation($id: ID!) { deleteExperiment(input: {id: $id}) { deletedId } }"""


def at(seconds: int) -> str:
    return f"2026-01-01T10:{seconds // 60:02d}:{seconds % 60:02d}Z"


def series(offset: float) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "steps": [0, 1, 2, 3, 4],
            "values": [offset + i / 10 + s / 100 for s in range(5)],
        }
        for i, key in enumerate(KEYS)
    ]


async def test_starting_a_run_with_ten_series_costs_pinned_commands(
    counted: tuple[Api, CommandCounter],
) -> None:
    api, counter = counted
    await api.create_experiment("sweep", "warm-up")  # the namespace exists, as in a sweep

    counter.clear()
    run = await api.create_experiment("sweep", "run-1", hyperparameters=HYPERPARAMETERS)
    assert counter.commands == CREATE

    counter.clear()
    assert await log(api, run["id"], *series(0.0)) == {"accepted": 50, "duplicate": False}
    assert counter.commands == FIRST_LOG

    # A second request to the same series folds into what the first one started.
    counter.clear()
    assert await log(api, run["id"], *series(1.0)) == {"accepted": 50, "duplicate": False}
    assert counter.commands == NEXT_LOG

    summaries = {s["key"]: s for s in await series_of(api, run["id"])}
    assert summaries["metric_3"]["count"] == 10
    assert summaries["metric_3"]["min"] == 0.3
    assert summaries["metric_3"]["max"] == 1.34
    assert summaries["metric_3"]["last"]["value"] == 1.34

    # Search sees both requests' values: inserted by the first, replaced by the second.
    other = await api.create_experiment("sweep", "run-2", hyperparameters={"p00": 1})
    await log(api, other["id"], *series(0.5))
    top = await api.ok(TOP, {"query": "metrics.metric_3.min >= 0.3"})
    assert [e["node"]["name"] for e in top["namespace"]["experiments"]["edges"]] == [
        "run-1",
        "run-2",
    ]
    top = await api.ok(TOP, {"query": "metrics.metric_3.max < 1.3"})
    assert [e["node"]["name"] for e in top["namespace"]["experiments"]["edges"]] == ["run-2"]

    counter.clear()
    finished = (await api.ok(FINISH, {"id": run["id"]}))["updateExperiment"]
    assert finished["status"] == "FINISHED" and finished["endedAt"] is not None
    assert counter.commands == FINISH_COMMANDS

    counter.clear()
    await api.ok(DELETE, {"id": other["id"]})
    assert "findAndModify experiments" not in counter.commands
    assert counter.commands.count("delete experiments") == 1
    top = await api.ok(TOP, {"query": "metrics.metric_3.min >= 0"})
    assert [e["node"]["name"] for e in top["namespace"]["experiments"]["edges"]] == ["run-1"]


async def test_processes_starting_one_series_at_once_lose_nothing(settings: Settings) -> None:
    """Two stores stand for two processes (each has its own turn per subject): both start
    the same series at once, and then one of them starts a key in another kind."""
    assert settings.mongodb_uri is not None
    stores = [Store(settings.mongodb_uri, settings.database) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        run = await stores[0].experiments.create(
            SYSTEM_ACTOR, {"namespace": "race", "name": "run", "hyperparameters": {}}
        )

        def points(key: str, kind: str, start: int) -> SeriesPoints:
            column: list[Any] = [float(start)] if kind == FLOAT else ["[1]"]
            return SeriesPoints(key, kind, [start], [1.0], column)

        results = await asyncio.gather(
            *(
                store.metrics.log(run["id"], "Experiment", "race", [points("loss", FLOAT, n)])
                for n, store in enumerate(stores * 3)
            )
        )
        assert sum(r.accepted for r in results) == 6
        [summary] = await stores[1].metrics.summaries_of([run["id"]])
        assert summary[0]["count"] == 6 and summary[0]["max"] == 5.0

        clash = await asyncio.gather(
            stores[0].metrics.log(run["id"], "Experiment", "race", [points("x", FLOAT, 0)]),
            stores[1].metrics.log(run["id"], "Experiment", "race", [points("x", TENSOR, 0)]),
            return_exceptions=True,
        )
        assert sum(isinstance(r, SeriesKindClash) for r in clash) == 1, clash
        assert sum(not isinstance(r, BaseException) for r in clash) == 1, clash
    finally:
        for store in stores:
            await store.close()


async def test_versions_events_and_updates_never_find_and_modify(
    counted: tuple[Api, CommandCounter],
) -> None:
    """Numbering a version, timing events against their timeline, updating and deleting:
    each reads and writes by `_id` (a findAndModify would scan the collection)."""
    api, counter = counted
    model = await api.create_model("sweep", "resnet")
    run = await api.create_experiment("sweep", "run")
    counter.clear()
    versions = [await api.create_version(model["id"]) for _ in range(3)]
    assert [v["version"] for v in versions] == [1, 2, 3]
    for seconds in (0, 90, 60):  # the last one lands between the others, re-timing one
        await api.ok(
            EVENT,
            {
                "input": {
                    "subjectId": run["id"],
                    "events": [{"name": "e", "wallclock": at(seconds)}],
                }
            },
        )
    await api.ok(RELABEL, {"id": model["id"]})
    await api.ok(DELETE_VERSION, {"id": versions[0]["id"]})
    assert not [c for c in counter.commands if c.startswith("findAndModify")], counter.commands
    data = await api.ok(TIMELINE, {"id": run["id"]})
    since = [e["node"]["sincePrevious"] for e in data["node"]["events"]["edges"]]
    assert since == [None, 60.0, 30.0]
    later = await api.create_version(model["id"])
    assert later["version"] == 4
