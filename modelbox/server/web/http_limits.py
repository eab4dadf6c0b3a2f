"""A cap on request bodies and WebSocket messages, enforced before GraphQL sees them."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived

from modelbox.server.errors import ModelBoxError, PayloadTooLarge


def error_json(error: ModelBoxError) -> bytes:
    """An error answered outside GraphQL, in the shape of a GraphQL error."""
    return orjson.dumps({"errors": [{"message": error.message, "extensions": error.extensions}]})


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Answers 413 with a GraphQL error once a body passes `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int, paths: tuple[str, ...] = ("/graphql",)) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        error = PayloadTooLarge(
            f"request body is over the limit of {self.limit} bytes (max_body_bytes)",
            limit=self.limit,
        )
        body = error_json(error)
        await send(
            {
                "type": "http.response.start",
                "status": error.http_status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SizedWebSocket(ASGIWebSocketAdapter):
    """WebSocket messages are bounded like HTTP bodies: one over `max_body_bytes` closes the
    socket (4413, the limit named) before it is parsed."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        limit: int = self.view.settings.max_body_bytes  # type: ignore[attr-defined]
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
                    reason = f"message over the limit of {limit} bytes (max_body_bytes)"
                    await self.ws.close(code=4413, reason=reason)
                    return
                try:
                    yield self.view.decode_json(text)
                except orjson.JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:  # a binary frame
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass
