"""Live metric points written straight to subscribers' sockets (graph/shared.py `OUTLET`):
each subscriber gets every point once, in order, under its own operation id; a stopped
operation gets nothing more; a subscriber that stops reading is bounded and told. And the
library behaviour this path relies on is checked here, so that an upgrade fails loudly.
Shared frames stay whole and in order under each compression a client may negotiate,
between the socket's other answers."""

from __future__ import annotations

import asyncio
import inspect
import random
from typing import Any

import pytest
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from modelbox.server.config import Settings
from modelbox.server.web.connections import uvicorn_options
from modelbox.server.web.frames import SharedFramesProtocol
from modelbox.server.web.ws_messages import CheckedLegacyWSHandler, CheckedTransportWSHandler
from tests.live import running, until_live
from tests.metrics import LOG
from tests.test_live_events import stalled_socket
from tests.test_metrics_live import LOGGED, log, points_of
from tests.test_ws_access import _revoke, _token_id
from tests.ws import OperationError, WsClient

STEPS_ONLY = """subscription($id: ID!) { metricsLogged(subjectId: $id) { key points { steps } } }"""
EVENTS = """subscription($id: ID) { events(subjectId: $id) { id } }"""


async def drain(ws: WsClient, op: str) -> None:
    """Read `op` until it is quiet: what is left of the probes that showed it live."""
    while True:
        try:
            await ws.next(op, timeout=0.5)
        except TimeoutError:
            return


async def collect(ws: WsClient, op: str, wanted: int, keep: list[Any], steps_only: bool) -> None:
    """Read `op` until `wanted` points arrived, appending them (key, step[, value]) to `keep`."""
    while len(keep) < wanted:
        update = (await ws.next(op))["metricsLogged"]
        if steps_only:
            keep += [(update["key"], step) for step in update["points"]["steps"]]
        else:
            keep += points_of(update)


async def test_every_subscriber_gets_each_point_once_in_order_under_its_own_id(
    settings: Settings,
) -> None:
    async with running(settings) as (server, api):
        run = await api.create_experiment("vision", "direct")
        a, b, c = [await WsClient(server.url).connect() for _ in range(3)]
        try:
            everything = await a.subscribe(LOGGED, {"id": run["id"]})
            only_acc = await a.subscribe(LOGGED, {"id": run["id"], "keys": ["acc"]})
            steps = await b.subscribe(STEPS_ONLY, {"id": run["id"]})
            await c.subscribe(EVENTS, {"id": run["id"]})  # so that c's next id is "2"
            same_as_a = await c.subscribe(LOGGED, {"id": run["id"]})
            assert (everything, same_as_a) == ("1", "2")
            probe = iter(range(10_000, 20_000))
            for ws, op in ((a, everything), (b, steps), (c, same_as_a)):
                await until_live(ws, op, lambda i: log(api, run["id"], "probe", [next(probe)]))
            await until_live(a, only_acc, lambda i: log(api, run["id"], "acc", [next(probe)]))
            for ws, op in ((a, everything), (b, steps), (c, same_as_a), (a, only_acc)):
                await drain(ws, op)

            # Two writers at once, 25 requests of 10 points each.
            async def write(key: str) -> None:
                for first in range(0, 250, 10):
                    await log(api, run["id"], key, list(range(first, first + 10)))

            await asyncio.gather(write("loss"), write("acc"))
            got: dict[str, list[Any]] = {name: [] for name in ("a1", "a2", "b", "c")}
            # One reader per socket (a's two operations are read one after the other).
            await asyncio.gather(
                collect(a, everything, 500, got["a1"], False),
                collect(b, steps, 500, got["b"], True),
                collect(c, same_as_a, 500, got["c"], False),
            )
            await collect(a, only_acc, 250, got["a2"], False)
            expected = {
                key: [(key, step, step + 0.25) for step in range(250)] for key in ("loss", "acc")
            }
            for name in ("a1", "c"):
                for key in ("loss", "acc"):
                    assert [p for p in got[name] if p[0] == key] == expected[key]
            assert got["a2"] == expected["acc"]
            assert sorted(got["b"]) == sorted((k, s) for k in ("loss", "acc") for s in range(250))

            # Stopped: nothing more for that operation, while the other one on its socket
            # goes on.
            await a.stop(everything)
            await log(api, run["id"], "acc", [500, 501])
            assert points_of((await a.next(only_acc))["metricsLogged"]) == [
                ("acc", 500, 500.25),
                ("acc", 501, 501.25),
            ]
            await a.nothing(everything, 0.5)
        finally:
            for ws in (a, b, c):
                await ws.close()


async def test_shared_frames_arrive_whole_under_every_compression_and_between_answers(
    settings: Settings,
) -> None:
    """Sockets negotiating deflate as websockets does by default, none, smaller windows, or
    asking for context takeover, all subscribed under id "1" (so they share frames where
    their encoding allows), each also sending queries on the same socket while 1,000
    points go out directly: every point once and in order, every query answered (a frame
    of one encoding sent to another breaks the socket)."""
    client_deflate = ClientPerMessageDeflateFactory
    options: dict[str, dict[str, Any]] = {
        "default": {},
        "none": {"compression": None},
        "9 bits": {
            "compression": None,
            "extensions": [client_deflate(server_max_window_bits=9, client_max_window_bits=9)],
        },
        "takeover": {
            "compression": None,
            "extensions": [client_deflate(server_no_context_takeover=False)],
        },
    }
    async with running(settings) as (server, api):
        run = await api.create_experiment("vision", "compressed")
        sockets = [await WsClient(server.url, **o).connect() for o in options.values()]
        try:
            ops = [await ws.subscribe(LOGGED, {"id": run["id"]}) for ws in sockets]
            assert set(ops) == {"1"}
            probe = iter(range(10_000, 20_000))
            for ws in sockets:
                await until_live(ws, "1", lambda i: log(api, run["id"], "probe", [next(probe)]))
            for ws in sockets:
                await drain(ws, "1")

            async def write() -> None:
                # Updates of 250 points (~6 kB): deflate matches reach past small windows.
                for first in range(0, 1_000, 250):
                    await log(api, run["id"], "loss", list(range(first, first + 250)))
                    await asyncio.sleep(0.15)

            async def ask(ws: WsClient) -> list[str]:
                asked = []
                for _ in range(30):
                    asked.append(await ws.subscribe("{ __typename viewer { name } }"))
                    await asyncio.sleep(0.02)
                return asked

            writing = asyncio.ensure_future(write())
            asked = await asyncio.gather(*map(ask, sockets))
            got: list[list[Any]] = [[] for _ in sockets]
            await asyncio.gather(
                *(
                    collect(ws, "1", 1_000, keep, False)
                    for ws, keep in zip(sockets, got, strict=True)
                )
            )
            await writing
            for name, keep in zip(options, got, strict=True):
                assert keep == [("loss", step, step + 0.25) for step in range(1_000)], name
            for ws, ids in zip(sockets, asked, strict=True):
                for op in ids:
                    assert (await ws.next(op))["__typename"] == "Query"
        finally:
            for ws in sockets:
                await ws.close()


async def test_a_subscriber_that_stops_reading_is_dropped_with_its_last_step(
    settings: Settings,
) -> None:
    async with running(settings, MODELBOX_SUBSCRIBER_QUEUE_SIZE="20") as (server, api):
        run = await api.create_experiment("vision", "stalled")
        healthy = await WsClient(server.url).connect()
        stalled = await WsClient(
            server.url, sock=stalled_socket(server.url), max_queue=1, compression=None
        ).connect()
        try:
            fast = await healthy.subscribe(LOGGED, {"id": run["id"]})
            slow = await stalled.subscribe(LOGGED, {"id": run["id"]})
            probe = iter(range(1_000_000, 2_000_000))
            for ws, op in ((healthy, fast), (stalled, slow)):
                await until_live(ws, op, lambda i: log(api, run["id"], "probe", [next(probe)]))

            await drain(healthy, fast)
            # The stalled client stops reading while 100 requests of 2,000 points go out
            # (each update ~55 kB of JSON that compression cannot shrink much): far more
            # than socket buffers hold.
            steps_read: list[int] = []
            for first in range(0, 200_000, 2_000):
                steps = list(range(first, first + 2_000))
                values = [random.random() for _ in steps]
                series = {"key": "loss", "steps": steps, "values": values}
                await api.ok(LOG, {"input": {"subjectId": run["id"], "series": [series]}})
                while len(steps_read) < first + 2_000:
                    steps_read += (await healthy.next(fast))["metricsLogged"]["points"]["steps"]
            assert steps_read == list(range(200_000))

            # Reading again, it gets what was sent and queued for it, in order, then the
            # error naming where it got to; never silence.
            got: list[int] = []
            with pytest.raises(OperationError) as dropped:
                while True:
                    update = (await stalled.next(slow, timeout=30))["metricsLogged"]
                    if update["key"] == "loss":
                        got += update["points"]["steps"]
            assert dropped.value.codes == ["SUBSCRIBER_TOO_SLOW"]
            assert got == list(range(len(got))) and len(got) < 200_000
            last = dropped.value.errors[0]["extensions"]["lastStep"]
            assert last["loss"] == got[-1]
        finally:
            await healthy.close()
            await stalled.close()


async def test_a_revoked_token_ends_a_subscription_fed_directly(settings: Settings) -> None:
    async with running(settings) as (server, api):
        run = await api.create_experiment("vision", "revoked")
        viewer = await api.token(("vision", "VIEWER"), name="vision-viewer")
        async with WsClient(server.url, token=viewer) as ws:
            op = await ws.subscribe(LOGGED, {"id": run["id"]})
            probe = iter(range(1_000))
            await until_live(ws, op, lambda i: log(api, run["id"], "probe", [next(probe)]))
            await drain(ws, op)
            await log(api, run["id"], "loss", [0, 1])
            assert (await ws.next(op))["metricsLogged"]["points"]["steps"] == [0, 1]

            await _revoke(api, await _token_id(api, viewer))
            await log(api, run["id"], "loss", [2])
            with pytest.raises(OperationError) as error:
                await ws.next(op, timeout=5)
            assert error.value.codes == ["UNAUTHENTICATED"]
            assert (await ws.message(op))["type"] == "complete"
            await log(api, run["id"], "loss", [3])
            await ws.nothing(op, 0.5)


def test_the_library_behaviour_direct_sends_rely_on_is_unchanged() -> None:
    # `send_now` drives uvicorn's send without awaiting: it must wait for a writable
    # transport before writing anything, and write without waiting after that.
    assert uvicorn_options(Settings())["ws"].endswith("web.frames:SharedFramesProtocol")
    assert issubclass(SharedFramesProtocol, WebSocketsSansIOProtocol)
    source = inspect.getsource(WebSocketsSansIOProtocol.send)
    body = source.split('"""')[-1] if '"""' in source else source
    awaits = [line.strip() for line in body.splitlines() if "await " in line]
    assert awaits == ["await self.writable.wait()"], awaits
    # The outlet is set per operation task and checks the operation is still wanted.
    assert "run_operation" in vars(CheckedTransportWSHandler)
    run = inspect.getsource(BaseGraphQLTransportWSHandler.handle_subscribe)
    assert "create_task(self.run_operation(operation))" in run
    assert {"completed", "id"} <= set(Operation.__slots__)
    cleanup = inspect.getsource(BaseGraphQLTransportWSHandler.cleanup_operation)
    assert "self.operations.pop(operation_id)" in cleanup
    # Legacy graphql-ws: each operation's results are sent from its own task, which is in
    # `tasks` while the operation is on (and taken out before it is cancelled).
    assert "handle_async_results" in vars(CheckedLegacyWSHandler)
    start = inspect.getsource(BaseGraphQLWSHandler.handle_start)
    assert "self.tasks[operation_id] = asyncio.create_task(result_handler)" in start
    assert "self.handle_async_results(" in start
    stop = inspect.getsource(BaseGraphQLWSHandler.cleanup_operation)
    assert stop.index("self.tasks.pop(operation_id") < stop.index("task.cancel()")
    # What SharedFramesProtocol replaces and reads: uvicorn's connection object, built in
    # __init__ with the deflate settings it copies, the scope made in handle_connect, and
    # the state that says whether a frame may be written now.
    init = inspect.getsource(WebSocketsSansIOProtocol.__init__)
    assert "self.conn = ServerProtocol(" in init
    assert "server_max_window_bits=12" in init and "client_max_window_bits=12" in init
    assert 'compress_settings={"memLevel": 5}' in init
    assert "self.scope" in inspect.getsource(WebSocketsSansIOProtocol.handle_connect)
    for state in ("disconnected", "close_sent", "handshake_complete", "writable", "transport"):
        assert f"self.{state}" in init, state
