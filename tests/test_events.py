"""Events: logged in batches, read back as timelines with the time since the previous event."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api import Api

LOG = """mutation($input: LogEventsInput!) {
  logEvents(input: $input) { id name source wallclock payload sincePrevious subject { id } } }"""

TIMELINE = """query($id: ID!, $first: Int, $after: String, $filter: EventFilter) { node(id: $id) {
  ... on Experiment { events(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { name source wallclock sincePrevious payload } } } } } }"""


async def log(
    api: Api, subject_id: str, *events: dict[str, Any], key: str | None = None, **kw: Any
) -> list[dict]:
    batch = {"subjectId": subject_id, "events": list(events), "idempotencyKey": key}
    data = await api.ok(LOG, {"input": batch}, **kw)
    return data["logEvents"]


async def timeline(api: Api, experiment_id: str, **variables: Any) -> dict[str, Any]:
    data = await api.ok(TIMELINE, {"id": experiment_id, **variables})
    return data["node"]["events"]


def at(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"2026-01-01T10:{int(minutes):02d}:{rest:06.3f}Z"


async def test_a_timeline_reads_in_wallclock_order_with_time_since_previous(api: Api) -> None:
    run = await api.create_experiment("vision", "run-1")
    logged = await log(
        api,
        run["id"],
        {"name": "epoch_started", "source": "trainer", "wallclock": at(0), "payload": {"e": 1}},
        {"name": "epoch_started", "source": "trainer", "wallclock": at(95.5)},
        {"name": "epoch_ended", "source": "trainer", "wallclock": at(90)},
    )
    # Returned in the order given, each with its subject.
    assert [e["wallclock"] for e in logged] == [
        "2026-01-01T10:00:00+00:00",
        "2026-01-01T10:01:35.500000+00:00",
        "2026-01-01T10:01:30+00:00",
    ]
    assert {e["subject"]["id"] for e in logged} == {run["id"]}
    assert logged[0]["payload"] == {"e": 1}

    events = await timeline(api, run["id"])
    assert events["totalCount"] == 3
    rows = [(e["node"]["name"], e["node"]["sincePrevious"]) for e in events["edges"]]
    assert rows == [("epoch_started", None), ("epoch_ended", 90.0), ("epoch_started", 5.5)]

    # An event reported late lands in its place, and the one after it is re-timed.
    await log(api, run["id"], {"name": "checkpoint_written", "wallclock": at(60)})
    events = await timeline(api, run["id"])
    rows = [(e["node"]["name"], e["node"]["sincePrevious"]) for e in events["edges"]]
    assert rows == [
        ("epoch_started", None),
        ("checkpoint_written", 60.0),
        ("epoch_ended", 30.0),
        ("epoch_started", 5.5),
    ]


SAME = """query($id: ID!) { node(id: $id) { ... on Experiment { events(first: 50) {
  edges { node { name sincePrevious sincePreviousSameName } } } } } }"""


async def same_name_rows(api: Api, run_id: str) -> list[tuple[str, float | None, float | None]]:
    edges = (await api.ok(SAME, {"id": run_id}))["node"]["events"]["edges"]
    return [
        (e["node"]["name"], e["node"]["sincePrevious"], e["node"]["sincePreviousSameName"])
        for e in edges
    ]


async def test_an_interleaved_event_does_not_break_the_time_since_the_same_name(
    api: Api,
) -> None:
    run = await api.create_experiment("vision", "epochs")
    await log(api, run["id"], {"name": "epoch", "wallclock": at(0)})
    # Appended in two batches: the second epoch is timed from the first across batches.
    await log(
        api,
        run["id"],
        {"name": "preempted", "wallclock": at(50)},
        {"name": "epoch", "wallclock": at(120)},
    )
    assert await same_name_rows(api, run["id"]) == [
        ("epoch", None, None),
        ("preempted", 50.0, None),
        ("epoch", 70.0, 120.0),
    ]
    # An epoch reported late lands in its place; the epoch after it is re-timed by name.
    await log(api, run["id"], {"name": "epoch", "wallclock": at(30)})
    assert await same_name_rows(api, run["id"]) == [
        ("epoch", None, None),
        ("epoch", 30.0, 30.0),
        ("preempted", 20.0, None),
        ("epoch", 70.0, 90.0),
    ]
    # Late again, before everything: the first epoch now follows it.
    await log(api, run["id"], {"name": "epoch", "wallclock": "2026-01-01T09:59:00Z"})
    rows = await same_name_rows(api, run["id"])
    assert rows[:2] == [("epoch", None, None), ("epoch", 60.0, 60.0)]


async def test_events_filter_by_name_source_and_time_and_page_by_cursor(api: Api) -> None:
    run = await api.create_experiment("vision", "run-2")
    await log(
        api,
        run["id"],
        *(
            {"name": "step" if i % 2 else "eval", "source": f"rank-{i % 3}", "wallclock": at(i)}
            for i in range(10)
        ),
    )
    by_name = await timeline(api, run["id"], filter={"names": ["eval"]})
    assert [e["node"]["wallclock"][14:19] for e in by_name["edges"]] == [
        "00:00",
        "00:02",
        "00:04",
        "00:06",
        "00:08",
    ]
    by_source = await timeline(api, run["id"], filter={"source": "rank-1"})
    assert by_source["totalCount"] == 3
    window = await timeline(api, run["id"], filter={"since": at(3), "until": at(6)})
    assert [e["node"]["wallclock"][17:19] for e in window["edges"]] == ["03", "04", "05"]

    seen: list[str] = []
    after = None
    while True:
        page = await timeline(api, run["id"], first=4, after=after)
        seen += [e["node"]["wallclock"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(seen) and len(seen) == 10


async def test_events_on_every_kind_of_subject_show_in_the_namespace(api: Api) -> None:
    model = await api.create_model("vision", "resnet")
    version = await api.create_version(model["id"])
    run = await api.create_experiment("vision", "run-3")
    checkpoint = await api.create_checkpoint(run["id"], 10)
    for i, subject in enumerate([model, version, run, checkpoint]):
        await log(api, subject["id"], {"name": "tick", "wallclock": at(i)})
    await api.create_model("nlp", "bert")

    data = await api.ok(
        """{ namespace(name: "vision") { events { totalCount edges { node {
             id subject { __typename id } } } } } }"""
    )
    edges = data["namespace"]["events"]["edges"]
    assert [e["node"]["subject"]["__typename"] for e in edges] == [
        "Model",
        "ModelVersion",
        "Experiment",
        "Checkpoint",
    ]
    assert [e["node"]["subject"]["id"] for e in edges] == [
        model["id"],
        version["id"],
        run["id"],
        checkpoint["id"],
    ]
    event_id = edges[0]["node"]["id"]
    found = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Event { name } } }", {"id": event_id}
    )
    assert found["node"] == {"name": "tick"}


async def test_a_bad_batch_writes_nothing_and_names_the_limit(api: Api) -> None:
    run = await api.create_experiment("vision", "run-4")
    too_big = {"name": "big", "payload": {"blob": "x" * 17_000}}
    body = await api.post(
        LOG, {"input": {"subjectId": run["id"], "events": [{"name": "ok"}, too_big]}}
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "max_event_payload_bytes" in error["message"]
    assert "events[1].payload" in error["message"]

    ok = {"name": "ok"}
    many = [{"name": "tick"}] * 1001
    body = await api.post(LOG, {"input": {"subjectId": run["id"], "events": many}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "max_events_per_request" in body["errors"][0]["message"]

    for bad in ({"name": "not a name!"}, {"name": "old", "wallclock": "1969-12-31T23:59:59Z"}):
        codes = await api.fails(LOG, {"input": {"subjectId": run["id"], "events": [ok, bad]}})
        assert codes == ["BAD_USER_INPUT"]
    assert (await timeline(api, run["id"]))["totalCount"] == 0

    namespace = await api.ok('{ namespace(name: "vision") { id } }')
    codes = await api.fails(
        LOG, {"input": {"subjectId": namespace["namespace"]["id"], "events": [{"name": "x"}]}}
    )
    assert codes == ["BAD_USER_INPUT"]


async def test_logging_needs_writer_and_reading_needs_a_role(api: Api) -> None:
    run = await api.create_experiment("vision", "run-5")
    await log(api, run["id"], {"name": "tick"})
    viewer = await api.token(("vision", "VIEWER"))
    outsider = await api.token(("nlp", "WRITER"))
    variables = {"input": {"subjectId": run["id"], "events": [{"name": "tick"}]}}
    assert await api.fails(LOG, variables, token=viewer) == ["FORBIDDEN"]
    assert await api.fails(LOG, variables, token=outsider) == ["NOT_FOUND"]

    data = await api.ok(TIMELINE, {"id": run["id"]}, token=viewer)
    assert data["node"]["events"]["totalCount"] == 1
    event_id = (await api.ok('{ namespace(name: "vision") { events { edges { node { id } } } } }'))[
        "namespace"
    ]["events"]["edges"][0]["node"]["id"]
    hidden = await api.ok(
        "query($id: ID!) { node(id: $id) { id } }", {"id": event_id}, token=outsider
    )
    assert hidden["node"] is None


async def test_events_go_with_their_subject(api: Api) -> None:
    run = await api.create_experiment("vision", "run-6")
    checkpoint = await api.create_checkpoint(run["id"], 1)
    model = await api.create_model("vision", "m")
    version = await api.create_version(model["id"])
    for subject in (run, checkpoint, model, version):
        await log(api, subject["id"], {"name": "tick"})
    await api.ok(
        "mutation($id: ID!) { deleteExperiment(input: {id: $id}) { deletedId } }", {"id": run["id"]}
    )
    await api.ok(
        "mutation($id: ID!) { deleteModelVersion(input: {id: $id}) { deletedId } }",
        {"id": version["id"]},
    )
    data = await api.ok(
        '{ namespace(name: "vision") { events { edges { node { subject { id } } } } } }'
    )
    assert [e["node"]["subject"]["id"] for e in data["namespace"]["events"]["edges"]] == [
        model["id"]
    ]
    await api.ok(
        "mutation($id: ID!) { deleteModel(input: {id: $id}) { deletedId } }", {"id": model["id"]}
    )
    data = await api.ok('{ namespace(name: "vision") { events { totalCount } } }')
    assert data["namespace"]["events"]["totalCount"] == 0


async def test_concurrent_batches_on_one_subject_keep_a_consistent_timeline(api: Api) -> None:
    run = await api.create_experiment("vision", "run-7")
    batches = [
        [{"name": "tick", "wallclock": at(batch + 10 * i)} for i in range(5)] for batch in range(8)
    ]
    await asyncio.gather(*(log(api, run["id"], *batch) for batch in batches))
    events = await timeline(api, run["id"], first=100)
    rows = [e["node"] for e in events["edges"]]
    assert len(rows) == 40
    assert rows[0]["sincePrevious"] is None
    # Each event is timed against the one just before it, whichever batch wrote it.
    assert all(row["sincePrevious"] == 1.0 or row["sincePrevious"] == 3.0 for row in rows[1:])
    assert sum(row["sincePrevious"] for row in rows[1:]) == 47.0


async def test_same_idempotency_key_logs_events_once(api: Api) -> None:
    """A batch sent again with its key (a retry after a lost answer) is stored once, and
    answered with the events the first one stored (other batches: tests/test_idempotency)."""
    run = await api.create_experiment("vision", "retried")
    batch = [{"name": "epoch_started", "payload": {"epoch": 1}}, {"name": "epoch_ended"}]
    first, *again = await asyncio.gather(
        *(log(api, run["id"], *batch, key="batch-1") for _ in range(4))
    )
    assert [e["name"] for e in first] == ["epoch_started", "epoch_ended"]
    assert all(answer == first for answer in again), "every retry gets the first answer"
    assert (await timeline(api, run["id"]))["totalCount"] == 2

    new_key = await log(api, run["id"], *batch, key="batch-2")
    assert {e["id"] for e in new_key}.isdisjoint(e["id"] for e in first)
    assert (await timeline(api, run["id"]))["totalCount"] == 4

    # The key is per subject, and looked up only after the caller may write there.
    elsewhere = await api.create_experiment("vision", "elsewhere")
    assert [e["name"] for e in await log(api, elsewhere["id"], {"name": "x"}, key="batch-1")] == [
        "x"
    ]
    outsider = await api.token(("nlp", "WRITER"))
    variables = {"input": {"subjectId": run["id"], "idempotencyKey": "batch-1", "events": batch}}
    assert await api.fails(LOG, variables, token=outsider) == ["NOT_FOUND"]
    long_key = {**variables["input"], "idempotencyKey": "k" * 257}
    body = await api.post(LOG, {"input": long_key})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "idempotencyKey" in body["errors"][0]["message"]
    assert (await timeline(api, run["id"]))["totalCount"] == 4
