"""metricsLogged under pressure: history in pages within the read limit."""

from __future__ import annotations

import asyncio
from typing import Any

from modelbox.server.config import Settings
from tests.api import Api
from tests.live import running
from tests.test_metrics import LOG
from tests.ws import WsClient

LOGGED = """subscription($id: ID!, $keys: [String!], $from: Int) {
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
