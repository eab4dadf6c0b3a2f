"""What the benches that drive a real `modelbox serve` share: the server on a database the
bench started, an HTTP client with the admin token, and GraphQL over it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import ServerProcess  # noqa: E402

TOKEN = "mbx_bench-admin-token-of-32-characters"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    """The `data` of a request; a bench stops at the first error."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


@asynccontextmanager
async def serving(
    uri: str, database: str, connections: int = 100, timeout: float = 120.0
) -> AsyncIterator[tuple[ServerProcess, httpx.AsyncClient]]:
    """`python -m modelbox serve` (one worker) on `uri`, and a client of it; stopped after."""
    env = {
        "MODELBOX_MONGODB_URI": uri,
        "MODELBOX_DATABASE": database,
        "MODELBOX_ADMIN_TOKEN": TOKEN,
    }
    server = await asyncio.to_thread(ServerProcess(env).start)
    try:
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(
            base_url=server.url, headers=HEADERS, timeout=timeout, limits=limits
        ) as client:
            yield server, client
    finally:
        await asyncio.to_thread(server.stop)
