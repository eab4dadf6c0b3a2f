"""Faults: kill -9 the database or the server mid-ingest and mid-upload; count what was lost.

Four scenarios, each against real processes on loopback:

* database killed mid-ingest: `modelbox serve` with its supervised embedded database; four
  writers log metrics with idempotency keys, each request retried (same key) until it is
  acknowledged; the database process is killed twice. The server restarts it.
* server killed mid-ingest: the same writers against a server on a separate embedded
  database; the server is killed and started again (as a process manager would).
* database killed mid-upload: a 64 MiB artifact `PUT`; the database is killed during it;
  the client uploads again until it succeeds.
* server killed mid-upload: the server dies during the `PUT`; a new one starts; the client
  uploads again (409 while the dead upload's lease lasts, MODELBOX_UPLOAD_LEASE_SECONDS=5).

For each: what was lost (acknowledged points missing or doubled, bytes that differ, chunks
left behind) and how long recovery took (from the kill to the first acknowledged write, or
the completed upload, sent after it).

    .venv/bin/python bench/faults.py
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

TOKEN = "mbx_bench-faults-token-long-enough-for-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRITERS = 4
POINTS = 100
LOG = "mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"
SERIES = """query($id: ID!, $key: String!) { node(id: $id) { ... on Experiment {
  metric(key: $key) { count points { steps } } } } }"""
UPLOAD_MIB = 64
MIB = 1024 * 1024


def gql(url: str, query: str, **variables: object) -> dict:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers=AUTH,
        timeout=60,
    )
    return response.json()


class Writers:
    """Writers that retry each batch (same idempotency key) until acknowledged."""

    def __init__(self, url: Callable[[], str], experiment: str) -> None:
        self.url = url
        self.experiment = experiment
        self.stop = threading.Event()
        self.batches = [0] * WRITERS
        # (sent, acknowledged) monotonic times of every acknowledged request.
        self.acks: list[tuple[float, float]] = []
        self.threads = [threading.Thread(target=self._run, args=(w,)) for w in range(WRITERS)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(300)

    def _run(self, writer: int) -> None:
        batch = 0
        while not self.stop.is_set():
            steps = list(range(batch * POINTS, (batch + 1) * POINTS))
            variables = {
                "input": {
                    "subjectId": self.experiment,
                    "idempotencyKey": f"w{writer}/{batch}",
                    "series": [{"key": f"w{writer}", "steps": steps, "values": steps}],
                }
            }
            for _attempt in range(1000):
                sent = time.monotonic()
                try:
                    body = gql(self.url(), LOG, **variables)
                except httpx.HTTPError:
                    body = {"errors": ["transport"]}
                if "errors" not in body:
                    self.acks.append((sent, time.monotonic()))
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"writer {writer}: batch {batch} never acknowledged")
            batch += 1
            self.batches[writer] = batch

    def wait_for(self, batches: int) -> None:
        while min(self.batches) < batches:
            time.sleep(0.05)

    def recovered_after(self, killed: float) -> float:
        """Seconds from the kill to the first acknowledgement of a request sent after it."""
        return min(acked for sent, acked in self.acks if sent >= killed) - killed

    def lost(self, url: str) -> tuple[int, int, int]:
        """(acknowledged points, points missing, points doubled), read back over GraphQL."""
        acknowledged = missing = doubled = 0
        for writer in range(WRITERS):
            expected = list(range(self.batches[writer] * POINTS))
            body = gql(url, SERIES, id=self.experiment, key=f"w{writer}")
            steps = body["data"]["node"]["metric"]["points"]["steps"]
            acknowledged += len(expected)
            missing += len(set(expected) - set(steps))
            doubled += len(steps) - len(set(steps))
        return acknowledged, missing, doubled


def experiment(url: str, name: str) -> str:
    query = 'mutation($n: String!) { createExperiment(input: {namespace: "f", name: $n}) { id } }'
    return gql(url, query, n=name)["data"]["createExperiment"]["id"]


def db_pids(server: ServerProcess) -> list[int]:
    return [int(p) for p in re.findall(r"embedded database pid (\d+)", server.output)]


def database_killed_mid_ingest(tmp: Path) -> None:
    env = {"MODELBOX_DATA_DIR": str(tmp / "db"), "MODELBOX_ADMIN_TOKEN": TOKEN}
    with ServerProcess(env, cwd=tmp) as server:
        writers = Writers(lambda: server.url, experiment(server.url, "db-kill"))
        recoveries = []
        with writers:
            for restart, mark in ((1, 20), (2, 60)):
                writers.wait_for(mark)
                killed = time.monotonic()
                os.kill(db_pids(server)[-1], signal.SIGKILL)
                server.wait_for(rf"embedded database restarted \(restart {restart}\)", 120)
                writers.wait_for(mark + 10)
                recoveries.append(writers.recovered_after(killed))
        report("database killed twice mid-ingest", writers.lost(server.url), recoveries)


def server_killed_mid_ingest(tmp: Path) -> None:
    with EmbeddedDatabase(tmp / "db-server-kill") as database:
        env = {"MODELBOX_MONGODB_URI": database.uri, "MODELBOX_ADMIN_TOKEN": TOKEN}
        servers = [ServerProcess(env).start()]
        try:
            writers = Writers(lambda: servers[-1].url, experiment(servers[0].url, "srv-kill"))
            with writers:
                writers.wait_for(20)
                killed = time.monotonic()
                process = servers[-1].process
                assert process is not None
                process.send_signal(signal.SIGKILL)
                servers.append(ServerProcess(env).start())
                writers.wait_for(40)
            report(
                "server killed mid-ingest, restarted",
                writers.lost(servers[-1].url),
                [writers.recovered_after(killed)],
            )
        finally:
            for server in servers:
                server.stop()


def upload_body(data: bytes, pace: float = 0.0) -> Iterator[bytes]:
    for offset in range(0, len(data), MIB):
        time.sleep(pace)
        yield data[offset : offset + MIB]


def put(url: str, artifact: str, data: bytes, pace: float = 0.0) -> int:
    """The status of one upload of `data`; 0 when the connection broke."""
    try:
        response = httpx.put(
            f"{url}/artifacts/{artifact}",
            content=upload_body(data, pace),
            headers=AUTH,
            timeout=120,
        )
    except httpx.HTTPError:
        return 0
    return response.status_code


def create_artifact(url: str) -> str:
    model = gql(url, 'mutation { createModel(input: {namespace: "f", name: "m"}) { id } }')
    query = 'mutation($id: ID!) { createArtifact(input: {subjectId: $id, name: "w.pt"}) { id } }'
    return gql(url, query, id=model["data"]["createModel"]["id"])["data"]["createArtifact"]["id"]


def check_upload(url: str, uri: str, artifact: str, data: bytes) -> tuple[int, int]:
    """(bytes that differ from what was sent, chunks left behind beyond the file's own)."""
    download = httpx.get(f"{url}/artifacts/{artifact}", headers=AUTH, timeout=120).content
    same = hashlib.sha256(download).digest() == hashlib.sha256(data).digest()
    with MongoClient(uri) as client:
        chunks = client["modelbox"]["fs.chunks"].count_documents({})
    return (0 if same else len(data)), chunks - len(data) // MIB


def upload_with_kill(tmp: Path, kill_server: bool) -> None:
    """An upload paced over ~3 s, the server or its database killed 1 s into it; then the
    client uploads again until accepted (409 while the dead upload's lease lasts)."""
    data = os.urandom(UPLOAD_MIB * MIB)
    with contextlib.ExitStack() as stack:
        env = {"MODELBOX_ADMIN_TOKEN": TOKEN, "MODELBOX_UPLOAD_LEASE_SECONDS": "5"}
        if kill_server:
            database = stack.enter_context(EmbeddedDatabase(tmp / "db-upload-server"))
            uri = database.uri
            env["MODELBOX_MONGODB_URI"] = uri
        else:
            env["MODELBOX_DATA_DIR"] = str(tmp / "db-upload-database")
        servers = [ServerProcess(env, cwd=tmp).start()]
        stack.callback(lambda: [server.stop() for server in servers])
        if not kill_server:
            uri = servers[0].wait_for(r"embedded database pid \d+ at (\S+),").group(1)
        artifact = create_artifact(servers[0].url)
        statuses: list[int] = []
        first = threading.Thread(
            target=lambda: statuses.append(put(servers[0].url, artifact, data, 3 / UPLOAD_MIB))
        )
        first.start()
        time.sleep(1.0)
        killed = time.monotonic()
        if kill_server:
            process = servers[0].process
            assert process is not None
            process.send_signal(signal.SIGKILL)
            servers.append(ServerProcess(env).start())
        else:
            os.kill(db_pids(servers[0])[-1], signal.SIGKILL)
        first.join(120)
        done = time.monotonic()
        status = statuses[0] if statuses else 0
        attempts = 1
        while status != 200:
            time.sleep(0.2)
            status = put(servers[-1].url, artifact, data)
            attempts += 1
            done = time.monotonic()
            assert attempts < 600, "the upload never succeeded"
        # The dead upload's chunks go with its lease, swept in the background.
        time.sleep(6)
        differ, leftover = check_upload(servers[-1].url, uri, artifact, data)
        what = "server" if kill_server else "database"
        print(
            f"{what} killed mid-upload ({UPLOAD_MIB} MiB): bytes differing {differ}, chunks left"
            f" behind {leftover}; accepted {done - killed:.1f} s after the kill ({attempts} PUTs)"
        )


def report(name: str, lost: tuple[int, int, int], recoveries: list[float]) -> None:
    acknowledged, missing, doubled = lost
    shown = ", ".join(f"{r:.1f} s" for r in recoveries)
    print(
        f"{name}: {acknowledged:,} points acknowledged, {missing} missing, {doubled} doubled;"
        f" writes acknowledged again {shown} after the kill"
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="modelbox-faults-") as tmp:
        database_killed_mid_ingest(Path(tmp))
        server_killed_mid_ingest(Path(tmp))
        upload_with_kill(Path(tmp), kill_server=False)
        upload_with_kill(Path(tmp), kill_server=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
