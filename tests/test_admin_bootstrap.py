"""The admin token at start-up, audit events by id, and what answers without a token."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo import MongoClient

from modelbox.server.config import Settings
from modelbox.server.web.app import create_app
from tests.api import Api
from tests.live import server_env
from tests.servers import ServerProcess


def test_a_short_admin_token_is_refused_at_start(settings: Settings) -> None:
    env = server_env(settings, MODELBOX_ADMIN_TOKEN="a" * 31)
    with pytest.raises(RuntimeError) as exited:
        ServerProcess(env).start()
    assert "MODELBOX_ADMIN_TOKEN" in str(exited.value)
    assert "32" in str(exited.value)


async def _start_together(settings: Settings, count: int) -> None:
    """`count` servers starting at once on the same database, then stopping."""
    apps = [create_app(settings) for _ in range(count)]
    async with contextlib.AsyncExitStack() as stack:
        await asyncio.gather(
            *(stack.enter_async_context(app.router.lifespan_context(app)) for app in apps)
        )


def _admin_tokens(settings: Settings) -> list[dict[str, object]]:
    assert settings.mongodb_uri is not None
    with MongoClient(settings.mongodb_uri) as client:
        return list(client[settings.database]["api_tokens"].find({}, {"roles": 1}))


async def test_servers_starting_together_on_an_empty_database_make_one_admin_token(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await _start_together(settings.with_(admin_token=None), 4)
    printed = capsys.readouterr().out.count("ModelBox admin token (shown once")
    assert printed == 1
    assert len(_admin_tokens(settings)) == 1


async def test_servers_starting_together_with_the_same_admin_token_all_start(
    settings: Settings,
) -> None:
    await _start_together(settings, 4)
    assert len(_admin_tokens(settings)) == 1


NODE = """query($id: ID!) { node(id: $id) { __typename ... on AuditEvent {
  id action objectType namespace } } }"""


async def test_node_resolves_audit_events_for_admins_of_their_namespace(api: Api) -> None:
    await api.create_model("vision", "resnet")
    await api.create_model("nlp", "bert")
    data = await api.ok(
        """{ namespace(name: "vision") { auditEvents(first: 1) { edges { node { id } } } } }"""
    )
    event_id = data["namespace"]["auditEvents"]["edges"][0]["node"]["id"]

    data = await api.ok(NODE, {"id": event_id})
    assert data["node"] == {
        "__typename": "AuditEvent",
        "id": event_id,
        "action": "CREATED",
        "objectType": "Model",
        "namespace": "vision",
    }
    vision_admin = await api.token(("vision", "ADMIN"))
    assert (await api.ok(NODE, {"id": event_id}, vision_admin))["node"]["id"] == event_id
    nodes = await api.ok(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [event_id]}, vision_admin
    )
    assert nodes["nodes"] == [{"id": event_id}]
    for weaker in (("vision", "WRITER"), ("nlp", "ADMIN")):
        token = await api.token(weaker)
        assert (await api.ok(NODE, {"id": event_id}, token)) == {"node": None}


INTROSPECT = "{ __schema { queryType { name } } }"
SDL = "{ _service { sdl } }"


@pytest.fixture
async def closed_schema(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings.with_(public_schema=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Api(client)


async def test_by_default_the_schema_answers_without_a_token(api: Api) -> None:
    assert (await api.ok(INTROSPECT, token=None))["__schema"]["queryType"]["name"] == "Query"
    assert "type Query" in (await api.ok(SDL, token=None))["_service"]["sdl"]
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_the_schema_can_be_closed_to_callers_without_a_token(closed_schema: Api) -> None:
    api = closed_schema
    assert await api.fails(INTROSPECT, token=None) == ["UNAUTHENTICATED"]
    assert await api.fails(SDL, token=None) == ["UNAUTHENTICATED"]
    assert await api.fails(INTROSPECT, token="mbx_not-a-token") == ["UNAUTHENTICATED"]
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 401
    assert "public_schema" in page.text
    # With a token, all of it answers as before.
    assert (await api.ok(INTROSPECT))["__schema"]["queryType"]["name"] == "Query"
    assert "type Query" in (await api.ok(SDL))["_service"]["sdl"]
