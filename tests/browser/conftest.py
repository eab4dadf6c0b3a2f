"""A real `modelbox serve` and Debian's Chromium driven by Playwright.

Skipped, with the reason in pytest's summary, where Chromium or Playwright is missing:
`make test-browser` installs both.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests.api import ADMIN_TOKEN
from tests.servers import ServerProcess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: `make test-browser` installs it"
)
if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed: `make test-browser` installs it", allow_module_level=True
    )

# `make screenshots` sets this to docs/screenshots; otherwise they go to a scratch folder.
# A loaded CI machine can take seconds to deliver what an idle one shows at once.
sync_api.expect.set_options(timeout=30_000)

SCREENSHOTS = Path(os.environ.get("MODELBOX_SCREENSHOTS") or tempfile.mkdtemp(prefix="mbx-shots-"))
# Without these Chromium calls home at start, and this machine refuses such connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Client:
    """The test's own GraphQL client: it logs what the page then shows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def ok(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()
        assert not body.get("errors"), body
        return body["data"]


@pytest.fixture(scope="module")
def server(mongodb_uri: str) -> Iterator[ServerProcess]:
    database = f"browser_{uuid.uuid4().hex[:10]}"
    env = {
        "MODELBOX_MONGODB_URI": mongodb_uri,
        "MODELBOX_DATABASE": database,
        "MODELBOX_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    with ServerProcess(env) as running:
        yield running
    with MongoClient(mongodb_uri) as mongo:
        mongo.drop_database(database)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[Client]:
    client = Client(server.url)
    yield client
    client.http.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: ServerProcess) -> Iterator[Any]:
    """A fresh tab; every request it makes is recorded in `page.requested`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.requested = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.on("websocket", lambda ws: page.requested.append(ws.url))
    # Shown by pytest when a test fails: what the page itself complained about.
    page.on("console", lambda message: print(f"console.{message.type}: {message.text}"))
    page.on("pageerror", lambda error: print(f"page error: {error}"))
    page.set_default_timeout(30_000)
    yield page
    context.close()


def sign_in(page: Any, server: ServerProcess, token: str = ADMIN_TOKEN) -> None:
    page.goto(f"{server.url}/")
    page.fill("input[name=token]", token)
    page.click("#sign-in button")
    page.wait_for_selector("#nav:not([hidden])")


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
