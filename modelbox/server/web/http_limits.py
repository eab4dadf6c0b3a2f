"""A cap on request bodies, enforced before GraphQL sees them."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelbox.server.errors import PayloadTooLarge


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
        body = orjson.dumps(
            {"errors": [{"message": error.message, "extensions": error.extensions}]}
        )
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
