"""The embedded database dies with its server, however the server dies: a real `modelbox
serve` killed with kill -9, before and after its supervisor restarted the database; and
a database started from a thread that then ends lives on with its owner, and no longer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pymongo import MongoClient

from tests.api import ADMIN_TOKEN
from tests.servers import ServerProcess
from tests.test_durability import _database_pids, _kill_database


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting to be reaped has died)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def env(tmp_path: Path) -> dict[str, str]:
    return {
        "MODELBOX_DATA_DIR": str(tmp_path / "db"),
        "MODELBOX_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELBOX_MONGODB_URI": "",
    }


def kill_server(server: ServerProcess) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)


async def test_ctrl_c_stops_the_server_and_its_database_with_no_restart(tmp_path: Path) -> None:
    """A terminal's Ctrl-C signals its whole foreground group: the database must not take
    it for a crash (and be restarted while the server shuts down); the server stops it."""
    server = ServerProcess(env(tmp_path), cwd=tmp_path, own_group=True)
    await asyncio.to_thread(server.start)
    assert server.process is not None
    [database] = _database_pids(server)
    os.killpg(server.process.pid, signal.SIGINT)
    assert server.process.wait(30) == 0
    output = server.stop()
    assert "exited unexpectedly" not in output and "restart" not in output, output
    assert gone_within(database, 10)


async def test_the_database_dies_with_a_server_killed_outright(tmp_path: Path) -> None:
    server = await asyncio.to_thread(ServerProcess(env(tmp_path), cwd=tmp_path).start)
    [database] = _database_pids(server)
    try:
        kill_server(server)
        assert gone_within(database, 5), "the embedded database outlived its server"
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            os.kill(database, signal.SIGKILL)


async def test_a_restarted_database_dies_with_a_server_killed_outright(tmp_path: Path) -> None:
    server = await asyncio.to_thread(ServerProcess(env(tmp_path), cwd=tmp_path).start)
    try:
        await _kill_database(server, 1)
        [first, restarted] = _database_pids(server)
        assert gone_within(first, 5) and alive(restarted)
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        # The restart was made by the supervisor's thread, long after start-up.
        kill_server(server)
        assert gone_within(restarted, 5), "the restarted database outlived its server"
    finally:
        server.stop()
        for pid in _database_pids(server):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# An owner process that starts its database from a thread which then ends, as a thread
# pool's worker or a supervisor's thread may.
OWNER = """
import sys, threading, time
from modelbox.server.embedded import EmbeddedDatabase
database = EmbeddedDatabase(sys.argv[1])
starter = threading.Thread(target=database.start)
starter.start()
starter.join()
print(database.pid, database.uri, flush=True)
time.sleep(120)
"""


async def test_a_database_started_from_a_passing_thread_lives_exactly_as_long_as_its_owner(
    tmp_path: Path,
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path / "db")], stdout=subprocess.PIPE, text=True
    )
    database = None
    try:
        assert owner.stdout is not None
        pid, uri = (await asyncio.to_thread(owner.stdout.readline)).split()
        database = int(pid)
        await asyncio.sleep(1.0)  # the starting thread is long gone
        assert alive(database), "the database died with the thread that started it"
        client: MongoClient[dict[str, object]]
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            assert client.admin.command("ping")["ok"] == 1
        owner.kill()
        owner.wait(10)
        assert gone_within(database, 5), "the database outlived its owner"
    finally:
        owner.kill()
        owner.wait(10)
        if database is not None:
            with contextlib.suppress(OSError):
                os.kill(database, signal.SIGKILL)
