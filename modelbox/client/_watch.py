"""Subscriptions as plain iterators: graphql-transport-ws over a synchronous WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from modelbox.client._exceptions import TransportError, api_error

PROTOCOL = "graphql-transport-ws"


def ws_url(http_url: str) -> str:
    scheme, rest = http_url.split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + "/graphql"


def subscribe(
    url: str, token: str | None, query: str, variables: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The `data` of each result of one subscription, until the server completes it.
    Errors the server sends are raised as the client's APIError subclasses."""
    try:
        socket = connect(ws_url(url), subprotocols=[PROTOCOL], open_timeout=10)  # type: ignore[list-item]
    except (OSError, ConnectionClosed) as error:
        raise TransportError(f"{url}: {error}") from None
    with socket:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
        try:
            for raw in socket:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    socket.send(json.dumps({"type": "pong"}))
                elif kind == "next":
                    result = message["payload"]
                    if result.get("errors"):
                        raise api_error(result["errors"])
                    yield result["data"]
                elif kind == "error":
                    errors = message["payload"]
                    raise api_error(errors if isinstance(errors, list) else [errors])
                elif kind == "complete":
                    return
        except ConnectionClosed as closed:
            raise TransportError(f"connection closed: {closed}") from None
