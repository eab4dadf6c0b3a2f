"""metricsLogged under pressure: history in pages, and a database killed mid-stream."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import httpx

from modelbox.server.config import Settings
from tests.api import Api
from tests.live import running
from tests.restarts import kill_and_restart, own_database
from tests.test_metrics import LOG, points
from tests.ws import OperationError, WsClient

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
