"""A WebSocket frame whose header announces more than a message may hold (max_body_bytes)
is refused from its header: the socket is closed at once (1009, the limit named), the
server neither waiting for the body nor buffering it; either protocol. Before the socket
signs in, the limit is max_anonymous_body_bytes.

Raw sockets, so that a test can send a header alone and then stall, as an attacker would.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time

import orjson
import websockets

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN
from tests.live import running
from tests.ws import LEGACY_WS, TRANSPORT_WS, WsClient, ws_url

LIMIT = 64 * 1024  # max_body_bytes of these servers: small, so a whole message is cheap


def _upgrade(port: int, subprotocol: str) -> socket.socket:
    """A WebSocket on `subprotocol` (no compression offered), its handshake read."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    conn.sendall(
        (
            f"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return conn


def _header(opcode: int, length: int, fin: bool = True) -> bytes:
    """A client frame's header (masked, 64-bit length) announcing `length` bytes."""
    return (
        bytes([(0x80 if fin else 0) | opcode, 0x80 | 127])
        + struct.pack("!Q", length)
        + os.urandom(4)
    )


def _frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return _header(opcode, len(payload), fin)[:-4] + mask + masked


def _server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the unmasked frames in `data`."""
    frames = []
    while data:
        length, start = data[1] & 0x7F, 2
        if length == 126:
            length, start = struct.unpack("!H", data[2:4])[0], 4
        frames.append((data[0] & 0x0F, data[start : start + length]))
        data = data[start + length :]
    return frames


def _closed(conn: socket.socket) -> tuple[int, str, float]:
    """The close code and reason the server sends, and how long it took; a server that keeps
    the socket open, waiting for the announced body, fails the test on the socket timeout."""
    started, data = time.monotonic(), b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - started
    [close] = [payload for opcode, payload in _server_frames(data) if opcode == 0x8]
    return struct.unpack("!H", close[:2])[0], close[2:].decode(), elapsed


def _signed_in(port: int) -> socket.socket:
    conn = _upgrade(port, TRANSPORT_WS)
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
    conn.sendall(_frame(0x1, orjson.dumps(init)))
    [(opcode, ack)] = _server_frames(conn.recv(4096))
    assert (opcode, orjson.loads(ack)["type"]) == (0x1, "connection_ack")
    return conn


def _announce_and_stall(conn: socket.socket, *frames: bytes) -> tuple[int, str, float]:
    with conn:
        conn.sendall(b"".join(frames))  # and nothing more: the body never comes
        return _closed(conn)


async def test_a_frame_announcing_more_than_a_message_may_hold_is_refused_from_its_header(
    settings: Settings,
) -> None:
    async with running(settings, MODELBOX_MAX_BODY_BYTES=str(LIMIT)) as (server, api):

        def attempts() -> list[tuple[int, str, float]]:
            port = server.port
            return [
                # Signed in: the limit is the configured one, not uvicorn's 16 MiB default
                # (a socket not signed in: the next test).
                _announce_and_stall(_signed_in(port), _header(0x1, LIMIT + 1)),
                _announce_and_stall(_signed_in(port), _header(0x2, 2**62)),
                # A message in fragments counts as a whole: the second announces the rest.
                _announce_and_stall(
                    _signed_in(port),
                    _frame(0x1, b"x" * (LIMIT // 2), fin=False),
                    _header(0x0, LIMIT // 2 + 1),
                ),
            ]

        for code, reason, elapsed in await asyncio.to_thread(attempts):
            assert (code, reason) == (
                1009,
                f"message over the limit of {LIMIT} bytes (max_body_bytes)",
            )
            assert elapsed < 5

        # The server answers everyone else, and a message of exactly the limit is read.
        assert (await api.client.get("/healthz")).status_code == 200
        async with websockets.connect(
            ws_url(server.url), subprotocols=[TRANSPORT_WS], max_size=None
        ) as ws:
            init = {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            }
            await ws.send(orjson.dumps(init).decode())
            assert orjson.loads(await ws.recv())["type"] == "connection_ack"
            message = {"id": "1", "type": "subscribe", "payload": {"query": "{ viewer { name } }"}}
            pad = LIMIT - len(orjson.dumps({**message, "pad": ""}))
            full = orjson.dumps({**message, "pad": "y" * pad})
            assert len(full) == LIMIT
            await ws.send(full.decode())
            answer = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert answer["payload"] == {"data": {"viewer": {"name": "bootstrap-admin"}}}
        async with WsClient(server.url) as client:
            op = await client.subscribe("{ viewer { name } }")
            assert await client.next(op) == {"viewer": {"name": "bootstrap-admin"}}


async def test_a_socket_not_signed_in_is_held_to_the_small_limit_from_the_frame_header(
    settings: Settings,
) -> None:
    # Before a valid connection_init, a frame announcing more than max_anonymous_body_bytes
    # is refused from its header: otherwise every anonymous socket could make the server
    # wait for and buffer up to max_body_bytes.
    anonymous = settings.max_anonymous_body_bytes
    async with running(settings, MODELBOX_MAX_BODY_BYTES=str(LIMIT)) as (server, _):

        def attempts() -> list[tuple[int, str, float]]:
            return [
                _announce_and_stall(_upgrade(server.port, protocol), _header(0x1, anonymous + 1))
                for protocol in (TRANSPORT_WS, LEGACY_WS)
            ]

        for code, reason, elapsed in await asyncio.to_thread(attempts):
            assert (code, reason) == (
                4413,
                f"message over the limit of {anonymous} bytes (max_anonymous_body_bytes)",
            )
            assert elapsed < 5
