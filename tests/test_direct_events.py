"""Live events and audit events executed once per selection and change (graph/shared.py),
through real servers over both WebSocket protocols: each subscriber still gets only what
its token may read and its filter asks for, in order, in its own selection; a revoked
token ends its subscription and nothing more arrives; a subscriber that stops reading is
bounded in bytes and told."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from modelbox.server.config import Settings
from tests.api import Api
from tests.live import running, until_live
from tests.test_live_events import log, stalled_socket
from tests.test_ws_access import _revoke, _token_id
from tests.ws import LEGACY_WS, TRANSPORT_WS, OperationError, WsClient

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
# The namespace is a root argument: subscribers of different namespaces share a selection.
IN_NS = """subscription($ns: String) { events(namespace: $ns) { id name payload } }"""
EVERYTHING = """subscription { events { id name payload } }"""
NAMES = """subscription($ns: String, $names: [String!]) {
  events(namespace: $ns, names: $names) { name wallclock } }"""
# `subject` is read with each subscriber's own access (its namespace's audit trail is the
# ADMIN's only): executed per subscriber.
WITH_SUBJECT = """subscription($ns: String) { events(namespace: $ns) { id subject { id
  ... on Experiment { name namespace { auditEvents(first: 1) { totalCount } } } } } }"""
AUDIT = """subscription($ns: String) { auditEvents(namespace: $ns) { objectId namespace } }"""


async def received(ws: WsClient, op: str, count: int, field: str = "events") -> list[Any]:
    return [(await ws.next(op))[field] for _ in range(count)]


@pytest.fixture(params=PROTOCOLS)
async def served(settings: Settings, request: Any) -> AsyncIterator[tuple[str, Api, str]]:
    """A real server, an Api client of it, and the WebSocket protocol the test speaks."""
    async with running(settings) as (server, api):
        yield server.url, api, request.param


async def until_answered(ws: WsClient, op: str, poke: Any) -> None:
    """Like `until_live`, for a subscription whose every answer may be an error."""
    async with asyncio.timeout(15):
        while True:
            await poke()
            try:
                await ws.message(op, 0.25)
                return
            except TimeoutError:
                continue


async def drain(ws: WsClient, op: str) -> None:
    """Read `op` until it is quiet (errors included): what is left of the probes."""
    while True:
        try:
            await ws.message(op, 0.5)
        except TimeoutError:
            return


async def logged_ids(api: Api, run: str, names: list[str], token: str) -> list[str]:
    events = [{"name": name, "payload": {"n": name}} for name in names]
    return [e["id"] for e in (await log(api, run, *events, token=token))["logEvents"]]


async def test_each_subscriber_gets_what_it_may_read_and_asked_for_in_order(
    served: tuple[str, Api, str],
) -> None:
    url, api, protocol = served
    first = (await api.create_experiment("vision", "first"))["id"]
    second = (await api.create_experiment("vision", "second"))["id"]
    other = (await api.create_experiment("nlp", "other"))["id"]
    vision_viewer = await api.token(("vision", "VIEWER"), name="vision-viewer")
    vision_admin = await api.token(("vision", "ADMIN"), name="vision-admin")
    vision_writer = await api.token(("vision", "WRITER"), name="vision-writer")
    nlp_viewer = await api.token(("nlp", "VIEWER"), name="nlp-viewer")
    nlp_writer = await api.token(("nlp", "WRITER"), name="nlp-writer")
    clients = {
        name: await WsClient(url, token=token, protocol=protocol).connect()
        for name, token in [
            ("a", vision_viewer),
            ("b", vision_viewer),
            ("nlp_same", nlp_viewer),
            ("nlp_all", nlp_viewer),
            ("names", vision_viewer),
            ("subject_admin", vision_admin),
            ("subject", vision_viewer),
        ]
    }
    a, b, nlp_same, nlp_all = (clients[n] for n in ("a", "b", "nlp_same", "nlp_all"))
    try:
        refused = await nlp_same.subscribe(IN_NS, {"ns": "vision"})
        with pytest.raises(OperationError) as error:
            await nlp_same.next(refused)
        assert error.value.codes == ["FORBIDDEN"]
        ops = {
            "a": await a.subscribe(IN_NS, {"ns": "vision"}),
            "b": await b.subscribe(IN_NS, {"ns": "vision"}),
            "nlp_same": await nlp_same.subscribe(IN_NS, {"ns": "nlp"}),
            "nlp_all": await nlp_all.subscribe(EVERYTHING),
            "names": await clients["names"].subscribe(NAMES, {"ns": "vision", "names": ["x"]}),
            "subject_admin": await clients["subject_admin"].subscribe(
                WITH_SUBJECT, {"ns": "vision"}
            ),
            "subject": await clients["subject"].subscribe(WITH_SUBJECT, {"ns": "vision"}),
        }
        assert ops["a"] == ops["b"]  # the same operation id: the same frames on both
        for name, ws in clients.items():
            run = other if name.startswith("nlp") else first
            probe = {"name": "x" if name == "names" else "probe"}
            await until_answered(ws, ops[name], lambda r=run, p=probe: log(api, r, p))
        for name, ws in clients.items():
            await drain(ws, ops[name])

        # Writers on two subjects of vision and one of nlp at once, 10 batches each.
        async def write(run: str, token: str, tag: str) -> list[str]:
            ids = []
            for n in range(10):
                ids += await logged_ids(api, run, [f"{tag}{n}", "x"], token)
            return ids

        one, two, nlp = await asyncio.gather(
            write(first, vision_writer, "one"),
            write(second, vision_writer, "two"),
            write(other, nlp_writer, "nlp"),
        )
        # A viewer may not write: nothing is logged, nothing is sent.
        refused_write = await api.post(
            "mutation($i: LogEventsInput!) { logEvents(input: $i) { id } }",
            {"i": {"subjectId": first, "events": [{"name": "viewer-wrote"}]}},
            token=vision_viewer,
        )
        assert [e["extensions"]["code"] for e in refused_write["errors"]] == ["FORBIDDEN"]

        for name in ("a", "b"):
            got = await received(clients[name], ops[name], 40)
            ids = [event["id"] for event in got]
            # Each subject's events in the order they were logged, both subjects whole.
            assert [i for i in ids if i in one] == one, name
            assert [i for i in ids if i in two] == two, name
            assert all(set(event) == {"id", "name", "payload"} for event in got)
            assert all(event["payload"] == {"n": event["name"]} for event in got)
        for name in ("nlp_same", "nlp_all"):
            got = await received(clients[name], ops[name], 20)
            assert [event["id"] for event in got] == nlp, name
        # Only the names asked for, in its own selection.
        got = await received(clients["names"], ops["names"], 20)
        assert {event["name"] for event in got} == {"x"}
        assert all(set(event) == {"name", "wallclock"} for event in got)
        got = await received(clients["subject_admin"], ops["subject_admin"], 40)
        assert [e["id"] for e in got if e["subject"]["id"] == first] == one
        assert {e["subject"]["name"] for e in got} == {"first", "second"}
        assert all(e["subject"]["namespace"]["auditEvents"]["totalCount"] > 0 for e in got)
        # The same selection, a viewer: refused the audit trail, each time.
        for _ in range(40):
            with pytest.raises(OperationError) as refused_read:
                await clients["subject"].next(ops["subject"])
            assert refused_read.value.codes == ["FORBIDDEN"]

        # Nothing more anywhere: no other namespace's event, no refused one.
        for name, ws in clients.items():
            await ws.nothing(ops[name], 0.5)
    finally:
        for ws in clients.values():
            await ws.close()


async def test_a_revoked_token_ends_its_subscription_while_the_others_go_on(
    served: tuple[str, Api, str],
) -> None:
    url, api, protocol = served
    run = (await api.create_experiment("vision", "revoked"))["id"]
    doomed = await api.token(("vision", "VIEWER"), name="doomed")
    kept = await api.token(("vision", "VIEWER"), name="kept")
    async with (
        WsClient(url, token=doomed, protocol=protocol) as gone,
        WsClient(url, token=kept, protocol=protocol) as stays,
    ):
        ops = [await ws.subscribe(IN_NS, {"ns": "vision"}) for ws in (gone, stays)]
        for ws, op in zip((gone, stays), ops, strict=True):
            await until_live(ws, op, lambda i: log(api, run, {"name": "probe"}))
        for ws, op in zip((gone, stays), ops, strict=True):
            await drain(ws, op)
        await log(api, run, {"name": "before"})
        for ws, op in zip((gone, stays), ops, strict=True):
            assert (await ws.next(op))["events"]["name"] == "before"

        await _revoke(api, await _token_id(api, doomed))
        await log(api, run, {"name": "after"})
        with pytest.raises(OperationError) as error:
            await gone.next(ops[0], timeout=5)
        assert error.value.codes == ["UNAUTHENTICATED"]
        assert (await stays.next(ops[1]))["events"]["name"] == "after"
        await log(api, run, {"name": "later"})
        assert (await stays.next(ops[1]))["events"]["name"] == "later"
        assert (await gone.message(ops[0]))["type"] == "complete"
        await gone.nothing(ops[0], 0.5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_subscriber_that_stops_reading_is_bounded_in_bytes_and_told(
    settings: Settings, protocol: str
) -> None:
    limits = {
        "MODELBOX_SUBSCRIBER_QUEUE_BYTES": str(1024 * 1024),
        "MODELBOX_MAX_EVENT_PAYLOAD_BYTES": "60000",
    }
    async with running(settings, **limits) as (server, api):
        run = (await api.create_experiment("vision", "stalled"))["id"]
        stalled_client = WsClient(
            server.url,
            protocol=protocol,
            sock=stalled_socket(server.url),
            max_queue=1,
            compression=None,
        )
        async with WsClient(server.url, protocol=protocol) as healthy, stalled_client as stalled:
            fast = await healthy.subscribe(IN_NS, {"ns": "vision"})
            slow = await stalled.subscribe(IN_NS, {"ns": "vision"})
            for ws, op in ((healthy, fast), (stalled, slow)):
                await until_live(ws, op, lambda i: log(api, run, {"name": "probe"}))
            await drain(healthy, fast)

            # 6 MB of events the stalled client does not read: far more than its sockets
            # and its 1 MiB of queue hold. The healthy one reads each batch in full.
            blob = secrets.token_urlsafe(37_500)  # 50 kB that compression cannot shrink
            logged: list[str] = []
            for _ in range(6):
                batch = await log(api, run, *[{"name": "big", "payload": {"b": blob}}] * 20)
                logged += [e["id"] for e in batch["logEvents"]]
                got = await received(healthy, fast, 20)
                assert [e["id"] for e in got] == logged[-20:]

            # Reading again, it gets what was sent and queued for it, in order, then the
            # error naming the byte bound; never silence.
            got_ids: list[str] = []
            with pytest.raises(OperationError) as dropped:
                while True:
                    event = (await stalled.next(slow, timeout=30))["events"]
                    if event["name"] == "big":
                        got_ids.append(event["id"])
            assert dropped.value.codes == ["SUBSCRIBER_TOO_SLOW"]
            assert "subscriber_queue_bytes" in dropped.value.errors[0]["message"]
            assert got_ids == logged[: len(got_ids)] and len(got_ids) < len(logged)


async def test_audit_events_reach_each_namespace_admin_only_theirs(
    served: tuple[str, Api, str],
) -> None:
    url, api, protocol = served
    lab = await api.token(("lab", "ADMIN"), name="lab-admin")
    ops_admin = await api.token(("ops", "ADMIN"), name="ops-admin")
    async with (
        WsClient(url, token=lab, protocol=protocol) as lab_ws,
        WsClient(url, token=ops_admin, protocol=protocol) as ops_ws,
    ):
        # The same text and operation id: one selection, whichever namespace it names.
        lab_op = await lab_ws.subscribe(AUDIT, {"ns": "lab"})
        ops_op = await ops_ws.subscribe(AUDIT, {})
        assert lab_op == ops_op
        await until_live(lab_ws, lab_op, lambda i: api.create_model("lab", f"probe-{i}"))
        await until_live(ops_ws, ops_op, lambda i: api.create_model("ops", f"probe-{i}"))
        await drain(lab_ws, lab_op)
        await drain(ops_ws, ops_op)

        made: dict[str, list[str]] = {"lab": [], "ops": []}
        for n in range(5):
            for namespace in ("lab", "ops"):
                model = await api.create_model(namespace, f"m{n}")
                made[namespace].append(model["id"])
        for ws, op, namespace in ((lab_ws, lab_op, "lab"), (ops_ws, ops_op, "ops")):
            got = await received(ws, op, 5, "auditEvents")
            assert got == [{"objectId": i, "namespace": namespace} for i in made[namespace]]
            await ws.nothing(op, 0.5)

        await _revoke(api, await _token_id(api, lab))
        await api.create_model("lab", "after")
        with pytest.raises(OperationError) as error:
            await lab_ws.next(lab_op, timeout=5)
        assert error.value.codes == ["UNAUTHENTICATED"]
        assert (await lab_ws.message(lab_op))["type"] == "complete"
        model = await api.create_model("ops", "after")
        assert (await ops_ws.next(ops_op))["auditEvents"]["objectId"] == model["id"]
        await lab_ws.nothing(lab_op, 0.5)
