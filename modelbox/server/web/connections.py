"""Limits that live below the app, in the connection: request heads, slow clients, socket size.

uvicorn's httptools protocol reads a request head of any size, however slowly it comes (a
64 MB header held the event loop for seconds; a client sending one header line a minute
kept its connection forever). `GuardedHttpTools` bounds both, and names the setting in
its answer, in the JSON error shape the API uses.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modelbox.server.config import Settings
from modelbox.server.errors import ModelBoxError, PayloadTooLarge, RequestTimeout
from modelbox.server.web.frames import SharedFramesProtocol
from modelbox.server.web.http_limits import error_json

HEAD_END = b"\r\n\r\n"
REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


@functools.cache
def _settings() -> Settings:
    # uvicorn builds the protocol itself (in each worker process, too): the limits come
    # from the MODELBOX_* environment the server was started with.
    return Settings.from_env()


class GuardedHttpTools(HttpToolsProtocol):
    """At most `max_header_bytes` of request head, sent within `header_timeout_seconds` of
    the connection opening or of the previous response; a connection that sends nothing
    is closed after that time too. The unread rest of a refused body is dropped, never
    counted as the next head, and a head is over where the parser says it is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._tail = b""
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._between_requests()
        self._time_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        # The parser says where a head ends (the byte scan in data_received only counts): a
        # head in the same packet as the end of the previous body is not taken for a body.
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What comes next is a head. It is timed from the answer, so at once if the answer
        # went before the body was over (a refused body, dropped to its end).
        self._between_requests()
        if self.cycle is not None and self.cycle.response_complete:
            self._time_head()

    def on_response_complete(self) -> None:
        # Answered before its body was all read (refused by its declared length): the rest
        # is read and dropped, so the client can finish sending and read the answer; a body
        # still coming after body_timeout_seconds is cut off.
        unread = self.cycle is not None and self.cycle.response_complete and self.cycle.more_body
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if unread:
            self._stop_head_timer()
            seconds = _settings().body_timeout_seconds
            self._head_timer = self.loop.call_later(seconds, self.transport.close)
        elif self._in_head:  # not when a pipelined request's head is already in
            self._time_head()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            window = self._tail + data
            end = window.find(HEAD_END)
            # Only the head counts: a body in the same packet is the app's to limit.
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            limit = _settings().max_header_bytes
            if self._head_bytes > limit:
                self._refuse(
                    PayloadTooLarge(
                        f"request head is over the limit of {limit} bytes (max_header_bytes)",
                        limit=limit,
                    ),
                    431,
                )
                return
            if end >= 0:
                self._in_head = False
                self._stop_head_timer()
            else:
                self._tail = window[-(len(HEAD_END) - 1) :]
        super().data_received(data)

    def _between_requests(self) -> None:
        self._in_head, self._head_bytes, self._tail = True, 0, b""

    def _time_head(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(
            _settings().header_timeout_seconds, self._head_too_slow
        )

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        if self._in_head and not self.transport.is_closing():
            seconds = _settings().header_timeout_seconds
            self._refuse(
                RequestTimeout(
                    f"no complete request head within {seconds} s (header_timeout_seconds)",
                    limit=seconds,
                ),
                408,
            )

    def _refuse(self, error: ModelBoxError, status: int) -> None:
        self._stop_head_timer()
        body = error_json(error)
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `uvicorn.run` needs besides the app: the guarded protocol and socket limits."""
    return {
        "http": f"{GuardedHttpTools.__module__}:{GuardedHttpTools.__name__}",
        # A frame announcing more than a message may hold is refused from its header,
        # before uvicorn buffers it (web/frames.py): a socket not signed in may send this
        # much, raised to max_body_bytes once it signs in (`SizedWebSocket`).
        "ws_max_size": settings.max_anonymous_body_bytes,
        # uvicorn's sans-I/O protocol (web/ws_messages.py `send_now` relies on how it
        # sends), negotiating compression so that frames can be shared (web/frames.py).
        "ws": f"{SharedFramesProtocol.__module__}:{SharedFramesProtocol.__name__}",
    }
