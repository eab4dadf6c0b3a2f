"""Requests that try to make the server work for nothing: refused early, with the limit named.

Anonymous requests are refused before any of their arguments are looked at; every list
argument is capped (before graphql-core coerces it item by item); WebSocket messages,
HTTP headers and slow or idle connections are bounded in the server itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import time
from typing import Any

import httpx
import orjson
import pytest
import websockets
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN, Api
from tests.live import running
from tests.ws import TRANSPORT_WS, WsClient

NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
LIMIT = Settings().max_list_length


def _list_refusal(body: dict[str, Any], argument: str) -> None:
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert argument in error["message"] and "max_list_length" in error["message"], error
    assert error["extensions"]["limit"] == LIMIT


async def test_a_huge_anonymous_request_is_refused_unparsed_and_others_are_answered_meanwhile(
    settings: Settings,
) -> None:
    async with running(settings) as (server, api):
        body = orjson.dumps({"query": NODES, "variables": {"ids": ["x"] * 500_000}})
        assert len(body) < settings.max_body_bytes

        async def huge() -> httpx.Response:
            return await api.client.post(
                "/graphql", content=body, headers={"Content-Type": "application/json"}
            )

        async def small() -> dict[str, Any]:
            await asyncio.sleep(0.02)  # the huge one is on its way first
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as other:
                response = await other.post(
                    "/graphql",
                    json={"query": "{ viewer { name } }"},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                return response.json()

        refused, answered = await asyncio.gather(huge(), small())
        assert answered == {"data": {"viewer": {"name": "bootstrap-admin"}}}
        # Refused by its size, before it is parsed: no token, so only a small body is read.
        assert refused.status_code == 413
        (error,) = refused.json()["errors"]
        assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE", error
        assert "max_anonymous_body_bytes" in error["message"], error


async def test_anonymous_requests_are_refused_before_their_lists_are_read(api: Api) -> None:
    # Over the list cap, within the anonymous body limit: refused for the token, not the list.
    ids = ["x"] * (LIMIT * 2)
    assert await api.fails(NODES, {"ids": ids}, token=None) == ["UNAUTHENTICATED"]
    reps = [{"__typename": "M", "id": "x"}] * 100
    query = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
    assert await api.fails(query, {"r": reps}, token=None) == ["UNAUTHENTICATED"]


async def test_list_arguments_are_capped_and_named(api: Api) -> None:
    model = await api.create_model("vision", "resnet")
    exactly = await api.ok(NODES, {"ids": [model["id"]] * LIMIT})
    assert len(exactly["nodes"]) == LIMIT
    _list_refusal(await api.post(NODES, {"ids": [model["id"]] * (LIMIT + 1)}), "ids")

    reps = [{"__typename": "Model", "id": model["id"]}] * (LIMIT + 1)
    query = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
    _list_refusal(await api.post(query, {"r": reps}), "representations")

    labels = [{"key": f"k{i}", "value": "v"} for i in range(LIMIT + 1)]
    query = """query($l: [LabelInput!]) { namespace(name: "vision") {
                 models(filter: {labels: $l}) { totalCount } } }"""
    _list_refusal(await api.post(query, {"l": labels}), "labels")

    # Written in the query itself rather than as a variable: capped the same way.
    literal = ", ".join(f'"{i}"' for i in range(LIMIT + 1))
    _list_refusal(await api.post(f"{{ nodes(ids: [{literal}]) {{ id }} }}"), "ids")


async def test_metric_series_keys_are_deduplicated_and_capped(api: Api) -> None:
    run = await api.create_experiment("vision", "run")
    await api.ok(
        """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }""",
        {
            "input": {
                "subjectId": run["id"],
                "series": [{"key": "loss", "steps": [1, 2], "values": [0.5, 0.4]}],
            }
        },
    )
    query = """query($id: ID!, $keys: [String!]) { node(id: $id) { ... on Experiment {
                 metricSeries(keys: $keys) { key count } } } }"""
    data = await api.ok(query, {"id": run["id"], "keys": ["loss"] * 24})
    assert data["node"]["metricSeries"] == [{"key": "loss", "count": 2}]
    _list_refusal(await api.post(query, {"id": run["id"], "keys": ["loss"] * (LIMIT + 1)}), "keys")


async def test_websocket_messages_are_capped_like_http_bodies(settings: Settings) -> None:
    async with running(settings) as (server, api):
        limit = settings.max_body_bytes
        url = server.url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=[TRANSPORT_WS], max_size=None) as socket_:
            init = {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            }
            await socket_.send(orjson.dumps(init).decode())
            assert orjson.loads(await socket_.recv())["type"] == "connection_ack"
            big = {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "{ viewer { name } }",
                    "variables": {"pad": "y" * (limit + 1)},
                },
            }
            await socket_.send(orjson.dumps(big).decode())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await socket_.recv()
        assert closed.value.rcvd is not None
        assert "max_body_bytes" in closed.value.rcvd.reason, closed.value.rcvd
        # The server is still there for everyone else.
        assert (await api.ok("{ viewer { name } }"))["viewer"]["name"] == "bootstrap-admin"
        async with WsClient(server.url) as ws:
            op = await ws.subscribe("{ viewer { name } }")
            assert await ws.next(op) == {"viewer": {"name": "bootstrap-admin"}}


def _raw_request(port: int, payload: bytes, timeout: float = 10.0) -> bytes:
    """Send `payload` on a fresh connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(payload)
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


async def test_oversized_headers_are_refused_with_the_limit_named(settings: Settings) -> None:
    async with running(settings) as (server, api):
        limit = settings.max_header_bytes
        header = b"X-Pad: " + b"a" * (limit + 1) + b"\r\n"
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n"
        answer = await asyncio.to_thread(_raw_request, server.port, request)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert b"max_header_bytes" in answer
        # A 64 MB header is cut off early, and the loop keeps answering.
        huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (64 * 1024 * 1024)
        started = time.monotonic()
        answer = await asyncio.to_thread(_raw_request, server.port, huge)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert (await api.client.get("/healthz")).status_code == 200
        assert time.monotonic() - started < 30
        # Headers under the limit are served as before.
        ok = await api.client.get("/healthz", headers={"X-Pad": "a" * (limit // 2)})
        assert ok.status_code == 200


async def test_slow_and_idle_connections_are_closed(settings: Settings) -> None:
    async with running(settings, MODELBOX_HEADER_TIMEOUT_SECONDS="1") as (server, api):

        def slow_headers() -> float:
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                try:
                    for _ in range(40):  # one header line every 0.25 s, never finishing
                        time.sleep(0.25)
                        conn.sendall(b"X-Slow: 1\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    return time.monotonic() - started
                return float("inf")

        def idle() -> float:
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
                with contextlib.suppress(ConnectionResetError):
                    conn.recv(1024)  # nothing sent: the server closes it
                return time.monotonic() - started

        assert await asyncio.to_thread(slow_headers) < 5
        assert await asyncio.to_thread(idle) < 5
        assert (await api.client.get("/healthz")).status_code == 200


def test_the_uvicorn_protocol_the_head_limits_build_on_is_unchanged() -> None:
    # GuardedHttpTools overrides these callbacks and reads the request cycle's state to tell
    # a refused body's unread rest from the next request's head (uvicorn is pinned exactly).
    for callback in (
        "connection_made",
        "connection_lost",
        "data_received",
        "on_headers_complete",
        "on_message_complete",
        "on_response_complete",
    ):
        assert callable(getattr(HttpToolsProtocol, callback)), callback
    init = inspect.getsource(HttpToolsProtocol.__init__)
    assert "self.cycle: RequestResponseCycle = None" in init
    assert "self.loop" in init
    assert "self.transport" in inspect.getsource(HttpToolsProtocol.connection_made)
    cycle = inspect.getsource(RequestResponseCycle.__init__)
    assert "self.response_complete = False" in cycle
    assert "self.more_body = True" in cycle
