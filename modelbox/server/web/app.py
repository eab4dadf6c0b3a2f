"""The Starlette application: routes, lifespan, health, limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.types.unset import UNSET, UnsetType

from modelbox.server.access import SYSTEM_ACTOR, Actor
from modelbox.server.config import Settings
from modelbox.server.errors import Unauthenticated
from modelbox.server.graph.schema import make_schema
from modelbox.server.graph.shared import encode_message
from modelbox.server.resolvers.auth import sign_in
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.policies.engine import PolicyEngine
from modelbox.server.store import CommandListener, Store
from modelbox.server.web.artifacts_http import artifact_routes
from modelbox.server.web.dashboard import dashboard_routes, graphiql_page
from modelbox.server.web.http_limits import (
    CONTEXT_STATE,
    BodyRefused,
    BodySizeLimit,
    SizedWebSocket,
    error_json,
    refuse,
    too_many_values,
)
from modelbox.server.web.ws_messages import CheckedLegacyWSHandler, CheckedTransportWSHandler

log = logging.getLogger("modelbox")
SHUTDOWN_SECONDS = 10


def parse_bearer(header: object) -> str | None:
    """The token in an `Authorization: Bearer <token>` value, if that is what it is."""
    if not isinstance(header, str):
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def bearer_token(connection: HTTPConnection) -> str | None:
    return parse_bearer(connection.headers.get("authorization", ""))


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app, with our context and orjson on the way out."""

    graphql_transport_ws_handler_class = CheckedTransportWSHandler
    graphql_ws_handler_class = CheckedLegacyWSHandler
    websocket_adapter_class = SizedWebSocket

    def __init__(self, store: Store, settings: Settings, policies: PolicyEngine) -> None:
        super().__init__(
            make_schema(settings),
            allowed_origins=settings.cors_origins,
            multipart_uploads_enabled=False,
        )
        self.store = store
        self.settings = settings
        self.policies = policies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except BodyRefused as refused:  # by parse_json, before anything was sent
            await refuse(send, refused.error)

    def parse_json(self, data: str | bytes) -> Any:
        # POST bodies and GET variables; WebSocket messages are checked by SizedWebSocket.
        refusal = too_many_values(data, self.settings)
        if refusal is not None:
            raise BodyRefused(refusal)
        return super().parse_json(data)

    async def get_context(self, request: Any, response: Any = None) -> Context:
        # A POST was signed in by BodySizeLimit before its body was read (its limit
        # depends on it); a WebSocket keeps its context where SizedWebSocket looks.
        context = getattr(request.state, CONTEXT_STATE, None)
        if context is None:
            context = await build_context(self.store, self.settings, request)
            setattr(request.state, CONTEXT_STATE, context)
        context.policies = self.policies
        return context

    async def render_graphql_ide(self, request: Request) -> Response:
        if not self.settings.public_schema:
            # A browser opening the page sends no token: closed, it is not served at all.
            refusal = Unauthenticated("GraphiQL is not served while public_schema is off")
            return Response(error_json(refusal), 401, media_type="application/json")
        return graphiql_page()

    def encode_json(self, data: object) -> str:
        # A str, not orjson's bytes: Strawberry sends bytes as binary WebSocket frames, and
        # graphql-ws (federation gateways' client) reads those as objects without a `type`.
        # A subscription result many subscribers share is encoded once (graph/shared.py).
        return encode_message(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        # A 10,000-point logMetrics body parses 4x faster than with the json module.
        return orjson.loads(data)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """WebSockets authenticate in `connection_init`: `{"Authorization": "Bearer <token>"}`.

        The connection is accepted whatever the token; each operation on it is refused as
        over HTTP (UNAUTHENTICATED, with the reason), and the token is looked up again for
        every operation. Closing at `connection_init` instead tells a client less, and
        federation gateways retry such a close for ~40 s in silence.
        """
        params = context.connection_params or {}
        context.websocket = True
        await sign_in(
            context, parse_bearer(params.get("Authorization", params.get("authorization")))
        )
        return UNSET


async def build_context(store: Store, settings: Settings, connection: HTTPConnection) -> Context:
    """Authenticate the caller (one indexed lookup) and set up per-request loaders."""
    actor = Actor(
        name="anonymous",
        client_address=connection.client.host if connection.client else None,
        user_agent=connection.headers.get("user-agent"),
    )
    context = Context(store, settings, actor, base_url=str(connection.base_url))
    await sign_in(context, bearer_token(connection))
    return context


def create_app_from_env() -> Starlette:
    """The app of one `modelbox serve --workers N` worker: its settings (the database URI
    among them) come from the MODELBOX_* environment the command set for it."""
    return create_app(Settings.from_env())


async def prepare(settings: Settings, mongodb_uri: str) -> None:
    """Indexes and the admin token, once, before the workers start (they would race)."""
    store = Store(mongodb_uri, settings.database)
    try:
        await open_store(store, settings)
    finally:
        await store.close()


async def open_store(store: Store, settings: Settings) -> None:
    """Indexes, the cursor secret and the admin token; a generated token is printed, once:
    only its hash is stored."""
    await store.open(settings.cursor_secret)
    generated = await store.tokens.bootstrap_admin(SYSTEM_ACTOR, settings.admin_token)
    if generated is not None:
        print(f"\n  ModelBox admin token (shown once, keep it): {generated}\n", flush=True)


def lifespan_of(
    store: Store, settings: Settings, policies: PolicyEngine
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: the store open, the upload sweeper and the policy engine running."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await open_store(store, settings)
        app.state.store = store
        # Uploads whose server died (this one or another) leave bytes to delete.
        sweeper = asyncio.create_task(store.artifacts.uploads.sweep_forever())
        await policies.start()
        try:
            yield
        finally:
            # Bounded: a background task stuck at shutdown must not hold the process (an
            # intermittent hang of test teardowns under load was seen here, cause not found).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(policies.stop(), SHUTDOWN_SECONDS)
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(sweeper, SHUTDOWN_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(store.close(), SHUTDOWN_SECONDS)

    return lifespan


def health_routes(store: Store) -> list[Route]:
    """`/healthz` (the process answers) and `/readyz` (and reaches its database)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await store.database.ping()
        except Exception as error:
            return JSONResponse(
                {"status": "unavailable", "reason": f"database unreachable: {error!r}"}, 503
            )
        return JSONResponse({"status": "ready"})

    return [Route("/healthz", healthz), Route("/readyz", readyz)]


def create_app(
    settings: Settings,
    *,
    mongodb_uri: str | None = None,
    event_listeners: Sequence[CommandListener] = (),
) -> Starlette:
    """The ASGI app for a database that is already running at `mongodb_uri`."""
    uri = mongodb_uri or settings.mongodb_uri
    if uri is None:
        raise ValueError("create_app needs a MongoDB URI: the CLI starts the embedded one")
    store = Store(
        uri,
        settings.database,
        event_listeners=event_listeners,
        upload_lease_seconds=settings.upload_lease_seconds,
    )
    policies = PolicyEngine(store, settings)
    graphql = GraphQLApp(store, settings, policies)
    middleware = []
    if settings.cors_origins:
        # Outermost, so a browser can read the refusals below it (413, 408) too.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "HEAD", "OPTIONS"],
                allow_headers=["authorization", "content-type", "range"],
                expose_headers=["etag", "content-length", "content-range"],
            )
        )
    middleware.append(
        Middleware(
            BodySizeLimit,
            settings=settings,
            authenticate=lambda request: build_context(store, settings, request),
        )
    )
    return Starlette(
        routes=[
            *health_routes(store),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *artifact_routes(lambda connection: build_context(store, settings, connection)),
            *dashboard_routes(),
        ],
        middleware=middleware,
        lifespan=lifespan_of(store, settings, policies),
    )
