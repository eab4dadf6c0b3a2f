"""`modelbox serve` (the API) and `modelbox export-schema` (the SDL): the commands that need
the `server` extra, imported only when they run."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from modelbox.server.config import Settings

SERVER_EXTRA = "pip install 'modelbox[server]'"


def needs_server(command: Callable[..., int]) -> Callable[..., int]:
    """A missing server dependency is told with the command that installs it."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return command(*args, **kwargs)
        except ModuleNotFoundError as error:
            # Only a missing third-party package means the extra is absent; our bugs surface.
            if error.name is None or error.name.split(".")[0] == "modelbox":
                raise
            name = click.get_current_context().info_name
            click.echo(
                f"modelbox {name}: the server's dependencies are not installed"
                f" ({error.name} is missing); {SERVER_EXTRA} installs them",
                err=True,
            )
            return 1

    return wrapper


@click.command()
@click.option("--host", help="address to listen on (MODELBOX_HOST)")
@click.option("--port", type=int, help="port to listen on (MODELBOX_PORT)")
@click.option("--mongodb-uri", help="use this MongoDB (MODELBOX_MONGODB_URI)")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="embedded database (MODELBOX_DATA_DIR)"
)
@click.option("--workers", type=int, help="API processes sharing the port (MODELBOX_WORKERS)")
@needs_server
def serve(
    host: str | None,
    port: int | None,
    mongodb_uri: str | None,
    data_dir: Path | None,
    workers: int | None,
) -> int:
    """Run the API server."""
    import uvicorn

    from modelbox.server.config import Settings
    from modelbox.server.embedded import EmbeddedDatabase
    from modelbox.server.web.app import create_app
    from modelbox.server.web.connections import uvicorn_options

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(
            host=host, port=port, mongodb_uri=mongodb_uri, data_dir=data_dir, workers=workers
        )
    except ValueError as error:  # a setting that cannot be used: said before anything starts
        print(f"modelbox serve: {error}", file=sys.stderr)
        return 2
    if settings.workers < 1:
        print("modelbox serve: --workers must be at least 1", file=sys.stderr)
        return 2
    embedded = None
    uri = settings.mongodb_uri
    if uri is None:
        # Supervised: if it dies it is restarted, and requests meanwhile are answered
        # DATABASE_UNAVAILABLE (retryable) instead of the server going down with it.
        embedded = EmbeddedDatabase(settings.data_dir).start().supervise()
        uri = embedded.uri
        print(
            f"ModelBox: embedded database (SecantusDB) with data in {settings.data_dir}", flush=True
        )
    try:
        if settings.workers > 1:
            return _serve_workers(settings, uri)
        app = create_app(settings, mongodb_uri=uri)
        # What exists now (modules, the schema) lives as long as the process: frozen out of
        # the collector's view, full collections stay short when thousands of subscribers
        # each make garbage per delivered change.
        gc.freeze()
        # uvicorn handles SIGINT and SIGTERM by shutting down and returning here.
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            **uvicorn_options(settings),
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _serve_workers(settings: Settings, uri: str) -> int:
    """uvicorn's worker processes, each building its app from the environment set here; the
    database (embedded or not) is this process's, shared by all of them."""
    import asyncio

    import uvicorn

    from modelbox.server.web.app import prepare
    from modelbox.server.web.connections import uvicorn_options

    os.environ.update(
        MODELBOX_MONGODB_URI=uri,
        MODELBOX_DATABASE=settings.database,
        MODELBOX_HOST=settings.host,
        MODELBOX_PORT=str(settings.port),
    )
    asyncio.run(prepare(settings, uri))
    uvicorn.run(
        "modelbox.server.web.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
        **uvicorn_options(settings),
    )
    return 0


@click.command("export-schema")
@needs_server
def export_schema() -> int:
    """Print the GraphQL schema (SDL)."""
    from modelbox.server.graph.schema import schema

    sys.stdout.write(schema.as_str() + "\n")
    return 0
