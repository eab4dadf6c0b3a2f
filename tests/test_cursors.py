"""Cursors are the server's own: a forged or altered one is BAD_USER_INPUT on every list.

A cursor handed out by one API process pages on in another that shares the database.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from bson import ObjectId, json_util

from modelbox.server.config import Settings
from modelbox.server.web.app import create_app
from tests.api import Api
from tests.test_paging_every_connection import _parents, _query, connection_fields
from tests.world import build_world


def old_style(value: object) -> str:
    """What a cursor looked like when the caller could choose its BSON types."""
    return base64.urlsafe_b64encode(json_util.dumps({"v": value}).encode()).decode()


FORGED = [
    old_style({"$regularExpression": {"pattern": "a", "options": ""}}),
    old_style({"$gt": ""}),
    old_style(ObjectId()),
    old_style("m1"),
    old_style(1),
    base64.urlsafe_b64encode(json.dumps({"v": [1, "x"], "s": "0" * 64}).encode()).decode(),
    "not base64 at all!",
    "",
    "A" * 5000,
]


async def test_forged_cursors_are_refused_on_every_connection(api: Api) -> None:
    world = await build_world(api)
    for parent, field, is_node in await connection_fields(api):
        variables = _parents(world, parent)[0]
        query = _query(parent, field, is_node)
        # A real cursor of this list, changed by one character, is as forged as any.
        first = await api.ok(query, {**variables, "after": None})
        real = next(iter(first.values()))
        real = next(iter(real.values())) if "totalCount" not in real else real
        forged = list(FORGED)
        if real["pageInfo"]["endCursor"]:
            cursor = real["pageInfo"]["endCursor"]
            forged.append(cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1])
        for cursor in forged:
            body = await api.post(query, {**variables, "after": cursor})
            codes = [e["extensions"]["code"] for e in body.get("errors", [])]
            assert codes == ["BAD_USER_INPUT"], (parent, field, cursor[:60], body)
            assert "after" in body["errors"][0]["message"]


@pytest.fixture
async def second_api(settings: Settings) -> AsyncIterator[Api]:
    """Another API process's app on the same database (its own Store, its own secret load)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://second.test") as client:
            yield Api(client)


NAMES = """query($after: String) { namespace(name: "alpha") {
  models(first: 1, after: $after) { edges { node { name } } pageInfo { endCursor } } } }"""


async def test_a_cursor_from_one_process_pages_on_in_another(api: Api, second_api: Api) -> None:
    for name in ("a", "b", "c"):
        await api.create_model("alpha", name)
    first = await api.ok(NAMES)
    cursor = first["namespace"]["models"]["pageInfo"]["endCursor"]
    nxt = await second_api.ok(NAMES, {"after": cursor})
    assert [e["node"]["name"] for e in nxt["namespace"]["models"]["edges"]] == ["b"]
    cursor = nxt["namespace"]["models"]["pageInfo"]["endCursor"]
    last = await api.ok(NAMES, {"after": cursor})
    assert [e["node"]["name"] for e in last["namespace"]["models"]["edges"]] == ["c"]


async def test_a_configured_secret_signs_and_another_refuses(settings: Settings) -> None:
    async def first_cursor(secret: str, after: str | None = None) -> dict[str, Any]:
        application = create_app(settings.with_(cursor_secret=secret))
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as client:
                api = Api(client)
                if after is None:
                    for name in ("a", "b"):
                        await api.create_model("alpha", name)
                return await api.post(NAMES, {"after": after})

    body = await first_cursor("one secret of the operators")
    cursor = body["data"]["namespace"]["models"]["pageInfo"]["endCursor"]
    again = await first_cursor("one secret of the operators", cursor)
    assert [e["node"]["name"] for e in again["data"]["namespace"]["models"]["edges"]] == ["b"]
    other = await first_cursor("another secret", cursor)
    assert [e["extensions"]["code"] for e in other["errors"]] == ["BAD_USER_INPUT"]
