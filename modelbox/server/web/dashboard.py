"""The dashboard and GraphiQL pages, served from files shipped in the package.

Every asset is local (`static/`, third-party code in `static/vendor/`, refreshed with
`make vendor`), and the pages' Content-Security-Policy lets them load nothing from elsewhere,
so they work offline and a stray CDN reference fails loudly in the browser tests.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

# GraphiQL's bundle injects styles at run time, so styles may be inline; scripts may not.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff"}


def graphiql_page() -> Response:
    """GraphiQL, sending the dashboard's token on HTTP and in `connection_init`."""
    return HTMLResponse((STATIC / "graphiql.html").read_text(), headers=HEADERS)


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


def dashboard_routes() -> list[BaseRoute]:
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
