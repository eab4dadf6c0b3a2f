"""One WebSocket frame for every subscriber of a shared result.

A subscription result many subscribers receive is one JSON text (graph/shared.py); its
`next` message differs between them only by the operation id, which clients mostly
number alike. Here that message is framed — and compressed — once, and the same bytes
are written to every socket that takes them. For that, permessage-deflate is negotiated
without the server's context takeover (RFC 7692 `server_no_context_takeover`): each
message is then compressed on its own, so equal messages are equal bytes on every
connection, at the cost of not using earlier messages as the dictionary.

`SharedFramesProtocol` is uvicorn's sans-I/O WebSocket protocol with that negotiation,
handing itself to the app in the ASGI scope's extensions; `tests/test_direct_delivery.py`
checks the uvicorn attributes used here. Its websockets connection refuses a frame whose
header announces more than a message may hold before reading it, the setting named:
max_anonymous_body_bytes (4413, as the app closes a message over it) until the socket has
signed in (`hold_messages_to`, set by web/http_limits.py), then max_body_bytes (1009).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import CloseCode, Frame, Opcode
from websockets.server import ServerProtocol

# Where the app finds the protocol of its socket: `scope["extensions"][EXTENSION]`.
EXTENSION = "modelbox.shared_frames"
ANONYMOUS = "max_anonymous_body_bytes"
# The close code of a message over the limit of a socket not signed in (the app's own).
TOO_LARGE = 4413


def message_over(limit: int | None, name: str) -> str:
    """The close reason of a WebSocket message over its limit, the setting named."""
    return f"message over the limit of {limit} bytes ({name})"


class SizedServerProtocol(ServerProtocol):
    """websockets' server side; a message over `max_size` (a frame header announcing more,
    or more once inflated) closes naming the setting: uvicorn_options sets it to the
    anonymous limit, raised once the socket signs in."""

    limit_name = ANONYMOUS

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        if code == CloseCode.MESSAGE_TOO_BIG:
            reason = message_over(self.max_message_size, self.limit_name)
            code = TOO_LARGE if self.limit_name == ANONYMOUS else code
        super().fail(code, reason)


class SharedFramesProtocol(WebSocketsSansIOProtocol):
    # Worked out at the first shared frame (the handshake has settled the extensions).
    _shared_encoding: tuple[Any, ...] | bool | None = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # As uvicorn negotiates it, with each message compressed on its own.
        deflate = ServerPerMessageDeflateFactory(
            server_no_context_takeover=True,
            server_max_window_bits=12,
            client_max_window_bits=12,
            compress_settings={"memLevel": 5},
        )
        self.conn = SizedServerProtocol(
            extensions=[deflate] if self.config.ws_per_message_deflate else [],
            max_size=self.config.ws_max_size,
            logger=self.conn.logger,
        )

    def hold_messages_to(self, size: int, name: str) -> None:
        """Refuse frames announcing (or messages holding) more than `size` from now on."""
        assert isinstance(self.conn, SizedServerProtocol)
        self.conn.max_message_size, self.conn.limit_name = size, name

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        self.scope["extensions"][EXTENSION] = self  # type: ignore[index,assignment]

    def write_shared(self, text: str, frames: dict[Any, bytes]) -> bool | None:
        """Write the text frame of `text` now, shared through `frames` (its frames by how
        they are encoded): True when written or no longer wanted (the socket is closing),
        False when the socket would have to wait, None when this connection's
        compression cannot share frames (the caller sends its own)."""
        if self.disconnected or self.close_sent:
            return True
        if not self.handshake_complete or not self.writable.is_set():
            return False
        encoding = self._shared_encoding
        if encoding is False:
            encoding = self._shared_encoding = self._encoding()
        if not isinstance(encoding, tuple):
            return None
        frame = frames.get(encoding)
        if frame is None:
            frame = frames[encoding] = Frame(Opcode.TEXT, text.encode()).serialize(
                mask=False, extensions=self.conn.extensions
            )
        self.transport.write(frame)
        return True

    def _encoding(self) -> tuple[Any, ...] | None:
        """What makes this connection's frames of a message what they are, if they are the
        same for every message (no extension, or deflate without context takeover)."""
        extensions = self.conn.extensions
        if not extensions:
            return ()
        [deflate] = extensions if len(extensions) == 1 else [None]
        if not isinstance(deflate, PerMessageDeflate) or not deflate.local_no_context_takeover:
            return None
        settings = tuple(sorted(deflate.compress_settings.items()))
        return ("deflate", deflate.local_max_window_bits, settings)
