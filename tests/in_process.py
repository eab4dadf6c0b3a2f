"""An in-process app with its own command listeners, for tests that count database work."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from modelbox.server.config import Settings
from modelbox.server.web.app import create_app
from tests.api import Api


@asynccontextmanager
async def listened(
    settings: Settings, listener: CommandListener | None = None, timeout: float = 5.0
) -> AsyncIterator[Api]:
    """An `Api` on a fresh app (lifespan run) whose database commands `listener` sees;
    leaving it stops the app, as a server process stopping would."""
    app = create_app(settings, event_listeners=[listener] if listener else [])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://modelbox.test", timeout=timeout
        ) as client:
            yield Api(client)


# Commands that talk to the server about the connection rather than the data.
HOUSEKEEPING = {"hello", "isMaster", "ismaster", "ping", "endSessions", "buildInfo"}
# The cursor of a database-wide change stream.
CHANGE_STREAM = "$cmd.aggregate"


class CommandCounter(CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []
        # The same commands as "name collection" ("commitTransaction" alone).
        self.commands: list[str] = []
        self._lock = threading.Lock()

    def started(self, event: CommandStartedEvent) -> None:
        # The process's change stream (policies keep one open) polls on its own: not a query's.
        stream = event.command_name == "getMore" and event.command["collection"] == CHANGE_STREAM
        if event.command_name not in HOUSEKEEPING and not stream:
            target = event.command.get("collection", event.command.get(event.command_name))
            with self._lock:
                self.names.append(event.command_name)
                self.commands.append(
                    f"{event.command_name} {target}"
                    if isinstance(target, str)
                    else event.command_name
                )

    def clear(self) -> None:
        with self._lock:
            self.names.clear()
            self.commands.clear()

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass
