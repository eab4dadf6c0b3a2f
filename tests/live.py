"""Helpers for tests of subscriptions through real servers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from modelbox.server.config import Settings
from tests.api import Api
from tests.servers import ServerProcess
from tests.ws import WsClient


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `modelbox serve` on the test's database."""
    assert settings.mongodb_uri is not None
    return {
        "MODELBOX_MONGODB_URI": settings.mongodb_uri,
        "MODELBOX_DATABASE": settings.database,
        "MODELBOX_ADMIN_TOKEN": settings.admin_token or "",
        **extra,
    }


@asynccontextmanager
async def running(settings: Settings, **extra: str) -> AsyncIterator[tuple[ServerProcess, Api]]:
    """A real server on the test's database, and an Api client talking to it over HTTP."""
    server = await asyncio.to_thread(ServerProcess(server_env(settings, **extra)).start)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield server, Api(client)
    finally:
        await asyncio.to_thread(server.stop)


async def until_live(
    client: WsClient,
    op_id: str,
    poke: Callable[[int], Awaitable[Any]],
    interval: float = 0.25,
    timeout: float = 15.0,
) -> dict[str, Any]:
    """Poke (write something the subscription reports) until it reports; the first result.

    A subscription starts listening a moment after it is sent, and the protocol has no
    message saying when; poking until something arrives makes the tests wait exactly that.
    """
    async with asyncio.timeout(timeout):
        for attempt in itertools.count():
            await poke(attempt)
            try:
                return await client.next(op_id, timeout=interval)
            except TimeoutError:
                continue
    raise AssertionError("unreachable")
