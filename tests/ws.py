"""A small GraphQL-over-WebSocket client for the tests: graphql-transport-ws and legacy graphql-ws.

It reads the socket only when asked to (`next`, `receive`), so a test can make a client
stall simply by not asking. Messages for other operations met on the way are kept.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from types import TracebackType
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.api import ADMIN_TOKEN

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class ConnectionRefused(AssertionError):
    """The server did not acknowledge `connection_init` (e.g. a bad token)."""

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


class OperationError(AssertionError):
    """An operation ended with errors; `codes` are their `extensions.code`s."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def codes(self) -> list[str | None]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


class Completed(AssertionError):
    """The server completed the operation: nothing more will come."""


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1).rstrip("/") + "/graphql"


class WsClient:
    """One WebSocket connection; `subscribe` starts operations, `next` reads their results."""

    def __init__(
        self,
        url: str,
        token: str | None = ADMIN_TOKEN,
        protocol: str = TRANSPORT_WS,
        **connect_options: Any,
    ) -> None:
        self.url = ws_url(url) if url.startswith("http") else url
        self.token = token
        self.protocol = protocol
        self.connect_options = connect_options
        self.socket: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._inbox: dict[str, deque[dict[str, Any]]] = defaultdict(deque)

    async def connect(self) -> WsClient:
        self.socket = await websockets.connect(
            self.url, subprotocols=[self.protocol], **self.connect_options
        )
        payload = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        await self._send({"type": "connection_init", "payload": payload})
        try:
            while True:
                message = await self._read(10)
                if message["type"] == "connection_ack":
                    return self
                if message["type"] == "connection_error":
                    raise ConnectionRefused(message.get("payload"))
        except websockets.ConnectionClosed as closed:
            raise ConnectionRefused(f"{closed.rcvd.code if closed.rcvd else None}") from None

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()

    async def __aenter__(self) -> WsClient:
        return await self.connect()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Start an operation; returns its id."""
        op_id = str(next(self._ids))
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self._send({"id": op_id, "type": kind, "payload": payload})
        return op_id

    async def stop(self, op_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self._send({"id": op_id, "type": kind})

    async def next(self, op_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next result's `data`; raises OperationError for errors, Completed at the end."""
        message = await self.message(op_id, timeout)
        kind = message["type"]
        if kind in ("next", "data"):
            payload = message["payload"]
            if payload.get("errors"):
                raise OperationError(payload["errors"])
            return payload["data"]
        if kind == "error":
            errors = message["payload"]
            raise OperationError(errors if isinstance(errors, list) else [errors])
        raise Completed(op_id)

    async def nothing(self, op_id: str, wait: float = 0.5) -> None:
        """Assert that no message for `op_id` arrives within `wait` seconds."""
        try:
            message = await self.message(op_id, wait)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing for operation {op_id}, got {message}")

    async def message(self, op_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next raw protocol message for `op_id`."""
        async with asyncio.timeout(timeout):
            while not self._inbox[op_id]:
                message = await self._read(None)
                if "id" in message:
                    self._inbox[message["id"]].append(message)
            return self._inbox[op_id].popleft()

    async def _read(self, timeout: float | None) -> dict[str, Any]:
        assert self.socket is not None
        while True:
            async with asyncio.timeout(timeout):
                message = json.loads(await self.socket.recv())
            if message["type"] == "ping":
                await self._send({"type": "pong"})
            elif message["type"] not in ("pong", "ka"):
                return message

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(message))


async def closed_with(socket_: ClientConnection, message: str) -> str:
    """Send `message`; the reason of the 4413 close it must get (a message over a limit)."""
    await socket_.send(message)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(30):
            while True:
                await socket_.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4413, closed.value
    return closed.value.rcvd.reason
