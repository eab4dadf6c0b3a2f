"""Fixtures: one real MongoDB-wire server per test run, a fresh database per test.

The server is SecantusDB started the way `modelbox serve` starts it, or the
MongoDB at MODELBOX_TEST_MONGODB_URI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient
from starlette.applications import Starlette

from modelbox.server.config import Settings
from modelbox.server.embedded import EmbeddedDatabase
from modelbox.server.store import Store
from modelbox.server.web.app import create_app
from tests.api import ADMIN_TOKEN, Api
from tests.in_process import CommandCounter, listened


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("MODELBOX_TEST_MONGODB_URI")
    if external:
        yield external
        return
    data_dir: Path = tmp_path_factory.mktemp("secantus") / "db"
    with EmbeddedDatabase(data_dir) as database:
        yield database.uri


@pytest.fixture
def settings(mongodb_uri: str) -> Iterator[Settings]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield Settings(mongodb_uri=mongodb_uri, database=name, admin_token=ADMIN_TOKEN)
    with MongoClient(mongodb_uri) as client:
        client.drop_database(name)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """The store alone, opened on the test's database, for tests below the API."""
    assert settings.mongodb_uri is not None
    store = Store(settings.mongodb_uri, settings.database)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def counted(settings: Settings) -> AsyncIterator[tuple[Api, CommandCounter]]:
    """An in-process app whose database commands (the data's, not housekeeping) are counted."""
    counter = CommandCounter()
    async with listened(settings, counter) as api:
        yield api, counter


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(app: Starlette) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://modelbox.test") as client:
        yield Api(client)
