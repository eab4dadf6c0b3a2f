"""A real `modelbox serve` for the artifact tests (one per test module), and clients on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pymongo import MongoClient

from tests.api import ADMIN_TOKEN, Api
from tests.artifacts.helpers import (
    AGENT,
    LIMIT,
    Served,
)
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def served(mongodb_uri: str) -> Iterator[Served]:
    name = f"test_artifacts_{uuid.uuid4().hex[:8]}"
    env = {
        "MODELBOX_MONGODB_URI": mongodb_uri,
        "MODELBOX_DATABASE": name,
        "MODELBOX_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELBOX_MAX_ARTIFACT_BYTES": str(LIMIT),
    }
    with MongoClient(mongodb_uri) as client, ServerProcess(env) as server:
        yield Served(server, client[name])
        client.drop_database(name)


@pytest.fixture
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=served.server.url, timeout=60, headers={"User-Agent": AGENT}
    ) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> Api:
    return Api(http)
