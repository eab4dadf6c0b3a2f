"""compareMetrics: many runs' series for one chart, in a constant number of database commands."""

from __future__ import annotations

from typing import Any

from tests.api import Api
from tests.in_process import CommandCounter
from tests.metrics import log

COMPARE = """query($ids: [ID!]!, $keys: [String!]!, $max: Int!) {
  compareMetrics(subjectIds: $ids, keys: $keys, maxPoints: $max) {
    subject { id ... on Experiment { name } ... on ModelVersion { version } }
    series { key count downsampled(maxPoints: $max) { steps values } } } }"""


async def runs(api: Api, namespace: str, n: int, points: int = 300) -> list[str]:
    ids = []
    for i in range(n):
        run = await api.create_experiment(namespace, f"run-{i}")
        steps = list(range(points))
        await log(
            api,
            run["id"],
            {"key": "loss", "steps": steps, "values": [1 / (s + 1 + i) for s in steps]},
            {"key": "acc", "steps": steps[::2], "values": [0.5] * len(steps[::2])},
        )
        ids.append(run["id"])
    return ids


async def test_commands_do_not_grow_with_the_number_of_runs(
    counted: tuple[Api, CommandCounter],
) -> None:
    api, counter = counted
    few = await runs(api, "vision", 2)
    many = await runs(api, "speech", 12)
    model = await api.create_model("speech", "m")
    version = await api.create_version(model["id"])
    await log(api, version["id"], {"key": "loss", "steps": [1, 2], "values": [0.3, 0.2]})

    # Both kinds of subject each time: each kind is one more command, whatever the count.
    counter.names.clear()
    await api.ok(COMPARE, {"ids": [*few, version["id"]], "keys": ["loss", "acc"], "max": 50})
    small = list(counter.names)
    counter.names.clear()
    data = await api.ok(
        COMPARE, {"ids": [*many, version["id"]], "keys": ["loss", "acc"], "max": 50}
    )
    assert len(counter.names) == len(small), (small, counter.names)

    compared = data["compareMetrics"]
    assert [c["subject"]["id"] for c in compared] == [*many, version["id"]]
    first = compared[0]
    assert first["subject"]["name"] == "run-0"
    assert [s["key"] for s in first["series"]] == ["loss", "acc"]
    loss = first["series"][0]["downsampled"]
    assert len(loss["steps"]) <= 50 and loss["steps"][0] == 0 and loss["steps"][-1] == 299
    assert max(loss["values"]) == 1.0  # the spike at step 0 survives downsampling
    # A subject without a key has no series for it.
    assert [s["key"] for s in compared[-1]["series"]] == ["loss"]
    assert compared[-1]["series"][0]["downsampled"] == {"steps": [1, 2], "values": [0.3, 0.2]}


async def test_every_subject_is_access_checked_and_lists_are_capped(api: Api) -> None:
    [mine] = await runs(api, "vision", 1, points=10)
    [theirs] = await runs(api, "secret", 1, points=10)
    reader = await api.token(("vision", "VIEWER"))

    ok = await api.ok(COMPARE, {"ids": [mine], "keys": ["loss"], "max": 10}, token=reader)
    assert len(ok["compareMetrics"]) == 1
    body: dict[str, Any] = await api.post(
        COMPARE, {"ids": [mine, theirs], "keys": ["loss"], "max": 10}, token=reader
    )
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "subjectIds[1]" in error["message"]

    body = await api.post(COMPARE, {"ids": [mine] * 101, "keys": ["loss"], "max": 10})
    assert "MAX_SUBJECTS" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await api.post(COMPARE, {"ids": [mine], "keys": [f"k{i}" for i in range(21)], "max": 10})
    assert "MAX_KEYS" in body["errors"][0]["message"]
    body = await api.post(COMPARE, {"ids": [mine], "keys": ["loss"], "max": 0})
    assert "maxPoints" in body["errors"][0]["message"]
