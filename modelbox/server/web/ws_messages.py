"""WebSocket messages checked for their shape before Strawberry's handlers read them.

Strawberry indexes into messages as the protocols describe them, so a payload that is
null, a list or a string, or a query that is not a string, raised inside the connection
task. Here such a message gets the protocol's answer instead: graphql-transport-ws closes
with 4400 and the reason; legacy graphql-ws answers an `error` for the operation.
"""

from __future__ import annotations

from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from modelbox.server.resolvers.context import Context

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


class CheckedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Any) -> None:
        problem = envelope_problem(message, ("subscribe", "complete"))
        if problem is None and message["type"] == "subscribe":
            problem = operation_problem(message.get("payload"))
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)


class CheckedLegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
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
