"""Acknowledged means kept: the embedded database killed (kill -9) under writers, twice.

A real `modelbox serve` supervises its embedded database; the test kills the database
process outright while four writers log metrics with idempotency keys, retrying each
request (same key) until it is acknowledged, as a training job's client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.servers import ServerProcess
from tests.test_server import _env

TOKEN = "mbx_durability-test-token-long-enough-for-admin"
WRITERS = 4
BATCHES = 30
POINTS = 50
LOG = """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted duplicate } }"""
SERIES = """query($id: ID!, $key: String!) { node(id: $id) { ... on Experiment {
  metric(key: $key) { count points { steps values } } } } }"""


async def _post(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    return response.json()


def _batch(experiment: str, writer: int, batch: int) -> dict[str, Any]:
    steps = list(range(batch * POINTS, (batch + 1) * POINTS))
    return {
        "input": {
            "subjectId": experiment,
            "idempotencyKey": f"writer-{writer}/batch-{batch}",
            "series": [{"key": f"w{writer}", "steps": steps, "values": [s / 7 for s in steps]}],
        }
    }


async def _write(
    client: httpx.AsyncClient, experiment: str, writer: int, progress: list[int], failures: list
) -> None:
    """Log BATCHES batches, each retried with its key until acknowledged (bounded)."""
    for batch in range(BATCHES):
        for _attempt in range(200):
            try:
                body = await _post(client, LOG, _batch(experiment, writer, batch))
            except httpx.TransportError as error:
                failures.append(repr(error))
                await asyncio.sleep(0.2)
                continue
            if "errors" not in body:
                break
            failures.append(body["errors"][0]["extensions"]["code"])
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"writer {writer} batch {batch} never acknowledged")
        progress[writer] = batch + 1


def _database_pids(server: ServerProcess) -> list[int]:
    return [int(pid) for pid in re.findall(r"embedded database pid (\d+)", server.output)]


async def _kill_database(server: ServerProcess, restarts: int) -> None:
    """kill -9 the current database and wait until the server has restarted it."""
    [*_, pid] = _database_pids(server)
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(
        server.wait_for, rf"embedded database restarted \(restart {restarts}\)", 120
    )


async def test_acknowledged_points_survive_database_kills(tmp_path: Path) -> None:
    env = _env(MODELBOX_DATA_DIR=str(tmp_path / "db"), MODELBOX_ADMIN_TOKEN=TOKEN)
    server = ServerProcess(env, cwd=tmp_path).start()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as client:
            created = await _post(
                client,
                'mutation { createExperiment(input: {namespace: "d", name: "run"}) { id } }',
                {},
            )
            experiment = created["data"]["createExperiment"]["id"]
            progress = [0] * WRITERS
            failures: list[str] = []
            writers = asyncio.gather(
                *(_write(client, experiment, w, progress, failures) for w in range(WRITERS))
            )
            # Two kills, each while every writer is mid-run.
            for restarts, mark in ((1, 8), (2, 18)):
                while min(progress) < mark:
                    assert not writers.done(), "the writers stopped early"
                    await asyncio.sleep(0.05)
                await _kill_database(server, restarts)
            await writers

            for writer in range(WRITERS):
                body = await _post(client, SERIES, {"id": experiment, "key": f"w{writer}"})
                series = body["data"]["node"]["metric"]
                expected = list(range(BATCHES * POINTS))
                # Every acknowledged point is there, once: none lost, none doubled.
                assert series["points"]["steps"] == expected, f"writer {writer}"
                assert series["count"] == len(expected)

            # A retry of an acknowledged request (same key) logs nothing more.
            again = await _post(client, LOG, _batch(experiment, 0, 3))
            assert again["data"]["logMetrics"] == {"accepted": 0, "duplicate": True}
            body = await _post(client, SERIES, {"id": experiment, "key": "w0"})
            assert body["data"]["node"]["metric"]["count"] == BATCHES * POINTS

        # The clients only ever heard a retryable error, never a masked one.
        assert set(failures) <= {"DATABASE_UNAVAILABLE"}, failures
        assert server.process is not None and server.process.poll() is None
        assert len(set(_database_pids(server))) == 3, "two kills, two restarts"
        assert server.output.count("exited unexpectedly with code -9") == 2
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
    finally:
        server.stop()
        # A database the supervisor restarted must not outlive the test, whatever happened.
        for pid in _database_pids(server):
            with contextlib.suppress(OSError):
                if str(tmp_path) in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGKILL)
