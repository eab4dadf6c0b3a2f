"""Metric series: logging, summaries, exact and downsampled reads, access, idempotency."""

from __future__ import annotations

import asyncio
import base64
import random

from starlette.applications import Starlette

from tests.api import Api
from tests.in_process import CommandCounter
from tests.metrics import DOWNSAMPLED, LOG, SERIES, log, points, series_of


async def test_logged_points_read_back_with_their_summary(api: Api) -> None:
    run = await api.create_experiment("vision", "run")
    result = await log(
        api,
        run["id"],
        {"key": "loss", "steps": [0, 1, 2], "values": [0.9, 0.5, 0.7], "wallclocks": [10, 11, 12]},
        {"key": "train/acc", "steps": [0, 1], "values": [0.1, 0.2]},
    )
    assert result == {"accepted": 5, "duplicate": False}

    loss, acc = await series_of(api, run["id"])  # by key
    assert acc["key"] == "train/acc"
    assert loss == {
        "key": "loss",
        "kind": "FLOAT",
        "count": 3,
        "firstStep": 0,
        "lastStep": 2,
        "min": 0.5,
        "max": 0.9,
        "last": {"step": 2, "wallclock": 12.0, "value": 0.7, "tensor": None, "bytes": None},
    }
    assert await points(api, run["id"], "loss") == {
        "steps": [0, 1, 2],
        "wallclocks": [10.0, 11.0, 12.0],
        "values": [0.9, 0.5, 0.7],
        "tensors": None,
        "bytes": None,
    }
    assert [s["key"] for s in await series_of(api, run["id"], ["train/acc", "nope"])] == [
        "train/acc"
    ]


async def test_out_of_order_and_concurrent_writers_lose_nothing(api: Api) -> None:
    run = await api.create_experiment("vision", "shuffled")
    steps = list(range(5000))
    random.Random(7).shuffle(steps)
    # Ten writers at once, each with a shuffled slice of the steps (buckets overlap).
    chunks = [steps[i : i + 500] for i in range(0, 5000, 500)]
    results = await asyncio.gather(
        *(
            log(api, run["id"], {"key": "loss", "steps": c, "values": [s / 10 for s in c]})
            for c in chunks
        )
    )
    assert sum(r["accepted"] for r in results) == 5000

    (summary,) = await series_of(api, run["id"], ["loss"])
    assert (summary["count"], summary["firstStep"], summary["lastStep"]) == (5000, 0, 4999)
    assert (summary["min"], summary["max"], summary["last"]["value"]) == (0.0, 499.9, 499.9)
    read = await points(api, run["id"], "loss")
    assert read["steps"] == list(range(5000))
    assert read["values"] == [s / 10 for s in range(5000)]
    window = await points(api, run["id"], "loss", **{"from": 1234, "to": 1300, "limit": 10})
    assert window["steps"] == list(range(1234, 1244))


async def test_points_page_through_a_long_series_by_limit_and_from_step(api: Api) -> None:
    run = await api.create_experiment("vision", "paged")
    for start in (0, 1000, 2000):
        steps = list(range(start, start + 1000))
        await log(api, run["id"], {"key": "loss", "steps": steps, "values": [0.0] * 1000})
    # A late writer fills in a few steps again, inside the first bucket's range.
    await log(api, run["id"], {"key": "loss", "steps": [10, 11], "values": [1.0, 1.0]})

    first = await points(api, run["id"], "loss", limit=1500)
    assert first["steps"] == sorted([*range(1500), 10, 11])[:1500]
    assert first["values"][10:14] == [0.0, 1.0, 0.0, 1.0]  # equal steps: logged order
    rest = await points(api, run["id"], "loss", **{"from": first["steps"][-1] + 1})
    assert rest["steps"] == list(range(1498, 3000))
    assert (await points(api, run["id"], "loss", limit=0))["steps"] == []


async def test_downsampled_keeps_first_last_and_spikes(api: Api) -> None:
    run = await api.create_experiment("vision", "spiky")
    n = 20_000
    values = [1.0] * n
    values[7_777] = 100.0  # a spike a plot must show
    values[12_345] = -50.0  # and a dip
    await log(api, run["id"], {"key": "loss", "steps": list(range(n)), "values": values})

    data = await api.ok(DOWNSAMPLED, {"id": run["id"], "key": "loss", "max": 400})
    sampled = data["node"]["metric"]["downsampled"]
    assert len(sampled["steps"]) <= 400
    assert sampled["steps"] == sorted(sampled["steps"])
    assert sampled["steps"][0] == 0 and sampled["steps"][-1] == n - 1
    assert 7_777 in sampled["steps"] and 12_345 in sampled["steps"]
    assert max(sampled["values"]) == 100.0 and min(sampled["values"]) == -50.0

    zoom = await api.ok(
        DOWNSAMPLED, {"id": run["id"], "key": "loss", "max": 1000, "from": 100, "to": 199}
    )
    assert zoom["node"]["metric"]["downsampled"]["steps"] == list(range(100, 200))


async def test_tensor_and_bytes_series_and_one_kind_per_key(api: Api) -> None:
    model = await api.create_model("vision", "resnet")
    version = await api.create_version(model["id"])
    blob = base64.b64encode(b"\x00\x01binary").decode()
    await log(
        api,
        version["id"],
        {"key": "confusion", "steps": [3], "tensors": ["[[1,0],[0,1]]"]},
        {"key": "sample", "steps": [1, 2], "bytes": [blob, blob]},
    )
    confusion, sample = await series_of(api, version["id"])
    assert confusion["kind"] == "TENSOR" and confusion["last"]["tensor"] == "[[1,0],[0,1]]"
    assert (confusion["min"], confusion["max"]) == (None, None)
    assert sample["kind"] == "BYTES" and sample["last"]["bytes"] == blob

    codes = await api.fails(
        LOG,
        {
            "input": {
                "subjectId": version["id"],
                "series": [
                    {"key": "fresh", "steps": [0], "values": [1.0]},
                    {"key": "confusion", "steps": [4], "values": [1.0]},
                ],
            }
        },
    )
    assert codes == ["BAD_USER_INPUT"]
    # The whole request was refused: the valid series in it was not logged either.
    assert [s["key"] for s in await series_of(api, version["id"])] == ["confusion", "sample"]


async def test_bad_requests_are_refused_and_log_nothing(api: Api) -> None:
    run = await api.create_experiment("vision", "bad")
    good = {"key": "ok", "steps": [0], "values": [1.0]}
    bad_series = [
        {"key": "loss", "steps": [0, 1], "values": [1.0]},  # lengths differ
        {"key": "loss", "steps": [0], "values": [1.0], "tensors": ["x"]},  # two value columns
        {"key": "loss", "steps": [0]},  # no value column
        {"key": "loss", "steps": [-1], "values": [1.0]},  # negative step
        {"key": "loss", "steps": [0], "values": [1.0], "wallclocks": [1.0, 2.0]},
        {"key": "bad key!", "steps": [0], "values": [1.0]},
        {"key": "loss", "steps": [], "values": []},
    ]
    for series in bad_series:
        codes = await api.fails(LOG, {"input": {"subjectId": run["id"], "series": [good, series]}})
        assert codes == ["BAD_USER_INPUT"], series
    # NaN cannot travel as JSON, but a literal in the query can overflow to infinity.
    codes = await api.fails(
        f"""mutation {{ logMetrics(input: {{subjectId: "{run["id"]}",
              series: [{{key: "loss", steps: [0], values: [1e999]}}]}}) {{ accepted }} }}"""
    )
    assert codes == ["BAD_USER_INPUT"]
    codes = await api.fails(
        LOG, {"input": {"subjectId": run["id"], "series": [good, dict(good)]}}
    )  # the same key twice
    assert codes == ["BAD_USER_INPUT"]
    many = [{"key": f"k{i}", "steps": [0], "values": [1.0]} for i in range(1001)]
    codes = await api.fails(LOG, {"input": {"subjectId": run["id"], "series": many}})
    assert codes == ["BAD_USER_INPUT"]
    assert await series_of(api, run["id"]) == []


async def test_long_columns_keep_graphql_number_rules(api: Api) -> None:
    """Long number lists skip graphql-core's per-item coercion only when nothing is amiss."""
    run = await api.create_experiment("vision", "columns")
    steps = list(range(100))
    ints_too = [1, *[0.5] * 99]  # an int where a Float goes: coerced to 1.0 as GraphQL does
    await log(api, run["id"], {"key": "loss", "steps": steps, "values": ints_too})
    assert (await points(api, run["id"], "loss"))["values"][:2] == [1.0, 0.5]

    for bad in (
        {"key": "a", "steps": [*steps[:-1], 2**63], "values": [0.5] * 100},  # not a 64-bit Long
        {"key": "b", "steps": [*steps[:-1], 1.5], "values": [0.5] * 100},
        {"key": "c", "steps": steps, "values": [*[0.5] * 99, "x"]},
        {"key": "d", "steps": [*steps[:-1], True], "values": [0.5] * 100},
        {"key": "e", "steps": [0], "bytes": ["not base64!"]},
    ):
        codes = await api.fails(LOG, {"input": {"subjectId": run["id"], "series": [bad]}})
        assert codes == ["BAD_USER_INPUT"], bad
    assert [s["key"] for s in await series_of(api, run["id"])] == ["loss"]


async def test_too_many_points_is_payload_too_large_naming_the_limit(api: Api) -> None:
    run = await api.create_experiment("vision", "big")
    n = 100_001
    body = await api.post(
        LOG,
        {
            "input": {
                "subjectId": run["id"],
                "series": [{"key": "loss", "steps": list(range(n)), "values": [0.5] * n}],
            }
        },
    )
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "100000" in error["message"] and "max_metric_points_per_request" in error["message"]
    assert await series_of(api, run["id"]) == []


async def test_same_idempotency_key_logs_once(api: Api) -> None:
    run = await api.create_experiment("vision", "retry")
    series = {"key": "loss", "steps": [0, 1], "values": [1.0, 0.5]}
    first, *again = await asyncio.gather(
        *(log(api, run["id"], series, idempotencyKey="batch-1") for _ in range(4))
    )
    results = [first, *again]
    assert sorted(r["duplicate"] for r in results) == [False, True, True, True]
    assert sum(r["accepted"] for r in results) == 2
    (summary,) = await series_of(api, run["id"])
    assert summary["count"] == 2
    other = await log(api, run["id"], series, idempotencyKey="batch-2")
    assert other == {"accepted": 2, "duplicate": False}


async def test_writer_logs_viewer_reads_others_see_nothing(api: Api) -> None:
    run = await api.create_experiment("vision", "guarded")
    await log(api, run["id"], {"key": "loss", "steps": [0], "values": [1.0]})
    viewer = await api.token(("vision", "VIEWER"))
    writer = await api.token(("vision", "WRITER"))
    stranger = await api.token(("nlp", "ADMIN"))
    variables = {
        "input": {
            "subjectId": run["id"],
            "series": [{"key": "loss", "steps": [1], "values": [0.5]}],
        }
    }

    assert await api.fails(LOG, variables, token=viewer) == ["FORBIDDEN"]
    assert await api.fails(LOG, variables, token=stranger) == ["NOT_FOUND"]
    assert (await api.ok(LOG, variables, token=writer))["logMetrics"]["accepted"] == 1
    data = await api.ok(SERIES, {"id": run["id"]}, token=viewer)
    assert data["node"]["metricSeries"][0]["count"] == 2
    assert (await api.ok(SERIES, {"id": run["id"]}, token=stranger))["node"] is None


async def test_deleting_the_subject_deletes_its_metrics(api: Api, app: Starlette) -> None:
    metrics = app.state.store.metrics
    run = await api.create_experiment("vision", "doomed")
    kept = await api.create_experiment("vision", "kept")
    model = await api.create_model("vision", "m")
    version = await api.create_version(model["id"])
    for subject in (run, kept, version):
        await log(
            api, subject["id"], {"key": "loss", "steps": [0], "values": [1.0]}, idempotencyKey="k"
        )
    assert await metrics.buckets.count_documents({}) == 3

    await api.ok(
        "mutation($id: ID!) { deleteExperiment(input: {id: $id}) { deletedId } }", {"id": run["id"]}
    )
    await api.ok(
        "mutation($id: ID!) { deleteModel(input: {id: $id}) { deletedId } }", {"id": model["id"]}
    )
    for collection in (metrics.buckets, metrics.series, metrics.requests):
        assert await collection.count_documents({}) == 1
    assert len(await series_of(api, kept["id"])) == 1


async def test_series_of_many_subjects_load_in_a_fixed_number_of_queries(
    counted: tuple[Api, CommandCounter],
) -> None:
    api, counter = counted
    query = """{ namespace(name: "vision") { experiments(first: 50) { edges { node {
        metricSeries { key count } metric(key: "loss") { last { value } } } } } } }"""

    async def commands_for(experiments: int) -> int:
        for i in range(experiments):
            run = await api.create_experiment("vision", f"run-{experiments}-{i}")
            await log(
                api,
                run["id"],
                {"key": "loss", "steps": [0], "values": [0.5]},
                {"key": "acc", "steps": [0], "values": [0.9]},
            )
        await api.ok(query)  # a process's first listing of a namespace loads its index
        counter.names.clear()
        data = await api.ok(query)
        for edge in data["namespace"]["experiments"]["edges"]:
            assert [s["key"] for s in edge["node"]["metricSeries"]] == ["acc", "loss"]
            assert edge["node"]["metric"]["last"]["value"] == 0.5
        return len(counter.names)

    assert await commands_for(1) == await commands_for(9)
