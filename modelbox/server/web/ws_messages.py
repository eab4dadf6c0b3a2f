"""WebSocket messages checked for their shape before Strawberry's handlers read them.

Strawberry indexes into messages as the protocols describe them, so a payload that is
null, a list or a string, or a query that is not a string, raised inside the connection
task. Here such a message gets the protocol's answer instead: graphql-transport-ws closes
with 4400 and the reason; legacy graphql-ws answers an `error` for the operation.

Each operation, in either protocol, also gets an outlet (graph/shared.py `OUTLET`) that
writes a shared result to the socket at once, from the change feed's hand-out, instead of
waking the operation's task to take it through Strawberry's pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from modelbox.server.graph.shared import OUTLET, SharedData
from modelbox.server.resolvers.context import Context
from modelbox.server.web.frames import EXTENSION, SharedFramesProtocol

OPTIONAL_OBJECTS = ("variables", "extensions")


def envelope_problem(message: Any, operation_types: tuple[str, ...]) -> str | None:
    """What is wrong with a message's envelope: its type, and the id of operation messages."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    if not isinstance(message.get("type"), str):
        return "a message needs a string `type`"
    if message["type"] in operation_types and not isinstance(message.get("id"), str):
        return f"a {message['type']} message needs a string `id`"
    return None


def operation_problem(payload: Any) -> str | None:
    """What is wrong with an operation's payload: `{query, variables?, operationName?}`."""
    if not isinstance(payload, dict):
        return "an operation's payload must be an object"
    if not isinstance(payload.get("query"), str):
        return "an operation's payload needs a string `query`"
    for key in OPTIONAL_OBJECTS:
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f"an operation's `{key}` must be an object"
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        return "an operation's `operationName` must be a string"
    return None


def send_now(websocket: WebSocket, text: str) -> bool:
    """Send `text` if the socket takes it without waiting; False, and nothing sent, if not.

    uvicorn's WebSocket protocols wait for a writable transport (its buffer below the
    high-water mark: the client reads) before anything else, and then write without
    waiting; `tests/test_direct_delivery.py` checks that this is still so.
    """
    sending = websocket.send_text(text)
    try:
        sending.send(None)
    except StopIteration:
        return True
    sending.close()
    return False


class Outlet:
    """Writes an operation's shared results straight to its socket (see the module), as
    messages of type `kind`, while `running` says the operation is still on."""

    def __init__(
        self, websocket: Any, kind: str, operation_id: str, running: Callable[[], bool]
    ) -> None:
        self.websocket, self.kind, self.operation_id = websocket, kind, operation_id
        self.running = running

    def __call__(self, data: SharedData) -> bool:
        if not self.running():
            return True  # completed or stopped: nothing more goes out for it
        websocket = getattr(self.websocket, "ws", None)
        if not isinstance(websocket, WebSocket):
            return False
        kind, operation_id = self.kind, self.operation_id
        text = data.message(kind, operation_id)
        protocol = websocket.scope.get("extensions", {}).get(EXTENSION)
        if isinstance(protocol, SharedFramesProtocol):
            # The same frame bytes as every other subscriber of this result (web/frames.py).
            written = protocol.write_shared(text, data.frames_of(kind, operation_id))
            if written is not None:
                return written
        try:
            return send_now(websocket, text)
        except (WebSocketDisconnect, RuntimeError):
            return True  # the connection is closing; its handler ends the operation


class CheckedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # Each operation runs in a task of its own: the outlet is this operation's.
        def running() -> bool:
            return not operation.completed and self.operations.get(operation.id) is operation

        OUTLET.set(Outlet(self.websocket, "next", operation.id, running))
        await super().run_operation(operation)

    async def handle_message(self, message: Any) -> None:
        problem = envelope_problem(message, ("subscribe", "complete"))
        if problem is None and message["type"] == "subscribe":
            problem = operation_problem(message.get("payload"))
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)


class CheckedLegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        # Each operation runs in a task of its own (`tasks`, while it is on): the outlet is
        # this operation's.
        task = asyncio.current_task()

        def running() -> bool:
            return self.tasks.get(operation_id) is task

        OUTLET.set(Outlet(self.websocket, "data", operation_id, running))
        await super().handle_async_results(operation_id, query, operation_name, variables)

    async def handle_message(self, message: Any) -> None:
        problem = envelope_problem(message, ("start", "stop"))
        if problem is not None:
            # No operation to answer for: the connection is refused as a whole.
            await self.websocket.close(code=4400, reason=problem)
            return
        if message["type"] == "start" and (problem := operation_problem(message.get("payload"))):
            await self.send_message(
                {"type": "error", "id": message["id"], "payload": {"message": problem}}
            )
            return
        await super().handle_message(message)
