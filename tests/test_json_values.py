"""Bodies a valid token sends are refused unparsed when they hold too many JSON values.

Parsing costs the event loop a time set by the values a body makes, not its bytes: 8 MiB of
`[]` would hold every other request for most of a second. Over real sockets, from a writer
and a viewer: such bodies and WebSocket messages (both protocols) are refused naming
`max_json_values` or `max_json_containers`, store nothing, and a small query sent meanwhile
is answered; the largest legitimate shapes (100,000 points with every one non-finite;
brackets, commas and escaped quotes inside tensor strings and event payloads) are served.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import orjson
import pytest
import websockets

from modelbox.server.config import Settings
from modelbox.server.web.http_limits import bare_structure, outside_strings
from tests.api import ADMIN_TOKEN
from tests.live import running
from tests.metrics import LOG as LOG_METRICS
from tests.metrics import series_of
from tests.ws import LEGACY_WS, TRANSPORT_WS, closed_with, ws_url

LIMIT = Settings().max_json_values
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
LOG_EVENTS = "mutation($input: LogEventsInput!) { logEvents(input: $input) { id payload } }"
EVENTS = """query($id: ID!) { node(id: $id) { ... on Experiment { events { totalCount } } } }"""
STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _nodes_of(item: bytes, size: int) -> bytes:
    """A `nodes(ids:)` request of about `size` bytes whose list repeats `item`."""
    head = b'{"query":"' + NODES.encode() + b'","variables":{"ids":['
    return head + b",".join([item] * ((size - len(head)) // (len(item) + 1))) + b"]}}"


def _headers(token: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


def _refusal(response: httpx.Response, name: str, limit: int) -> None:
    assert response.status_code == 413, response.text[:300]
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "limit": limit}, error
    assert name in error["message"], error


def test_the_count_skips_strings_and_their_escapes() -> None:
    tricky = ["[,{", '\\"[', "\\", '"', "", "é[", "\\\\", '\\\\"', "a,b"]
    values: list[Any] = [
        {key: [value, {"k": [value, 1]}, []] for key in tricky for value in tricky},
        [tricky, [[]], {}, 2.5, None, True],
    ]
    for value in values:
        for body in (orjson.dumps(value), json.dumps(value, indent=2).encode()):
            bare = STRING.sub(b"", body)
            counted = outside_strings(bare_structure(body))
            assert counted == bytes(c for c in bare if c in b"[{,:")
    assert outside_strings(bare_structure(b'{"a":"[[[,,,"}')) == b"{:"
    assert outside_strings(bare_structure(b'["\\"[", [], {"\\\\":","}]')) == b"[,[,{:"


async def test_bodies_with_too_many_values_are_refused_unparsed_and_store_nothing(
    settings: Settings,
) -> None:
    async with running(settings) as (server, api):
        run = await api.create_experiment("vision", "run")
        writer = await api.token(("vision", "WRITER"), name="writer")
        viewer = await api.token(("vision", "VIEWER"), name="viewer")
        lists = _nodes_of(b"[]", settings.max_body_bytes - 100)
        # Too many strings holding [ to be worth splitting off: refused by their number.
        strings = _nodes_of(b'"["', settings.max_body_bytes - 100)
        points = orjson.dumps(
            {
                "query": LOG_METRICS,
                "variables": {
                    "input": {
                        "subjectId": run["id"],
                        "series": [
                            {"key": "loss", "steps": [0] * 600_000, "values": [0] * 600_000}
                        ],
                    }
                },
            }
        )
        events = orjson.dumps(
            {
                "query": LOG_EVENTS,
                "variables": {
                    "input": {
                        "subjectId": run["id"],
                        "events": [{"name": "e", "payload": {"x": [{}] * 250}}] * 1000,
                    }
                },
            }
        )
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as other:

            async def small() -> dict[str, Any]:
                await asyncio.sleep(0.02)  # the big one is on its way first
                response = await other.post(
                    "/graphql", json={"query": "{ viewer { name } }"}, headers=_headers(viewer)
                )
                return response.json()

            for token in (writer, viewer):
                for body, name, limit in (
                    (lists, "max_json_values", settings.max_json_values),
                    (strings, "max_json_values", settings.max_json_values),
                    (points, "max_json_values", settings.max_json_values),
                    (events, "max_json_containers", settings.max_json_containers),
                ):
                    assert len(body) <= settings.max_body_bytes
                    refused, answered = await asyncio.gather(
                        api.client.post("/graphql", content=body, headers=_headers(token)),
                        small(),
                    )
                    _refusal(refused, name, limit)
                    assert answered == {"data": {"viewer": {"name": "viewer"}}}
        assert await series_of(api, run["id"]) == []
        stored = await api.ok(EVENTS, {"id": run["id"]})
        assert stored["node"]["events"]["totalCount"] == 0


async def test_get_variables_are_held_to_the_same_count(settings: Settings) -> None:
    async with running(settings, MODELBOX_MAX_JSON_VALUES="1000") as (_, api):
        variables = orjson.dumps({"ids": [[]] * 1000}).decode()
        response = await api.client.get(
            "/graphql",
            params={"query": NODES, "variables": variables},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 413, response.text
        (error,) = response.json()["errors"]
        assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "limit": 1000}, error
        assert "max_json_values" in error["message"], error
        # Under it, served as ever.
        served = await api.client.get(
            "/graphql",
            params={"query": "{ viewer { name } }", "variables": '{"pad": [' + "1, " * 400 + "1]}"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert served.json() == {"data": {"viewer": {"name": "bootstrap-admin"}}}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websocket_messages_with_too_many_values_close_the_socket_unparsed(
    settings: Settings, protocol: str
) -> None:
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    ids = b'{"query":"' + NODES.encode() + b'","variables":{"ids":[' + b"[]," * 600_000 + b"[]]}}"
    hostile = b'{"id":"1","type":"' + start.encode() + b'","payload":' + ids + b"}"
    async with running(settings) as (server, api):
        writer = await api.token(("vision", "WRITER"), name="writer")
        viewer = await api.token(("vision", "VIEWER"), name="viewer")
        for token in (writer, viewer):
            async with websockets.connect(
                ws_url(server.url), subprotocols=[protocol], max_size=None
            ) as socket_:
                init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                await socket_.send(orjson.dumps(init).decode())
                assert orjson.loads(await socket_.recv())["type"] == "connection_ack"
                # Strings full of brackets and commas are not counted: this one is served.
                fine = {"query": "{ viewer { name } }", "variables": {"pad": "[[,]]" * 400_000}}
                await socket_.send(
                    orjson.dumps({"id": "0", "type": start, "payload": fine}).decode()
                )
                answer = orjson.loads(await socket_.recv())
                assert answer["payload"]["data"]["viewer"]["name"] in ("writer", "viewer")

                reason = await closed_with(socket_, hostile.decode())
                assert "max_json_values" in reason and str(LIMIT) in reason, reason
            # The server goes on serving everyone.
            assert (await api.ok("{ viewer { name } }", token=token))["viewer"]["name"]


async def test_the_largest_legitimate_requests_are_still_served(settings: Settings) -> None:
    async with running(settings) as (_, api):
        run = await api.create_experiment("vision", "run")
        writer = await api.token(("vision", "WRITER"), name="writer")
        steps = list(range(100_000))
        # Every point non-finite: about 600,000 values, the most a logMetrics may carry.
        worst = {
            "key": "loss",
            "steps": steps,
            "wallclocks": [1.7e9 + s / 10 for s in steps],
            "values": [0.0] * len(steps),
            "nonFinite": [{"index": s, "value": "NAN"} for s in steps],
        }
        # Tensor strings: 1,200,000 commas and brackets, all inside strings.
        tensor = orjson.dumps([[0] * 29, [0] * 29]).decode()
        tensors = {"key": "t", "steps": steps[:20_000], "tensors": [tensor] * 20_000}
        for series in (worst, tensors):
            body = orjson.dumps(
                {
                    "query": LOG_METRICS,
                    "variables": {"input": {"subjectId": run["id"], "series": [series]}},
                }
            )
            assert len(body) > LIMIT  # large enough to be counted
            response = await api.client.post("/graphql", content=body, headers=_headers(writer))
            assert response.json()["data"]["logMetrics"]["accepted"] == len(series["steps"])

        # Event payloads whose strings hold brackets, commas and escaped quotes.
        payload = {"text": '[{\\",' * 700, "nested": {"a": [1, [2, {"b": "]}"}]]}}
        events = [{"name": f"e{i}", "payload": payload} for i in range(1000)]
        body = orjson.dumps(
            {
                "query": LOG_EVENTS,
                "variables": {"input": {"subjectId": run["id"], "events": events}},
            }
        )
        assert len(body) > LIMIT
        response = await api.client.post("/graphql", content=body, headers=_headers(writer))
        logged = response.json()["data"]["logEvents"]
        assert len(logged) == 1000 and logged[0]["payload"] == payload
        assert [s["count"] for s in await series_of(api, run["id"])] == [100_000, 20_000]
