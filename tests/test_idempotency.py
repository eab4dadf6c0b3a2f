"""Idempotency keys of logMetrics and logEvents: the exact retry logs once (after a restart
too) and gets the first answer; the key with another batch, or sent by the other mutation,
is refused CONFLICT naming `idempotencyKey`, and stores nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette

from modelbox.server.config import Settings
from tests.api import Api
from tests.in_process import listened
from tests.metrics import LOG, series_of

LOG_EVENTS = "mutation($input: LogEventsInput!) { logEvents(input: $input) { id name } }"
EVENT_COUNT = "query($id: ID!) { node(id: $id) { ... on Experiment { events { totalCount } } } }"
SERIES = {"key": "loss", "steps": [0, 1], "values": [1.0, 0.5]}
EVENTS = [{"name": "epoch_started", "payload": {"epoch": 1, "lr": 0.1}}, {"name": "epoch_ended"}]


def metrics_input(run: str, key: str, *series: dict[str, Any]) -> dict[str, Any]:
    return {"input": {"subjectId": run, "idempotencyKey": key, "series": list(series)}}


def events_input(run: str, key: str, *events: dict[str, Any]) -> dict[str, Any]:
    return {"input": {"subjectId": run, "idempotencyKey": key, "events": list(events)}}


async def refused(api: Api, query: str, variables: dict[str, Any]) -> None:
    """Assert the request is refused as a reused key, naming the argument."""
    body = await api.post(query, variables)
    assert body.get("data") is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "CONFLICT", error
    assert error["extensions"]["field"] == "idempotencyKey"
    assert error["message"].startswith("idempotencyKey: "), error


async def event_count(api: Api, run: str) -> int:
    return int((await api.ok(EVENT_COUNT, {"id": run}))["node"]["events"]["totalCount"])


async def test_a_metrics_key_sent_with_other_series_is_refused_and_stores_nothing(
    api: Api,
) -> None:
    run = (await api.create_experiment("vision", "reused"))["id"]
    first = await api.ok(LOG, metrics_input(run, "batch-1", SERIES))
    assert first["logMetrics"] == {"accepted": 2, "duplicate": False}
    others = [
        {**SERIES, "values": [1.0, 0.25]},
        {**SERIES, "steps": [0, 2]},
        {**SERIES, "wallclocks": [10.0, 11.0]},
        {**SERIES, "key": "acc"},
        {"key": "loss", "steps": [0, 1], "tensors": ["[1]", "[2]"]},
    ]
    for other in others:
        await refused(api, LOG, metrics_input(run, "batch-1", other))
    await refused(api, LOG, metrics_input(run, "batch-1", SERIES, {**SERIES, "key": "acc"}))
    (summary,) = await series_of(api, run)
    assert (summary["key"], summary["count"], summary["last"]["value"]) == ("loss", 2, 0.5)

    again = await api.ok(LOG, metrics_input(run, "batch-1", SERIES))
    assert again["logMetrics"] == {"accepted": 0, "duplicate": True}
    # Racing sendings of one key with different batches: one is stored, the rest refused.
    bodies = await asyncio.gather(
        *(
            api.post(LOG, metrics_input(run, "race", {**SERIES, "key": f"race-{i}"}))
            for i in range(4)
        )
    )
    codes = sorted(b["errors"][0]["extensions"]["code"] if "errors" in b else "OK" for b in bodies)
    assert codes == ["CONFLICT", "CONFLICT", "CONFLICT", "OK"]
    assert len(await series_of(api, run)) == 2


async def test_an_events_key_sent_with_other_events_is_refused_and_stores_nothing(
    api: Api,
) -> None:
    run = (await api.create_experiment("vision", "reused"))["id"]
    first = (await api.ok(LOG_EVENTS, events_input(run, "batch-1", *EVENTS)))["logEvents"]
    others = [
        [EVENTS[0]],
        [*EVENTS, {"name": "late"}],
        [{**EVENTS[0], "payload": {"epoch": 2, "lr": 0.1}}, EVENTS[1]],
        [{**EVENTS[0], "source": "trainer"}, EVENTS[1]],
        [EVENTS[0], {**EVENTS[1], "wallclock": "2026-01-01T10:00:00Z"}],
        [EVENTS[1], EVENTS[0]],
    ]
    for other in others:
        await refused(api, LOG_EVENTS, events_input(run, "batch-1", *other))
    assert await event_count(api, run) == 2

    # The same batch written otherwise (payload keys reordered) is the same batch.
    reordered = [{**EVENTS[0], "payload": {"lr": 0.1, "epoch": 1}}, EVENTS[1]]
    again = await api.ok(LOG_EVENTS, events_input(run, "batch-1", *reordered))
    assert again["logEvents"] == first
    timed = {"name": "epoch_started", "wallclock": "2026-01-01T10:00:00Z"}
    at = await api.ok(LOG_EVENTS, events_input(run, "timed", timed))
    same_instant = {**timed, "wallclock": "2026-01-01T11:00:00+01:00"}
    assert (await api.ok(LOG_EVENTS, events_input(run, "timed", same_instant))) == at
    assert await event_count(api, run) == 3


async def test_a_key_belongs_to_the_mutation_that_first_used_it(api: Api) -> None:
    """A logEvents key never answers a logMetrics request, nor the other way round."""
    run = (await api.create_experiment("vision", "kinds"))["id"]
    await api.ok(LOG_EVENTS, events_input(run, "events-key", *EVENTS))
    await refused(api, LOG, metrics_input(run, "events-key", SERIES))
    assert await series_of(api, run) == []

    await api.ok(LOG, metrics_input(run, "metrics-key", SERIES))
    await refused(api, LOG_EVENTS, events_input(run, "metrics-key", *EVENTS))
    assert await event_count(api, run) == 2
    # Another subject's keys are its own.
    other = (await api.create_experiment("vision", "other"))["id"]
    logged = await api.ok(LOG, metrics_input(other, "events-key", SERIES))
    assert logged["logMetrics"] == {"accepted": 2, "duplicate": False}


async def test_the_exact_retry_after_a_restart_gets_the_first_answer(settings: Settings) -> None:
    async with listened(settings) as api:
        run = (await api.create_experiment("vision", "restarted"))["id"]
        await api.ok(LOG, metrics_input(run, "m-1", SERIES))
        # No wallclock: the server's time fills it in, and a retry is still the same batch.
        first = await api.ok(LOG_EVENTS, events_input(run, "e-1", *EVENTS))

    async with listened(settings) as api:
        again = await api.ok(LOG, metrics_input(run, "m-1", SERIES))
        assert again["logMetrics"] == {"accepted": 0, "duplicate": True}
        assert await api.ok(LOG_EVENTS, events_input(run, "e-1", *EVENTS)) == first
        await refused(api, LOG, metrics_input(run, "m-1", {**SERIES, "values": [0.0, 0.0]}))
        await refused(api, LOG_EVENTS, events_input(run, "e-1", EVENTS[0]))
        ((summary,), events) = (await series_of(api, run), await event_count(api, run))
        assert (summary["count"], events) == (2, 2)


async def test_keys_stored_before_digests_still_answer_their_retries(
    api: Api, app: Starlette
) -> None:
    """Keys stored without a kind or digest (by earlier versions) match any batch of the
    mutation that stored them, which is told by what they hold."""
    run = (await api.create_experiment("vision", "legacy"))["id"]
    await api.ok(LOG, metrics_input(run, "old-metrics", SERIES))
    first = await api.ok(LOG_EVENTS, events_input(run, "old-events", *EVENTS))
    requests = app.state.store.metrics.requests
    result = await requests.update_many({}, {"$unset": {"kind": "", "digest": ""}})
    assert result.modified_count == 2

    again = await api.ok(LOG, metrics_input(run, "old-metrics", {**SERIES, "values": [0.0, 0]}))
    assert again["logMetrics"] == {"accepted": 0, "duplicate": True}
    assert await api.ok(LOG_EVENTS, events_input(run, "old-events", {"name": "x"})) == first
    await refused(api, LOG_EVENTS, events_input(run, "old-metrics", *EVENTS))
    await refused(api, LOG, metrics_input(run, "old-events", SERIES))
    ((summary,), events) = (await series_of(api, run), await event_count(api, run))
    assert (summary["count"], events) == (2, 2)
