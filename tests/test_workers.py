"""`modelbox serve --workers N`: one embedded database shared by N API processes, and live
updates that reach a subscriber whichever worker took the write."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from pathlib import Path

from tests.api import ADMIN_TOKEN
from tests.servers import ServerProcess
from tests.ws import WsClient

WATCH = """subscription($ns: String!) { namespaceChanges(namespace: $ns) { type
  node { ... on Model { name } } } }"""
CREATE = """mutation($name: String!) { createModel(input: {namespace: "vision", name: $name}) {
  id } }"""


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (children files list direct children)."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            children = (task / "children").read_text().split()
            found += map(int, children)
            queue += map(int, children)
    return found


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server's end of the TCP connection from `client_port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(local.rsplit(":", 1)[1], 16) == server_port and (
                int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return inode or None
    return None


def serving_worker(workers: list[int], server_port: int, client_port: int) -> int | None:
    """Which worker process holds the accepted connection from `client_port`."""
    inode = socket_inode(server_port, client_port)
    if inode is None:
        return None
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if fd.readlink() == Path(f"socket:[{inode}]"):
                    return pid
            except OSError:
                continue
    return None


def connection_to_another_worker(
    server: ServerProcess, workers: list[int], avoid: int
) -> http.client.HTTPConnection:
    """A kept-alive HTTP connection that a worker other than `avoid` has accepted.

    Tried for a while, not a number of times: a worker still starting (slow on a loaded
    machine) accepts nothing yet, and quick attempts all land on the one that is up."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        worker = serving_worker(workers, server.port, connection.sock.getsockname()[1])
        if worker is not None and worker != avoid:
            return connection
        connection.close()
        time.sleep(0.05)
    raise AssertionError("for 60 s every connection went to the subscriber's worker")


def post(connection: http.client.HTTPConnection, query: str, variables: dict[str, str]) -> dict:
    body = json.dumps({"query": query, "variables": variables})
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    connection.request("POST", "/graphql", body, headers)
    return json.loads(connection.getresponse().read())


async def test_two_workers_share_one_database_and_live_updates(tmp_path: Path) -> None:
    env = {
        "MODELBOX_WORKERS": "2",
        "MODELBOX_DATA_DIR": str(tmp_path / "db"),
        "MODELBOX_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELBOX_MONGODB_URI": "",
    }
    server = await asyncio.to_thread(ServerProcess(env, cwd=tmp_path).start)
    try:
        assert server.process is not None
        below = descendants(server.process.pid)
        databases = [pid for pid in below if "secantusd" in command_line(pid)]
        assert len(databases) == 1, [command_line(pid) for pid in below]
        workers = [pid for pid in below if "multiprocessing" in command_line(pid)]
        workers = [pid for pid in workers if Path(f"/proc/{pid}/fd").exists()]
        # uvicorn's workers, and no more than one database among the processes below.
        assert len([p for p in workers if "spawn_main" in command_line(p)]) == 2

        async with WsClient(server.url) as ws:
            op = await ws.subscribe(WATCH, {"ns": "vision"})
            assert ws.socket is not None
            ws_port = ws.socket.local_address[1]
            subscriber = serving_worker(workers, server.port, ws_port)
            assert subscriber is not None
            other = await asyncio.to_thread(
                connection_to_another_worker, server, workers, subscriber
            )
            try:
                # The subscription goes live a moment after it is sent: write until it reports.
                for attempt in range(60):
                    created = await asyncio.to_thread(
                        post, other, CREATE, {"name": f"through-other-{attempt}"}
                    )
                    assert "errors" not in created, created
                    try:
                        change = await ws.next(op, timeout=0.5)
                        break
                    except TimeoutError:
                        continue
                else:
                    raise AssertionError("the subscriber never heard of the other worker's write")
                assert change["namespaceChanges"]["type"] == "CREATED"
                assert change["namespaceChanges"]["node"]["name"].startswith("through-other-")
                worker = serving_worker(workers, server.port, other.sock.getsockname()[1])
                assert worker is not None and worker != subscriber
            finally:
                other.close()
    finally:
        output = await asyncio.to_thread(server.stop)
    assert output.count("admin token") == 0  # given in the environment, so never printed
