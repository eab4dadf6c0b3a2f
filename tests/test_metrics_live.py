"""metricsLogged: history then live (in pages, across servers, from two writing processes),
access, and a database killed mid-stream."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelbox.server.config import Settings
from tests import metrics
from tests.api import Api
from tests.live import running, until_live
from tests.metrics import LOG, points
from tests.restarts import kill_and_restart, own_database
from tests.ws import LEGACY_WS, TRANSPORT_WS, OperationError, WsClient

LOGGED = """subscription($id: ID!, $keys: [String!], $from: Long) {
  metricsLogged(subjectId: $id, keys: $keys, fromStep: $from) {
    key points { steps values } } }"""

Point = tuple[str, int, float]


def points_of(update: dict[str, Any]) -> list[Point]:
    columns = update["points"]
    return [
        (update["key"], step, value)
        for step, value in zip(columns["steps"], columns["values"], strict=True)
    ]


async def log(api: Api, run_id: str, key: str, steps: list[int], **extra: Any) -> None:
    values = [step + 0.25 for step in steps]
    series = {"key": key, "steps": steps, "values": values}
    await api.ok(LOG, {"input": {"subjectId": run_id, "series": [series], **extra}})


async def test_history_comes_in_pages_within_the_read_limit_then_live_exactly_once(
    settings: Settings,
) -> None:
    async with running(settings, MODELBOX_MAX_METRIC_POINTS_PER_READ="50") as (server, api):
        run = await api.create_experiment("vision", "paged")
        for first in range(0, 200, 10):
            await log(api, run["id"], "loss", list(range(first, first + 10)))
        for step in range(200, 240):  # one point a request: small buckets, compacted
            await log(api, run["id"], "loss", [step])
        await log(api, run["id"], "loss", [240] * 5)  # points sharing a step stay together
        async with WsClient(server.url) as ws:
            # Written while the subscription starts and reads its history.
            writing = asyncio.ensure_future(
                asyncio.gather(
                    *(
                        log(api, run["id"], "loss", list(range(s, s + 10)))
                        for s in range(241, 401, 10)
                    )
                )
            )
            op = await ws.subscribe(LOGGED, {"id": run["id"], "from": 0})
            await writing
            steps = [*range(240), *[240] * 5, *range(241, 401)]
            expected = sorted(("loss", step, step + 0.25) for step in steps)
            seen: list[Point] = []
            while len(seen) < len(expected):
                update = (await ws.next(op, timeout=30))["metricsLogged"]
                assert len(update["points"]["steps"]) <= 50, "a page over the read limit"
                seen += points_of(update)
            assert sorted(seen) == expected
            await ws.nothing(op)


class Subscriber:
    """A client of metricsLogged that, told it was interrupted, subscribes again per key
    from the step after the last one it saw."""

    def __init__(self, ws: WsClient, run_id: str) -> None:
        self.ws, self.run_id = ws, run_id
        self.seen: list[Point] = []
        self.interruptions: list[dict[str, Any]] = []
        self.ops: dict[str, list[str] | None] = {}

    async def start(self, keys: list[str] | None, from_step: int) -> None:
        variables = {"id": self.run_id, "keys": keys, "from": from_step}
        self.ops[await self.ws.subscribe(LOGGED, variables)] = keys

    async def read(self, until: int, timeout: float = 60) -> None:
        """Read every open subscription until `until` points were seen in all."""
        async with asyncio.timeout(timeout):
            while len(self.seen) < until:
                await self._read_any()

    async def drain(self, quiet: float = 1.0) -> None:
        """Read until nothing has come for `quiet` seconds (anything extra is a repeat)."""
        while True:
            before = len(self.seen), len(self.ops)
            await asyncio.sleep(quiet)
            await self._read_any()
            if (len(self.seen), len(self.ops)) == before:
                return

    async def _read_any(self) -> None:
        for op in list(self.ops):
            try:
                data = await self.ws.next(op, timeout=0.2)
            except TimeoutError:
                continue
            except OperationError as error:
                assert error.codes == ["LIVE_UPDATES_INTERRUPTED"], error.errors
                last_steps: dict[str, int] = error.errors[0]["extensions"]["lastStep"]
                self.interruptions.append(last_steps)
                keys = self.ops.pop(op)
                for key in keys or ["loss-0", "loss-1", "loss-2", "loss-3"]:
                    await self.start([key], last_steps.get(key, -1) + 1)
                continue
            self.seen += points_of(data["metricsLogged"])


async def test_a_subscriber_gets_exactly_what_is_stored_across_a_database_kill(
    settings: Settings, tmp_path: Path
) -> None:
    async with own_database(tmp_path / "db") as database:
        own = settings.with_(mongodb_uri=database.uri)
        async with running(own) as (server, api), WsClient(server.url) as ws:
            run = await api.create_experiment("vision", "killed")
            await log(api, run["id"], "loss-0", list(range(100)))  # history before it all
            subscriber = Subscriber(ws, run["id"])
            await subscriber.start(None, 0)
            # Four writers, each its own key in step order, retrying with the same key.
            acknowledged: dict[str, int] = {}

            async def writer(w: int, requests: int) -> None:
                # Its own client: the test's waits on the database must not hold it up.
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                    mine = Api(client)
                    for r in range(requests):
                        steps = list(range(1000 + r * 20, 1000 + r * 20 + 20))
                        for attempt in itertools.count():
                            try:
                                await log(
                                    mine, run["id"], f"loss-{w}", steps, idempotencyKey=f"{w}-{r}"
                                )
                                break
                            except Exception:
                                if attempt > 120:
                                    raise
                                await asyncio.sleep(0.25)
                        acknowledged[f"loss-{w}"] = r + 1

            writers = asyncio.ensure_future(asyncio.gather(*(writer(w, 40) for w in range(4))))
            while sum(acknowledged.values()) < 40:
                await asyncio.sleep(0.05)
            await kill_and_restart(database)
            await writers
            stored: list[Point] = []
            for w in range(4):
                read = await points(api, run["id"], f"loss-{w}")
                stored += [
                    (f"loss-{w}", s, v) for s, v in zip(read["steps"], read["values"], strict=True)
                ]
            await subscriber.read(len(stored))
            await subscriber.drain()
            assert sorted(subscriber.seen) == sorted(stored)
            # Every request was stored once, whatever the retries.
            assert len(stored) == 100 + 4 * 40 * 20
            # The kill was seen: the subscriber was told, with where it had got to.
            assert subscriber.interruptions


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_history_then_live_across_two_servers_without_gap_or_repeat(
    settings: Settings, protocol: str
) -> None:
    async with (
        running(settings) as (reader, _),
        running(settings) as (_, writer_api),
        WsClient(reader.url, protocol=protocol) as ws,
    ):
        run = await writer_api.create_experiment("vision", "live")

        async def batch(i: int, key: str = "loss") -> None:
            steps = list(range(i * 10, i * 10 + 10))
            await metrics.log(
                writer_api,
                run["id"],
                {"key": key, "steps": steps, "values": [float(s) for s in steps]},
            )

        for i in range(5):  # stored before anyone subscribes
            await batch(i)
        # Logged through the other server while the subscription starts and reads history.
        writing = asyncio.ensure_future(
            asyncio.gather(*(batch(i) for i in range(5, 40)), batch(0, key="other"))
        )
        op = await ws.subscribe(metrics.LOGGED, {"id": run["id"], "keys": ["loss"], "from": 30})
        await writing
        for i in range(40, 45):  # after the subscription is certainly live
            await batch(i)
        seen = await metrics.collect(ws, op, 450 - 30)
        assert sorted(step for _, step, _ in seen) == list(range(30, 450))
        assert {key for key, _, _ in seen} == {"loss"}
        assert all(value == step for _, step, value in seen)
        await ws.nothing(op)


async def test_live_points_only_from_now_and_access_is_checked(settings: Settings) -> None:
    async with running(settings) as (server, api):
        run = await api.create_experiment("vision", "watched")
        hidden = await api.create_experiment("nlp", "hidden")
        await metrics.log(api, run["id"], {"key": "old", "steps": [0], "values": [1.0]})
        viewer = await api.token(("vision", "VIEWER"))
        async with WsClient(server.url, token=viewer) as ws:
            op = await ws.subscribe(metrics.LOGGED, {"id": run["id"]})
            first = await until_live(
                ws,
                op,
                lambda i: metrics.log(
                    api, run["id"], {"key": "acc", "steps": [i], "values": [0.5]}
                ),
            )
            assert first["metricsLogged"]["key"] == "acc"
            assert first["metricsLogged"]["kind"] == "FLOAT"

            refused = await ws.subscribe(metrics.LOGGED, {"id": hidden["id"]})
            with pytest.raises(OperationError) as error:
                await ws.next(refused)
            assert error.value.codes == ["NOT_FOUND"]

            tensors = await ws.subscribe(
                metrics.LOGGED, {"id": run["id"], "keys": ["t"], "from": 0}
            )
            await metrics.log(api, run["id"], {"key": "t", "steps": [3], "tensors": ["[1, 2]"]})
            update = (await ws.next(tensors))["metricsLogged"]
            assert update["kind"] == "TENSOR" and update["points"]["tensors"] == ["[1, 2]"]


async def test_two_servers_logging_step_by_step_lose_and_repeat_nothing(
    settings: Settings,
) -> None:
    """Writers in two processes conflict in the database (no in-process turn-taking between
    them), their small buckets get compacted meanwhile, and a subscriber that joined midway
    still sees every point once."""
    async with (
        running(settings) as (first, first_api),
        running(settings) as (_, second_api),
        WsClient(first.url) as ws,
    ):
        run = await first_api.create_experiment("vision", "two-writers")

        async def write(api: Api, steps: range) -> None:
            for step in steps:
                await metrics.log(
                    api, run["id"], {"key": "loss", "steps": [step], "values": [float(step)]}
                )

        writing = asyncio.ensure_future(
            asyncio.gather(write(first_api, range(0, 200, 2)), write(second_api, range(1, 200, 2)))
        )
        await asyncio.sleep(0.5)  # join midway, with history to read first
        op = await ws.subscribe(metrics.LOGGED, {"id": run["id"], "from": 0})
        await writing
        seen = await metrics.collect(ws, op, 200)
        assert sorted(step for _, step, _ in seen) == list(range(200))
        await ws.nothing(op)
        (summary,) = await metrics.series_of(first_api, run["id"])
        assert (summary["count"], summary["firstStep"], summary["lastStep"]) == (200, 0, 199)
        assert (await metrics.points(second_api, run["id"], "loss"))["steps"] == list(range(200))
