"""`modelbox` command line: `serve` runs the API, `export-schema` prints the SDL.

The server and its dependencies are imported only by the commands that need them, so the
command line loads with the light client's dependencies alone.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelbox.server.config import Settings

SERVER_EXTRA = "pip install 'modelbox[server]'"


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from modelbox.server.config import Settings
    from modelbox.server.embedded import EmbeddedDatabase
    from modelbox.server.web.app import create_app

    try:
        settings = Settings.from_env(
            host=args.host,
            port=args.port,
            mongodb_uri=args.mongodb_uri,
            data_dir=args.data_dir,
            workers=args.workers,
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
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
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
    )
    return 0


def export_schema(args: argparse.Namespace) -> int:
    from modelbox.server.graph.schema import schema

    sys.stdout.write(schema.as_str() + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the API server")
    serve_parser.add_argument("--host", help="address to listen on (MODELBOX_HOST)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (MODELBOX_PORT)")
    serve_parser.add_argument("--mongodb-uri", help="use this MongoDB (MODELBOX_MONGODB_URI)")
    serve_parser.add_argument(
        "--data-dir", type=Path, help="embedded database directory (MODELBOX_DATA_DIR)"
    )
    serve_parser.add_argument(
        "--workers", type=int, help="API processes sharing the port (MODELBOX_WORKERS)"
    )
    serve_parser.set_defaults(run=serve)
    commands.add_parser("export-schema", help="print the GraphQL schema (SDL)").set_defaults(
        run=export_schema
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except ModuleNotFoundError as error:
        # Only a missing third-party package means the extra is absent; our own bugs surface.
        if error.name is None or error.name.split(".")[0] == "modelbox":
            raise
        print(
            f"modelbox {args.command}: the server's dependencies are not installed"
            f" ({error.name} is missing); {SERVER_EXTRA} installs them",
            file=sys.stderr,
        )
        return 1
