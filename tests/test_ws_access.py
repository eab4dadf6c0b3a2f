"""GraphQL over WebSocket: every operation type, and the token checked on each of them.

Both protocols (graphql-transport-ws and the legacy graphql-ws), through a real server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from modelbox.server.config import Settings
from tests.api import Api
from tests.live import running
from tests.servers import ServerProcess
from tests.ws import LEGACY_WS, TRANSPORT_WS, OperationError, WsClient

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
CHANGES = """subscription($ns: String!) { namespaceChanges(namespace: $ns) {
  type node { id } } }"""
WATCH = 'subscription { namespaceChanges(namespace: "vision") { type } }'
MINT = """mutation { createApiToken(input: {name: "minted",
  roles: [{namespace: "vision", role: VIEWER}]}) { token } }"""


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[tuple[ServerProcess, Api]]:
    async with running(settings) as pair:
        yield pair


async def _ask(ws: WsClient, query: str, variables: dict[str, object] | None = None) -> object:
    op = await ws.subscribe(query, variables)
    return await ws.next(op)


async def _refused(ws: WsClient, query: str) -> list[str | None]:
    op = await ws.subscribe(query)
    with pytest.raises(OperationError) as error:
        await ws.next(op)
    return error.value.codes


async def _all_refused(ws: WsClient, *queries: str) -> None:
    for query in queries:
        assert await _refused(ws, query) == ["UNAUTHENTICATED"], query


async def _token_id(api: Api, token: str) -> str:
    data = await api.ok("{ viewer { id } }", token=token)
    return str(data["viewer"]["id"])


async def _revoke(api: Api, token_id: str) -> None:
    await api.ok(
        "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }", {"id": token_id}
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_queries_and_mutations_run_over_websocket(
    server: tuple[ServerProcess, Api], protocol: str
) -> None:
    process, api = server
    async with WsClient(process.url, protocol=protocol) as ws:
        created = await _ask(
            ws,
            """mutation { createModel(input: {namespace: "vision", name: "resnet"}) {
                 id name } }""",
        )
        assert isinstance(created, dict) and created["createModel"]["name"] == "resnet"
        data = await _ask(ws, '{ namespace(name: "vision") { models { totalCount } } }')
        assert data == {"namespace": {"models": {"totalCount": 1}}}
        # Seen over HTTP too: the mutation was real.
        data = await api.ok('{ namespace(name: "vision") { model(name: "resnet") { id } } }')
        assert data["namespace"]["model"]["id"] == created["createModel"]["id"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_revoked_token_stops_working_on_an_open_socket_at_once(
    server: tuple[ServerProcess, Api], protocol: str
) -> None:
    process, api = server
    await api.create_model("vision", "resnet")
    admin = await api.token(("vision", "ADMIN"), name="vision-admin")
    async with WsClient(process.url, token=admin, protocol=protocol) as ws:
        # Working before: reads, mints tokens, watches.
        assert await _ask(ws, "{ viewer { name } }") == {"viewer": {"name": "vision-admin"}}
        minted = await _ask(ws, MINT)
        assert isinstance(minted, dict) and minted["createApiToken"]["token"]
        watching = await ws.subscribe(CHANGES, {"ns": "vision"})
        await ws.nothing(watching, 0.5)

        await _revoke(api, await _token_id(api, admin))
        started = time.monotonic()
        with pytest.raises(OperationError) as error:
            await ws.next(watching, timeout=5)
        assert error.value.codes == ["UNAUTHENTICATED"]
        assert time.monotonic() - started < 5

        # Every later operation on the same socket is refused, the mutation included.
        await _all_refused(
            ws, "{ viewer { name } }", MINT, '{ namespace(name: "vision") { name } }'
        )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_expired_token_ends_its_subscriptions_without_any_change(
    server: tuple[ServerProcess, Api], protocol: str
) -> None:
    process, api = server
    await api.create_model("vision", "resnet")
    expires = datetime.now(UTC) + timedelta(seconds=2)
    data = await api.ok(
        """mutation($at: DateTime!) { createApiToken(input: {name: "short",
             roles: [{namespace: "vision", role: ADMIN}], expiresAt: $at}) { token } }""",
        {"at": expires.isoformat()},
    )
    token = data["createApiToken"]["token"]
    async with WsClient(process.url, token=token, protocol=protocol) as ws:
        assert await _ask(ws, "{ viewer { name } }") == {"viewer": {"name": "short"}}
        watching = await ws.subscribe(CHANGES, {"ns": "vision"})
        # Nothing is written: the subscription must end on its own when the token expires.
        with pytest.raises(OperationError) as error:
            await ws.next(watching, timeout=10)
        assert error.value.codes == ["UNAUTHENTICATED"]
        ended = datetime.now(UTC)
        assert ended >= expires - timedelta(milliseconds=50)
        assert ended - expires < timedelta(seconds=3)
        assert await _refused(ws, "{ viewer { name } }") == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_without_a_valid_token_is_refused_per_operation(
    server: tuple[ServerProcess, Api], protocol: str
) -> None:
    process, _ = server
    for token in (None, "mbx_not-a-real-token"):
        async with WsClient(process.url, token=token, protocol=protocol) as ws:
            await _all_refused(ws, "{ viewer { name } }", MINT, WATCH)


async def test_revocation_reaches_sockets_on_another_process(settings: Settings) -> None:
    """Revoked through one process, refused at once on a socket held by another."""
    async with running(settings) as (_, api), running(settings) as (other, _):
        admin = await api.token(("vision", "ADMIN"), name="vision-admin")
        async with WsClient(other.url, token=admin) as ws:
            assert await _ask(ws, "{ viewer { name } }") == {"viewer": {"name": "vision-admin"}}
            await _revoke(api, await _token_id(api, admin))
            async with asyncio.timeout(5):
                while True:
                    op = await ws.subscribe("{ viewer { name } }")
                    try:
                        await ws.next(op)
                    except OperationError as error:
                        assert error.codes == ["UNAUTHENTICATED"]
                        break
                    await asyncio.sleep(0.05)
