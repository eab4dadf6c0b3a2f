"""An in-process app with its own command listeners, for tests that count database work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pymongo.monitoring import CommandListener

from modelbox.server.config import Settings
from modelbox.server.web.app import create_app
from tests.api import Api


@asynccontextmanager
async def listened(
    settings: Settings, listener: CommandListener, timeout: float = 5.0
) -> AsyncIterator[Api]:
    """An `Api` on a fresh app (lifespan run) whose database commands `listener` sees."""
    app = create_app(settings, event_listeners=[listener])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://modelbox.test", timeout=timeout
        ) as client:
            yield Api(client)
