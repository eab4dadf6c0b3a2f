"""GraphQL over WebSocket in text frames, as the protocols say and JavaScript clients require."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected


class TextFrameWebSocket(ASGIWebSocketAdapter):
    """Sends every message as a text frame.

    Strawberry sends bytes from `encode_json` (orjson) as binary frames; graphql-ws, which
    federation gateways use towards subgraphs, reads those as objects without a `type`.
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
