"""Caps on request bodies and WebSocket messages, enforced before GraphQL parses them.

Who asks is known first, so a caller without a valid token gets a small cap
(`max_anonymous_body_bytes`) and its big body is never parsed. A body with too many JSON
values for its bytes (`max_json_values`) is not parsed either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived

from modelbox.server.config import Settings
from modelbox.server.errors import (
    DatabaseUnavailable,
    ModelBoxError,
    PayloadTooLarge,
    RequestTimeout,
)
from modelbox.server.resolvers.auth import sign_in
from modelbox.server.resolvers.context import Context
from modelbox.server.web.frames import ANONYMOUS, EXTENSION, TOO_LARGE, message_over


def error_json(error: ModelBoxError) -> bytes:
    """An error answered outside GraphQL, in the shape of a GraphQL error."""
    return orjson.dumps({"errors": [{"message": error.message, "extensions": error.extensions}]})


# What a JSON body's structure is made of; every other byte is deleted before counting.
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'"[{,:')


def bare_structure(body: bytes) -> bytes:
    """The quotes, [ { , and : of a JSON body, escaped quotes and strings holding none of
    them left out, in linear passes at C speed."""
    if b"\\" in body:
        # Escapes are only in strings: without the escaped backslashes, then the escaped
        # quotes, each quote left opens or closes a string.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Side by side (a , or : is always between two strings), two quotes are a string
    # holding nothing counted: ids, keys and text are gone.
    return body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")


def outside_strings(bare: bytes) -> bytes:
    """The [ { , and : of `bare_structure` that are outside strings: Python touches only
    the strings that hold one of them (a piece each), never a value."""
    return b"".join(bare.split(b'"')[::2]) if b'"' in bare else bare


def too_many_values(data: str | bytes, settings: Settings) -> PayloadTooLarge | None:
    """A body or WebSocket message over `max_json_values` or `max_json_containers`, to be
    refused before it is parsed: orjson holds the event loop (and the GIL) for a time set by
    the values it creates, lists and objects the dearest (8 MiB of `[]`: about 0.9 s)."""
    values, containers = settings.max_json_values, settings.max_json_containers
    if len(data) <= min(values, containers):
        return None  # each counted character is a byte of its own
    bare = bare_structure(data.encode() if isinstance(data, str) else data)
    # Each string after the first follows a , or : outside strings: too many strings hold
    # [ { , or : to be worth splitting off (the count's own cost is theirs).
    if bare.count(b'"') // 2 - 1 > values:
        return _over(values, "values and keys", "max_json_values")
    structure = outside_strings(bare)
    if len(structure) > values:
        return _over(values, "values and keys", "max_json_values")
    if structure.count(b"[") + structure.count(b"{") > containers:
        return _over(containers, "lists and objects", "max_json_containers")
    return None


def _over(limit: int, what: str, name: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"JSON over the limit of {limit} {what} (counted outside strings, {name})", limit=limit
    )


class BodyRefused(Exception):
    def __init__(self, error: ModelBoxError) -> None:
        super().__init__(error.message)
        self.error = error


Authenticate = Callable[[Request], Awaitable[Context]]
# Where the middleware leaves the context it signed in, for the GraphQL view to use.
CONTEXT_STATE = "modelbox_context"
# A body that took longer than this after sign-in has its token looked up again once it
# is in: the token may have been revoked or expired while it was coming.
SIGN_IN_AGAIN_AFTER = 0.5


class BodySizeLimit:
    """Bounds a GraphQL request body before it is read, and as it streams.

    The caller is signed in first (one indexed lookup, none without a token), so the limit
    is known before any byte of the body is: `max_body_bytes` with a valid token,
    `max_anonymous_body_bytes` without, so a huge anonymous body is refused unparsed. A
    declared length over the limit is refused at once; a chunked or lying body when it
    passes it. The body must keep coming (`body_timeout_seconds`); without a valid token
    all of it within that time. Refusals are GraphQL errors naming the limit. A body
    that was slow to come has its token looked up again once it is in (revoked meanwhile:
    UNAUTHENTICATED, nothing runs).
    """

    def __init__(self, app: ASGIApp, settings: Settings, authenticate: Authenticate) -> None:
        self.app = app
        self.settings = settings
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        length = int(declared) if declared.isdigit() else None
        limit, name = self.settings.max_body_bytes, "max_body_bytes"
        if length is not None and length > limit:
            await refuse(send, self._too_large(limit, name, None))
            return
        request = Request(scope)
        context = await self.authenticate(request)
        setattr(request.state, CONTEXT_STATE, context)
        if not context.signed_in:
            limit, name = self.settings.max_anonymous_body_bytes, "max_anonymous_body_bytes"
            if length is not None and length > limit:
                await refuse(send, self._too_large(limit, name, context))
                return
        try:
            bounded = self._bounded(receive, limit, name, context, request)
            await self.app(scope, bounded, send)
        except BodyRefused as refused:
            # Raised by `receive`, so before the app could answer: nothing was sent yet.
            await refuse(send, refused.error)

    def _bounded(
        self, receive: Receive, limit: int, name: str, context: Context, request: Request
    ) -> Receive:
        timeout = self.settings.body_timeout_seconds
        loop = asyncio.get_running_loop()
        signed_in_at = loop.time()
        # Anonymous: the whole body within the timeout; else each part of it.
        deadline = None if context.signed_in else signed_in_at + timeout
        seen, done = 0, False

        async def bounded_receive() -> Message:
            nonlocal seen, done
            if done:  # the body is in: later calls wait for a disconnect, unbounded
                return await receive()
            try:
                async with (
                    asyncio.timeout(timeout) if deadline is None else asyncio.timeout_at(deadline)
                ):
                    message = await receive()
            except TimeoutError:
                how = "stalled for" if deadline is None else "without a valid token took over"
                raise BodyRefused(
                    RequestTimeout(
                        f"the request body {how} {timeout} s (body_timeout_seconds)",
                        limit=timeout,
                    )
                ) from None
            seen += len(message.get("body", b""))
            done = not message.get("more_body", False)
            if seen > limit:
                raise BodyRefused(self._too_large(limit, name, context))
            if done and context.signed_in and loop.time() - signed_in_at > SIGN_IN_AGAIN_AFTER:
                again = await self.authenticate(request)
                if again.refusal is not None:
                    raise BodyRefused(again.refusal)
            return message

        return bounded_receive

    def _too_large(self, limit: int, name: str, context: Context | None) -> ModelBoxError:
        if context is not None and context.refusal is not None:
            # A token that is not good (or could not be checked): that is what to fix.
            return context.refusal
        without = " without a valid token" if name == "max_anonymous_body_bytes" else ""
        return PayloadTooLarge(
            f"request body is over the limit of {limit} bytes{without} ({name})", limit=limit
        )


async def refuse(send: Send, error: ModelBoxError) -> None:
    body = error_json(error)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if isinstance(error, DatabaseUnavailable):
        headers.append((b"retry-after", str(error.retry_after).encode()))
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SizedWebSocket(ASGIWebSocketAdapter):
    """WebSocket messages are bounded like HTTP bodies: one over the limit closes the socket
    (4413, the limit named) before it is parsed. The limit is `max_anonymous_body_bytes`
    until the socket has signed in with a valid token (`connection_init`), and again once
    that token is revoked or expired (looked up again for each message over that limit).
    uvicorn itself refuses a frame announcing more than the socket's limit as it stood when
    its previous message was read (web/frames.py). A message over `max_json_values` closes
    it the same way, unparsed."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        settings: Settings = self.view.settings  # type: ignore[attr-defined]
        frames = self.ws.scope.get("extensions", {}).get(EXTENSION)
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                context = getattr(self.ws.state, CONTEXT_STATE, None)
                if frames is not None:
                    # Signed in (connection_init is handled before the next read): the big
                    # limit; until then, frames are refused from their header past the small.
                    signed_in = context is not None and context.signed_in
                    frames.hold_messages_to(
                        *(
                            (settings.max_body_bytes, "max_body_bytes")
                            if signed_in
                            else (settings.max_anonymous_body_bytes, ANONYMOUS)
                        )
                    )
                text = await self.ws.receive_text()
                context = getattr(self.ws.state, CONTEXT_STATE, None)
                if context is not None and len(text) > settings.max_anonymous_body_bytes:
                    # Signed in at connection_init, maybe long ago: is the token still good
                    # (not revoked, not expired) for a message only a valid one may send?
                    await sign_in(context, context.token)
                if context is not None and context.signed_in:
                    limit, name = settings.max_body_bytes, "max_body_bytes"
                else:
                    limit, name = settings.max_anonymous_body_bytes, ANONYMOUS
                if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
                    await self.ws.close(code=TOO_LARGE, reason=message_over(limit, name))
                    return
                refusal = too_many_values(text, settings)
                if refusal is not None:
                    await self.ws.close(code=4413, reason=refusal.message)
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
