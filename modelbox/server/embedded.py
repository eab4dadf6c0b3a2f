"""The embedded database: SecantusDB run as a child process.

SecantusDB is GPL-licensed, so ModelBox never imports it: it starts the
`secantusd-py` server on a free loopback port and talks to it over the
MongoDB wire protocol, exactly as it would to MongoDB.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

EXECUTABLE = "secantusd-py"
_PR_SET_PDEATHSIG = 1


class EmbeddedDatabaseError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    # If ModelBox is killed outright (SIGKILL), the kernel stops the database too.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _executable() -> str:
    beside_python = Path(sys.executable).parent / EXECUTABLE
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(EXECUTABLE)
    if found is None:
        raise EmbeddedDatabaseError(
            f"{EXECUTABLE} not found: install the SecantusDB package or set MODELBOX_MONGODB_URI"
        )
    return found


class EmbeddedDatabase:
    """A SecantusDB server owned by this process: started, waited for, stopped."""

    def __init__(self, data_dir: Path | str, host: str = "127.0.0.1", port: int | None = None):
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> EmbeddedDatabase:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir.parent / "secantusd.log"
        command = [
            _executable(),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            str(self.data_dir),
            "--log-level",
            "WARNING",
        ]
        with open(log_path, "ab") as log_file:
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        self._wait_until_ready(timeout, log_path)
        log.info("embedded database pid %s at %s, data in %s", self.pid, self.uri, self.data_dir)
        return self

    def _wait_until_ready(self, timeout: float, log_path: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise EmbeddedDatabaseError(
                    f"{EXECUTABLE} exited with {self._process.returncode}; see {log_path}"
                )
            try:
                client: MongoClient[dict[str, object]]
                with MongoClient(self.uri, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.1)
        self.stop()
        raise EmbeddedDatabaseError(f"{EXECUTABLE} did not answer within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedDatabase:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
