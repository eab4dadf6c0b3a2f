"""Live events and audit events through real servers: across processes, scoped, never stalled."""

from __future__ import annotations

import asyncio
import secrets
import socket
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from modelbox.server.config import Settings
from modelbox.server.embedded import EmbeddedDatabase
from tests.api import Api
from tests.live import running, until_live
from tests.ws import LEGACY_WS, TRANSPORT_WS, OperationError, WsClient

EVENTS = """subscription($subject: ID, $ns: String, $names: [String!]) {
  events(subjectId: $subject, namespace: $ns, names: $names) {
    id name source sincePrevious payload subject { id } } }"""

AUDIT = """subscription($ns: String) { auditEvents(namespace: $ns) {
  action objectType objectId actor namespace } }"""

LOG = """mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }"""


async def log(api: Api, subject_id: str, *events: dict[str, Any], token: str | None = None) -> Any:
    variables = {"input": {"subjectId": subject_id, "events": list(events)}}
    if token is None:
        return await api.ok(LOG, variables)
    return await api.ok(LOG, variables, token=token)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_an_event_logged_through_one_server_reaches_a_subscriber_of_another(
    settings: Settings, protocol: str
) -> None:
    async with running(settings) as (_, api), running(settings) as (reader, _):
        run = await api.create_experiment("vision", "run")
        async with WsClient(reader.url, protocol=protocol) as ws:
            op = await ws.subscribe(EVENTS, {"subject": run["id"], "names": ["epoch_ended"]})
            await until_live(ws, op, lambda i: log(api, run["id"], {"name": "epoch_ended"}))
            await log(
                api,
                run["id"],
                {"name": "epoch_started", "source": "trainer"},
                {"name": "epoch_ended", "source": "trainer", "payload": {"loss": 0.5}},
            )
            event = (await ws.next(op))["events"]
            assert event["name"] == "epoch_ended"
            assert event["source"] == "trainer"
            assert event["payload"] == {"loss": 0.5}
            assert event["subject"] == {"id": run["id"]}
            assert event["sincePrevious"] is not None and event["sincePrevious"] >= 0
            await ws.nothing(op)  # epoch_started was not asked for


async def test_a_subscriber_sees_only_namespaces_its_token_reads(settings: Settings) -> None:
    async with running(settings) as (server, api):
        vision = await api.create_experiment("vision", "run")
        nlp = await api.create_experiment("nlp", "run")
        token = await api.token(("nlp", "VIEWER"))
        async with WsClient(server.url, token=token) as ws:
            refused = await ws.subscribe(EVENTS, {"ns": "vision"})
            with pytest.raises(OperationError) as error:
                await ws.next(refused)
            assert error.value.codes == ["FORBIDDEN"]
            hidden = await ws.subscribe(EVENTS, {"subject": vision["id"]})
            with pytest.raises(OperationError) as error:
                await ws.next(hidden)
            assert error.value.codes == ["NOT_FOUND"]

            # Everything it may read: nlp's events arrive, vision's never do.
            everything = await ws.subscribe(EVENTS, {})
            await until_live(ws, everything, lambda i: log(api, nlp["id"], {"name": "probe"}))
            await log(api, vision["id"], {"name": "secret"})
            await log(api, nlp["id"], {"name": "visible"})
            names = []
            while "visible" not in names:
                names.append((await ws.next(everything))["events"]["name"])
            assert "secret" not in names


async def test_audit_events_live_for_admins_only(settings: Settings) -> None:
    async with running(settings) as (server, api):
        lab_admin = await api.token(("lab", "ADMIN"))
        writer = await api.token(("lab", "WRITER"))
        async with WsClient(server.url, token=writer) as ws:
            op = await ws.subscribe(AUDIT, {"ns": "lab"})
            with pytest.raises(OperationError) as error:
                await ws.next(op)
            assert error.value.codes == ["FORBIDDEN"]
            op = await ws.subscribe(AUDIT, {})
            with pytest.raises(OperationError) as error:
                await ws.next(op)
            assert error.value.codes == ["FORBIDDEN"]
        async with WsClient(server.url, token=lab_admin) as ws:
            op = await ws.subscribe(AUDIT, {})
            await until_live(ws, op, lambda i: api.create_model("lab", f"probe-{i}"))
            await api.create_model("ops", "elsewhere")
            model = await api.create_model("lab", "resnet")
            while True:
                audit = (await ws.next(op))["auditEvents"]
                assert audit["namespace"] == "lab"
                if audit["objectId"] == model["id"]:
                    break
            assert audit["action"] == "CREATED"
            assert audit["objectType"] == "Model"
            assert audit["actor"] == "bootstrap-admin"


def stalled_socket(url: str) -> socket.socket:
    """A connected socket that buffers little, so that a client not reading backs up fast."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return sock


async def test_a_stalled_subscriber_is_dropped_with_an_error_while_others_keep_up(
    settings: Settings,
) -> None:
    limits = {"MODELBOX_SUBSCRIBER_QUEUE_SIZE": "40", "MODELBOX_MAX_EVENT_PAYLOAD_BYTES": "60000"}
    async with running(settings, **limits) as (server, api):
        run = await api.create_experiment("vision", "run")
        healthy = await WsClient(server.url).connect()
        stalled = await WsClient(server.url, sock=stalled_socket(server.url), max_queue=1).connect()
        try:
            fast = await healthy.subscribe(EVENTS, {"subject": run["id"]})
            slow = await stalled.subscribe(EVENTS, {"subject": run["id"]})
            await until_live(healthy, fast, lambda i: log(api, run["id"], {"name": "probe"}))
            await until_live(stalled, slow, lambda i: log(api, run["id"], {"name": "probe"}))

            # The stalled client stops reading while 15 MB of events go out.
            blob = secrets.token_urlsafe(37_500)  # 50 kB that WebSocket compression cannot shrink
            received: list[str] = []
            logged: list[str] = []
            for _ in range(15):
                events = [{"name": "big", "payload": {"blob": blob}}] * 20
                data = await log(api, run["id"], *events)
                logged += [e["id"] for e in data["logEvents"]]
                # The healthy one reads each batch in full before the next is logged.
                while len(received) < len(logged):
                    event = (await healthy.next(fast))["events"]
                    if event["name"] == "big":
                        received.append(event["id"])
            assert received == logged

            # When it reads again it gets what was queued for it, then the error; not silence.
            with pytest.raises(OperationError) as dropped:
                while True:
                    await stalled.next(slow, timeout=30)
            assert dropped.value.codes == ["SUBSCRIBER_TOO_SLOW"]
            assert "subscriber_queue_size" in dropped.value.errors[0]["message"]
        finally:
            await healthy.close()
            await stalled.close()


async def test_watching_survives_a_database_restart_or_says_it_cannot(
    settings: Settings, tmp_path: Path
) -> None:
    database = EmbeddedDatabase(tmp_path / "db").start()
    try:
        own = settings.with_(mongodb_uri=database.uri)
        async with running(own) as (server, api):
            run = await api.create_experiment("vision", "run")
            async with WsClient(server.url) as ws:
                op = await ws.subscribe(EVENTS, {"subject": run["id"]})
                await until_live(ws, op, lambda i: log(api, run["id"], {"name": "probe"}))
                await asyncio.to_thread(database.stop)
                await asyncio.to_thread(database.start)
                for _ in range(60):  # the server reconnects within its selection timeout
                    try:
                        await log(api, run["id"], {"name": "after-restart"})
                        break
                    except AssertionError:
                        await asyncio.sleep(0.5)
                try:
                    while True:
                        event = (await ws.next(op, timeout=60))["events"]
                        if event["name"] == "after-restart":
                            break  # resumed from the resume token
                except OperationError as interrupted:
                    assert interrupted.codes == ["LIVE_UPDATES_INTERRUPTED"]
    finally:
        database.stop()


async def test_subscribers_are_told_when_watching_cannot_go_on(settings: Settings) -> None:
    async with running(settings) as (server, api):
        run = await api.create_experiment("vision", "run")
        async with WsClient(server.url) as ws:
            op = await ws.subscribe(EVENTS, {"subject": run["id"]})
            await until_live(ws, op, lambda i: log(api, run["id"], {"name": "probe"}))
            # A dropped database ends its change stream for good: no resume token helps.
            assert settings.mongodb_uri is not None
            with MongoClient(settings.mongodb_uri) as client:
                client.drop_database(settings.database)
            with pytest.raises(OperationError) as interrupted:
                while True:
                    await ws.next(op, timeout=30)
            assert interrupted.value.codes == ["LIVE_UPDATES_INTERRUPTED"]
