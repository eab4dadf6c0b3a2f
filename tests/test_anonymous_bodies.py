"""Requests without a valid token get a small body, refused by its size before it is parsed.

From both sides, over real sockets (`modelbox serve`): small anonymous queries are still
UNAUTHENTICATED and the schema stays public; an anonymous body over
`max_anonymous_body_bytes` is 413 naming it, whether its length is declared, chunked or
trickled; a valid token still sends up to `max_body_bytes`. Slow and lying bodies end with
408 (`body_timeout_seconds`), and WebSocket messages before a valid `connection_init` are
held to the same small limit on both protocols. A token revoked while its slow body comes
runs nothing.
"""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
import websockets
from graphql import get_introspection_query

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN
from tests.live import running
from tests.ws import LEGACY_WS, TRANSPORT_WS, closed_with, ws_url

ANON = Settings().max_anonymous_body_bytes
JSON = {"Content-Type": "application/json"}
ADMIN = {**JSON, "Authorization": f"Bearer {ADMIN_TOKEN}"}


def _padded(size: int) -> bytes:
    """A `{ viewer { name } }` request of about `size` bytes."""
    return orjson.dumps({"query": "{ viewer { name } }", "variables": {"pad": "y" * size}})


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
    return error


async def test_small_anonymous_requests_are_unauthenticated_large_ones_refused_unparsed(
    settings: Settings,
) -> None:
    async with running(settings) as (_, api):
        post = api.client.post
        small = await post("/graphql", json={"query": "{ viewer { name } }"})
        assert [e["extensions"]["code"] for e in small.json()["errors"]] == ["UNAUTHENTICATED"]
        # The schema stays public: GraphiQL's own introspection query fits.
        schema = await post("/graphql", json={"query": get_introspection_query(descriptions=True)})
        assert schema.json()["data"]["__schema"]["queryType"]["name"] == "Query"

        # Over the limit, and not even JSON: refused by size, so it was never parsed.
        not_json = b"{" + b" " * ANON
        error = _error(
            await post("/graphql", content=not_json, headers=JSON), 413, "PAYLOAD_TOO_LARGE"
        )
        assert "max_anonymous_body_bytes" in error["message"], error
        assert error["extensions"]["limit"] == ANON
        # A bad token with a big body: told what to fix, still unparsed.
        bad = {**JSON, "Authorization": "Bearer mbx_not-a-token"}
        _error(await post("/graphql", content=not_json, headers=bad), 401, "UNAUTHENTICATED")
        # With a valid token the same body is parsed (and is not JSON) ...
        parsed = await post("/graphql", content=not_json, headers=ADMIN)
        assert parsed.status_code == 400, parsed.text
        # ... and a megabyte is served, up to max_body_bytes.
        big = await post("/graphql", content=_padded(1 << 20), headers=ADMIN)
        assert big.json() == {"data": {"viewer": {"name": "bootstrap-admin"}}}
        over = _padded(settings.max_body_bytes)
        error = _error(
            await post("/graphql", content=over, headers=ADMIN), 413, "PAYLOAD_TOO_LARGE"
        )
        assert "max_body_bytes" in error["message"], error


async def test_a_chunked_anonymous_body_is_refused_once_past_the_limit(settings: Settings) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 1 MB in all, if nothing stopped it
            sent += 1024
            yield b" " * 1024

    async with running(settings) as (_, api):
        # No Content-Length: the size is only known as the body streams.
        response = await api.client.post("/graphql", content=chunks(), headers=JSON)
        error = _error(response, 413, "PAYLOAD_TOO_LARGE")
        assert "max_anonymous_body_bytes" in error["message"], error
        # The same chunks with a valid token are read whole (and then fail to parse).
        response = await api.client.post("/graphql", content=chunks(), headers=ADMIN)
        assert response.status_code == 400, response.text


def _head(length: int, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _response(conn: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    """The next response on a kept-alive connection: its status and body."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before a response: {bytes(buffer)!r}"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, "connection closed within a response"
        rest += chunk
    buffer[:] = rest[length:]
    return int(lines[0].split()[1]), rest[:length]


def _refused_then_served(port: int) -> tuple[int, bytes, int, int]:
    """Two refused anonymous bodies on one connection, each sent on to its end anyway (the
    rest of a refused body must not be taken for the next request's head): one declaring
    200 KB, one chunked whose last chunk shares a packet with a signed-in 1 MB request."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        body = b" " * 200_000
        conn.sendall(_head(len(body)) + body)
        buffer = bytearray()
        status, answer = _response(conn, buffer)
        chunked = _head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
        conn.sendall(chunked + b"".join(b"400\r\n" + b" " * 1024 + b"\r\n" for _ in range(32)))
        chunked_status = _response(conn, buffer)[0]
        query = b'{"query": "{ __typename }"}'.ljust(1 << 20)
        conn.sendall(b"0\r\n\r\n" + _head(len(query), ADMIN_TOKEN) + query)
        return status, answer, chunked_status, _response(conn, buffer)[0]


def _trickled(port: int, length: int, token: str | None, every: float) -> tuple[int, bytes, float]:
    """A body of `length` bytes sent a byte every `every` seconds (or until answered): the
    answer and the time it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(_head(length, token))
        for byte in b'{"query": "{ __typename }"}'.ljust(length):
            try:
                conn.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if select.select([conn], [], [], every)[0]:
                break  # answered before the body was all sent
        status, answer = _response(conn, bytearray())
        return status, answer, time.monotonic() - started


async def test_slow_lying_and_refused_bodies_over_raw_sockets(settings: Settings) -> None:
    async with running(settings, MODELBOX_BODY_TIMEOUT_SECONDS="1") as (server, api):
        status, answer, chunked, then = await asyncio.to_thread(_refused_then_served, server.port)
        assert status == 413 and b"max_anonymous_body_bytes" in answer, answer
        assert (chunked, then) == (413, 200)

        # A Content-Length the body never reaches: 408 after the pause, the limit named.
        status, answer, took = await asyncio.to_thread(_trickled, server.port, 500, None, 30.0)
        assert status == 408 and b"body_timeout_seconds" in answer, answer
        assert took < 5
        # Without a token a body that never pauses long is still cut off as a whole ...
        status, answer, took = await asyncio.to_thread(_trickled, server.port, 500, None, 0.1)
        assert status == 408 and b"REQUEST_TIMEOUT" in answer, answer
        assert took < 5
        # ... while with a valid token a slow but steady body is answered (2.4 s > 1 s).
        status, answer, took = await asyncio.to_thread(
            _trickled, server.port, 30, ADMIN_TOKEN, 0.08
        )
        assert status == 200 and orjson.loads(answer) == {"data": {"__typename": "Query"}}
        assert took > 1.5
        assert (await api.client.get("/healthz")).status_code == 200


async def _closed_with(socket_: websockets.ClientConnection, message: dict[str, Any]) -> str:
    return await closed_with(socket_, orjson.dumps(message).decode())


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websocket_messages_without_a_valid_token_are_held_to_the_small_limit(
    settings: Settings, protocol: str
) -> None:
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    big = {"query": "{ viewer { name } }", "variables": {"pad": "y" * ANON}}

    async def connect(payload: dict[str, Any] | None) -> websockets.ClientConnection:
        socket_ = await websockets.connect(url, subprotocols=[protocol], max_size=None)
        if payload is not None:
            await socket_.send(
                orjson.dumps({"type": "connection_init", "payload": payload}).decode()
            )
            assert orjson.loads(await socket_.recv())["type"] == "connection_ack"
        return socket_

    async with running(settings) as (server, _):
        url = ws_url(server.url)
        # Before connection_init, a big first message is not parsed.
        async with await connect(None) as socket_:
            reason = await _closed_with(socket_, {"type": "connection_init", "payload": big})
            assert "max_anonymous_body_bytes" in reason
        for payload in ({}, {"Authorization": "Bearer mbx_not-a-token"}):
            async with await connect(payload) as socket_:
                # Small operations are answered as over HTTP: the schema, or UNAUTHENTICATED.
                ask = {"query": "{ __schema { queryType { name } } }"}
                await socket_.send(
                    orjson.dumps({"id": "1", "type": start, "payload": ask}).decode()
                )
                answer = orjson.loads(await socket_.recv())
                assert answer["payload"]["data"]["__schema"]["queryType"]["name"] == "Query"
                reason = await _closed_with(socket_, {"id": "2", "type": start, "payload": big})
                assert "max_anonymous_body_bytes" in reason
        # Signed in, a megabyte is read and answered.
        async with await connect({"Authorization": f"Bearer {ADMIN_TOKEN}"}) as socket_:
            huge = {**big, "variables": {"pad": "y" * (1 << 20)}}
            await socket_.send(orjson.dumps({"id": "1", "type": start, "payload": huge}).decode())
            answer = orjson.loads(await socket_.recv())
            assert answer["payload"] == {"data": {"viewer": {"name": "bootstrap-admin"}}}


REVOKE = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }"


def _sent_in_two(port: int, body: bytes, token: str, between: Callable[[], None]) -> bytes:
    """A request whose body comes in two halves, `between` run in the pause: its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(_head(len(body), token) + body[: len(body) // 2])
        between()
        conn.sendall(body[len(body) // 2 :])
        return _response(conn, bytearray())[1]


async def test_a_token_revoked_while_its_body_comes_is_refused_and_writes_nothing(
    settings: Settings,
) -> None:
    """The token is looked up before the body is read; a slow body gives time to revoke
    it, so it is looked up again once the body is in, and the mutation does not run."""
    async with running(settings) as (server, api):
        token = await api.token(("vision", "WRITER"), name="leaving")
        token_id = (await api.ok("{ viewer { id } }", token=token))["viewer"]["id"]
        create = 'mutation { createModel(input: {namespace: "vision", name: "%s"}) { id } }'

        def revoke() -> None:
            with httpx.Client(base_url=server.url, headers=ADMIN, timeout=20) as admin:
                revoked = admin.post(
                    "/graphql", json={"query": REVOKE, "variables": {"id": token_id}}
                )
                assert "errors" not in revoked.json(), revoked.text
            time.sleep(0.6)  # past SIGN_IN_AGAIN_AFTER, as a slow body would be

        def pause() -> None:
            time.sleep(0.6)

        # A slow body with a good token is served as before.
        body = orjson.dumps({"query": create % "slow-but-fine"})
        answer = await asyncio.to_thread(_sent_in_two, server.port, body, token, pause)
        assert "errors" not in orjson.loads(answer), answer

        body = orjson.dumps({"query": create % "after-revocation"})
        answer = await asyncio.to_thread(_sent_in_two, server.port, body, token, revoke)
        (error,) = orjson.loads(answer).get("errors") or [{"extensions": {"code": "none"}}]
        assert error["extensions"]["code"] == "UNAUTHENTICATED", error
        names = await api.ok('{ namespace(name: "vision") { models { edges { node { name } } } } }')
        found = [e["node"]["name"] for e in names["namespace"]["models"]["edges"]]
        assert found == ["slow-but-fine"]


async def test_a_socket_whose_token_was_revoked_is_held_to_the_small_limit(
    settings: Settings,
) -> None:
    """A socket signed in at connection_init may send big messages; once its token is
    revoked, its big messages are refused unparsed, as before a valid connection_init."""
    big = {"query": "{ viewer { name } }", "variables": {"pad": "y" * (4 * ANON)}}
    async with running(settings) as (server, api):
        token = await api.token(("vision", "WRITER"), name="leaving")
        token_id = (await api.ok("{ viewer { id } }", token=token))["viewer"]["id"]
        async with websockets.connect(
            ws_url(server.url), subprotocols=[TRANSPORT_WS], max_size=None
        ) as socket_:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            await socket_.send(orjson.dumps(init).decode())
            assert orjson.loads(await socket_.recv())["type"] == "connection_ack"
            # Signed in: a big message is read and answered.
            await socket_.send(
                orjson.dumps({"id": "1", "type": "subscribe", "payload": big}).decode()
            )
            assert orjson.loads(await socket_.recv())["payload"]["data"]["viewer"]["name"]

            await api.ok(REVOKE, {"id": token_id})
            reason = await _closed_with(socket_, {"id": "2", "type": "subscribe", "payload": big})
            assert "max_anonymous_body_bytes" in reason


async def test_a_browser_reads_the_refusal_of_a_large_anonymous_body(settings: Settings) -> None:
    origin = "http://ui.example"
    async with running(settings, MODELBOX_CORS_ORIGINS=origin) as (_, api):
        headers = {**JSON, "Origin": origin}
        response = await api.client.post("/graphql", content=_padded(ANON), headers=headers)
        _error(response, 413, "PAYLOAD_TOO_LARGE")
        assert response.headers["access-control-allow-origin"] == origin
