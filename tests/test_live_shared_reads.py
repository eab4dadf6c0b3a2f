"""Subscribers of the same subject share what is read for a change: with six subscribers
selecting an event's subject, a change costs the database no more reads than with one."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

import httpx
import uvicorn
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from modelbox.server.config import Settings
from modelbox.server.embedded import free_port
from modelbox.server.web.app import create_app
from modelbox.server.web.connections import uvicorn_options
from tests.api import Api
from tests.live import until_live
from tests.test_live_events import log
from tests.ws import WsClient

WITH_SUBJECT = """subscription($subject: ID) { events(subjectId: $subject) {
  id name subject { id ... on Experiment { name status } } } }"""


class Reads(CommandListener):
    """The `find`s and `aggregate`s of each collection."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def started(self, event: CommandStartedEvent) -> None:
        for name in ("find", "aggregate"):
            target = event.command.get(name) if event.command_name == name else None
            if isinstance(target, str):
                with self._lock:
                    self.seen.append(target)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@contextlib.asynccontextmanager
async def serving(settings: Settings, reads: Reads) -> AsyncIterator[str]:
    """The app, its database commands counted, behind a real socket in this process."""
    port = free_port()
    app = create_app(settings, event_listeners=[reads])
    options = uvicorn_options(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def reads_per_change(api: Api, url: str, reads: Reads, run: str, subscribers: int) -> int:
    """Experiment reads for logging three events while `subscribers` watch (each sees all)."""
    clients = [await WsClient(url).connect() for _ in range(subscribers)]
    try:
        ops = [await ws.subscribe(WITH_SUBJECT, {"subject": run}) for ws in clients]
        for ws, op in zip(clients, ops, strict=True):
            await until_live(ws, op, lambda i: log(api, run, {"name": "probe"}))
        for ws, op in zip(clients, ops, strict=True):
            with contextlib.suppress(TimeoutError):
                while True:
                    await ws.next(op, timeout=0.5)
        before = reads.seen.count("experiments")
        for n in range(3):
            await log(api, run, {"name": f"epoch-{n}"})
        for ws, op in zip(clients, ops, strict=True):
            for n in range(3):
                event = (await ws.next(op))["events"]
                assert event["name"] == f"epoch-{n}"
                assert event["subject"] == {"id": run, "name": "shared", "status": "RUNNING"}
        return reads.seen.count("experiments") - before
    finally:
        for ws in clients:
            await ws.close()


async def test_subscribers_of_one_subject_share_its_read_per_change(settings: Settings) -> None:
    reads = Reads()
    async with serving(settings, reads) as url, httpx.AsyncClient(base_url=url) as client:
        api = Api(client)
        run = (await api.create_experiment("vision", "shared"))["id"]
        unwatched = await reads_per_change(api, url, reads, run, 0)
        alone = await reads_per_change(api, url, reads, run, 1)
        together = await reads_per_change(api, url, reads, run, 6)
    # The writes read what they read; watching adds one read of the subject per change,
    # however many subscribers there are (each one's access is still checked).
    assert alone == together == unwatched + 3, (unwatched, alone, together)
