"""A TCP proxy in front of a real server that loses one answer: the first request carrying
a marker reaches the server and is stored, then, as the answer comes back, the server is
killed and the client's connection dropped. The client cannot know its request counted,
so it must send it again, to the restarted server."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

from tests.servers import ServerProcess


class AnswerLosingProxy:
    def __init__(self, server: ServerProcess, marker: bytes) -> None:
        self.server = server
        self.marker = marker
        self.fired = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                client, _ = self._listener.accept()
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.server.port))
                except OSError:  # the server is down: so is the proxy, to this client
                    client.close()
                    continue
                self._sockets += [client, upstream]
                trapped = threading.Event()
                threading.Thread(target=self._up, args=(client, upstream, trapped)).start()
                threading.Thread(target=self._down, args=(upstream, client, trapped)).start()

    def _up(self, client: socket.socket, upstream: socket.socket, trapped: threading.Event) -> None:
        seen = b""
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                seen = seen[-64:] + chunk
                if not self.fired.is_set() and self.marker in seen:
                    trapped.set()
                upstream.sendall(chunk)
        self._close(client, upstream)

    def _down(
        self, upstream: socket.socket, client: socket.socket, trapped: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while chunk := upstream.recv(65536):
                if trapped.is_set():
                    assert self.server.process is not None
                    self.server.process.kill()  # the request is stored; its answer is lost
                    self.fired.set()
                    break
                client.sendall(chunk)
        self._close(client, upstream)

    @staticmethod
    def _close(*sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> AnswerLosingProxy:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close(*self._sockets)
