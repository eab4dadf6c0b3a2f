"""Bad input, through the public API: a clear BAD_USER_INPUT that changes nothing, never a 500.

Every case here was once an INTERNAL_SERVER_ERROR (or a plain-text 500, or an unhandled
exception on a WebSocket).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import websockets

from modelbox.server.config import Settings
from tests.api import Api
from tests.live import running
from tests.world import build_world
from tests.ws import LEGACY_WS, TRANSPORT_WS, WsClient

OVERFLOW = "0001-01-01T00:00:00+14:00"  # before year 1 once in UTC
AUDIT_COUNT = "{ auditEvents { totalCount } }"
TOKEN = """mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }"""
LOG = """mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }"""
EVENTS = """query($id: ID!, $filter: EventFilter) { node(id: $id) {
  ... on Experiment { events(filter: $filter) { totalCount edges { node { name } } } } } }"""
AUDIT = """query($filter: AuditEventFilter) { auditEvents(filter: $filter) { totalCount } }"""


async def audit_count(api: Api) -> int:
    return (await api.ok(AUDIT_COUNT))["auditEvents"]["totalCount"]


async def refused(api: Api, query: str, variables: dict[str, Any], *words: str) -> None:
    """The request fails with BAD_USER_INPUT only, and its message names `words`."""
    body = await api.post(query, variables)
    errors = body.get("errors")
    assert errors, body
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], errors
    for word in words:
        assert word in errors[0]["message"], errors


@pytest.mark.parametrize("expires", ["2030-01-01T00:00:00", OVERFLOW, "9999-12-31T23:00:00-05:00"])
async def test_a_token_expiry_must_be_an_aware_representable_time(api: Api, expires: str) -> None:
    before = await audit_count(api)
    variables = {
        "input": {
            "name": "ci",
            "roles": [{"namespace": "a", "role": "VIEWER"}],
            "expiresAt": expires,
        }
    }
    await refused(api, TOKEN, variables, "DateTime")
    assert await audit_count(api) == before


async def test_event_wallclocks_and_time_filters_refuse_overflowing_times(api: Api) -> None:
    run = await api.create_experiment("vision", "run")
    bad = {"input": {"subjectId": run["id"], "events": [{"name": "e", "wallclock": OVERFLOW}]}}
    await refused(api, LOG, bad, "DateTime")
    await refused(api, EVENTS, {"id": run["id"], "filter": {"since": OVERFLOW}}, "DateTime")
    await refused(api, AUDIT, {"filter": {"until": OVERFLOW}}, "DateTime")
    # In a literal rather than a variable, too.
    await refused(api, f'{{ auditEvents(filter: {{since: "{OVERFLOW}"}}) {{ totalCount }} }}', {})
    assert (await api.ok(EVENTS, {"id": run["id"]}))["node"]["events"]["totalCount"] == 0


async def test_event_time_filters_compare_times_whatever_the_years(api: Api) -> None:
    run = await api.create_experiment("vision", "run")
    events = [{"name": "e", "wallclock": "2026-01-01T00:00:00Z"}]
    await api.ok(LOG, {"input": {"subjectId": run["id"], "events": events}})
    for window, found in [
        ({"until": "2500-01-01T00:00:00Z"}, 1),
        ({"since": "1900-01-01T00:00:00Z"}, 1),
        ({"since": "1900-01-01T00:00:00Z", "until": "9999-01-01T00:00:00Z"}, 1),
        ({"since": "2500-01-01T00:00:00Z"}, 0),
        ({"until": "1900-01-01T00:00:00Z"}, 0),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00.001Z"}, 1),
        ({"since": "2026-01-01T01:00:00+01:00", "until": "2026-01-01T00:00:00.001Z"}, 1),
        ({"until": "2500-01-01"}, 1),  # a bare date is that day, midnight UTC
        ({"until": "2026-01-01"}, 0),
    ]:
        data = await api.ok(EVENTS, {"id": run["id"], "filter": window})
        assert data["node"]["events"]["totalCount"] == found, window
        assert len(data["node"]["events"]["edges"]) == found, window
    audit = await api.ok(AUDIT, {"filter": {"until": "2500-01-01T00:00:00Z"}})
    assert audit["auditEvents"]["totalCount"] >= 1
    await refused(api, EVENTS, {"id": run["id"], "filter": {"until": "2026-01-01T00:00"}}, "zone")


DEEP: Any = 1
for _ in range(70):
    DEEP = [DEEP]
NASTY_JSON = [
    {"a\u0000b": 1},
    {"nested": [{"ok": {"k\u0000": True}}]},
    {"big": 2**63},
    {"big": [1, 2, 2**64 - 1]},
    {"deep": DEEP},
]


@pytest.mark.parametrize("value", NASTY_JSON, ids=["nul", "nested-nul", "2^63", "2^64-1", "deep"])
async def test_json_the_database_cannot_store_is_refused_in_every_json_field(
    api: Api, value: Any
) -> None:
    model = await api.create_model("vision", "m")
    run = await api.create_experiment("vision", "run")
    before = await audit_count(api)
    attempts: list[tuple[str, dict[str, Any]]] = [
        (
            "mutation($input: CreateModelInput!) { createModel(input: $input) { id } }",
            {"input": {"namespace": "vision", "name": "m2", "metadata": value}},
        ),
        (
            "mutation($input: UpdateModelInput!) { updateModel(input: $input) { id } }",
            {"input": {"id": model["id"], "metadata": value}},
        ),
        (
            "mutation($input: CreateExperimentInput!) { createExperiment(input: $input) { id } }",
            {"input": {"namespace": "vision", "name": "r2", "hyperparameters": value}},
        ),
        (
            "mutation($input: UpdateExperimentInput!) { updateExperiment(input: $input) { id } }",
            {"input": {"id": run["id"], "metadata": value}},
        ),
        (LOG, {"input": {"subjectId": run["id"], "events": [{"name": "e", "payload": value}]}}),
    ]
    for query, variables in attempts:
        await refused(api, query, variables, "JSON")
    assert await audit_count(api) == before
    data = await api.ok(EVENTS, {"id": run["id"]})
    assert data["node"]["events"]["totalCount"] == 0


async def test_json_in_a_literal_is_checked_like_in_a_variable(api: Api) -> None:
    before = await audit_count(api)
    for number in (2**63, -(2**63) - 1, 10**30):
        await refused(
            api,
            f'mutation {{ createModel(input: {{namespace: "vision", name: "m", '
            f"metadata: {{big: [1, {number}]}}}}) {{ id }} }}",
            {},
            "JSON",
        )
    assert await audit_count(api) == before


async def test_json_numbers_beyond_64_bits_in_variables_are_read_as_floats(api: Api) -> None:
    # The JSON parser reads integers past 64 bits as floats, as JavaScript does.
    for number in (-(2**63) - 1, 10**30):
        model = await api.ok(
            "mutation($input: CreateModelInput!) { createModel(input: $input) { metadata } }",
            {"input": {"namespace": "vision", "name": f"m{number % 97}", "metadata": [number]}},
        )
        assert model["createModel"]["metadata"] == [float(number)]


ENTITIES = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Model { name } } }"""


@pytest.mark.parametrize(
    "representation",
    [
        {"id": "x"},
        {"__typename": "NoSuchType", "id": "x"},
        {"__typename": "Model"},
        {"__typename": "Model", "id": 5},
        {"__typename": "Model", "id": ["a"]},
        {"__typename": "Namespace", "name": {"$gt": ""}},
        {"__typename": "Query", "id": "x"},
        "just a string",
        7,
    ],
)
async def test_malformed_entity_representations_are_the_callers_error_and_not_logged(
    api: Api, representation: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await api.create_model("vision", "m")
    with caplog.at_level(logging.ERROR):
        for token in ("mbx_test-admin-token-for-the-suite-only", None):
            body = await api.post(ENTITIES, {"reps": [representation] * 50}, token=token)
            codes = {e["extensions"]["code"] for e in body["errors"]}
            assert codes <= {"BAD_USER_INPUT", "UNAUTHENTICATED"}, body["errors"][:2]
            assert len(body["errors"]) <= 1, "one error names the bad representation"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_huge_range_header_is_answered_not_crashed(api: Api) -> None:
    run = await api.create_experiment("vision", "run")
    created = await api.ok(
        """mutation($input: CreateArtifactInput!) {
             createArtifact(input: $input) { id uploadUrl } }""",
        {"input": {"subjectId": run["id"], "name": "a.bin"}},
    )
    urls = created["createArtifact"]
    auth = {"Authorization": "Bearer mbx_test-admin-token-for-the-suite-only"}
    put = await api.client.put(urls["uploadUrl"], content=b"x" * 100, headers=auth)
    assert put.status_code < 300, put.text
    found = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Artifact { downloadUrl } } }", {"id": urls["id"]}
    )
    download = found["node"]["downloadUrl"]
    for header in ("bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000):
        response = await api.client.get(download, headers={**auth, "Range": header})
        assert response.status_code in (200, 206, 400, 416), response.text[:200]
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/json")
            assert "range" in response.text.lower()
    # The suffix range asks for more than there is: the whole file, by RFC 9110.
    response = await api.client.get(download, headers={**auth, "Range": "bytes=-500"})
    assert response.status_code == 206 and response.content == b"x" * 100


MALFORMED_PAYLOADS: list[Any] = [
    {"query": None},
    {"query": 7},
    {"query": ["{ viewer { name } }"]},
    {"query": "{ viewer { name } }", "variables": [1]},
    [1, 2],
    "a string",
    None,
]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_malformed_websocket_messages_get_a_protocol_answer(
    settings: Settings, protocol: str
) -> None:
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    messages: list[Any] = [{"id": "1", "type": start, "payload": p} for p in MALFORMED_PAYLOADS]
    messages += [[1], "text", {"type": 5}, {"type": start, "id": 1, "payload": {"query": "{ a }"}}]
    async with running(settings) as (server, _):
        for message in messages:
            async with WsClient(server.url, protocol=protocol) as ws:
                assert ws.socket is not None
                await ws.socket.send(json.dumps(message))
                try:
                    answer = await ws.message("1", timeout=10)
                except websockets.ConnectionClosed:
                    answer = {}
                if answer:
                    # graphql-ws answers the operation with an error naming the problem.
                    assert answer["type"] == "error", (message, answer)
                    assert answer["payload"]["message"], answer
                else:
                    # graphql-transport-ws closes with 4400 and the reason.
                    assert ws.socket.close_code == 4400, (message, ws.socket.close_code)
                    assert ws.socket.close_reason, "the close says why"
        # The server still accepts connections after all that.
        async with WsClient(server.url, protocol=protocol):
            pass
        output = server.output
    assert "Traceback" not in output and "Task exception" not in output, output[-3000:]


async def test_an_update_cannot_clear_a_field_every_object_has(api: Api) -> None:
    # Found by tests/test_fuzz.py: a null status was stored, and reading it failed.
    run = await api.create_experiment("vision", "run")
    before = await audit_count(api)
    await refused(
        api,
        """mutation($input: UpdateExperimentInput!) {
             updateExperiment(input: $input) { status } }""",
        {"input": {"id": run["id"], "status": None}},
        "status",
    )
    assert await audit_count(api) == before
    read = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Experiment { status } } }", {"id": run["id"]}
    )
    assert read["node"]["status"] == "RUNNING"


async def test_a_policy_update_cannot_clear_its_name(api: Api) -> None:
    # Found by tests/test_fuzz.py: a null name reached the name check as None.
    world = await build_world(api)
    await refused(
        api,
        "mutation($input: UpdatePolicyInput!) { updatePolicy(input: $input) { id } }",
        {"input": {"id": world.ids["Policy"][0], "name": None}},
        "name",
    )
