"""The embedded database: SecantusDB run as a child process.

SecantusDB is GPL-licensed, so ModelBox never imports it: it starts the
`secantusd-py` server on a free loopback port and talks to it over the
MongoDB wire protocol, exactly as it would to MongoDB.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

EXECUTABLE = "secantusd-py"
_PR_SET_PDEATHSIG = 1
# Waits before each restart of a database that died; the last one repeats. A database that
# stayed up for HEALTHY_SECONDS starts again from the first wait when it next dies.
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
HEALTHY_SECONDS = 60.0


class EmbeddedDatabaseError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


T = TypeVar("T")


def _libc_prctl() -> Callable[..., int] | None:
    # Resolved once, here: loading a library in a child forked from a threaded process can
    # fail or hang (another thread may have held the loader's lock), and then the database
    # would run without the signal, silently.
    if not sys.platform.startswith("linux"):
        return None
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


_PRCTL = _libc_prctl()


def _die_with(parent: int) -> Callable[[], None]:
    """What the database's process runs before `exec`: it is killed when `parent` dies.

    SIGKILL rather than SIGTERM: nothing the database is doing may delay it (commits are
    already on disk). The kernel sends it when the *thread* that forked the child exits,
    hence `_Spawner`; and if `parent` died between the fork and this, no signal would ever
    come, so the child checks and goes.
    """

    def preexec() -> None:
        if _PRCTL is not None and _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            os._exit(1)

    return preexec


class _Spawner:
    """The one thread that starts every embedded database, living as long as the process.

    The parent-death signal fires when the forking thread ends, not the process: a
    database started from a thread that ends (a request's, a thread pool's) would be
    killed while its server lives on. This thread ends only with the process, so each
    database dies exactly with its server, however that dies.
    """

    _lock = threading.Lock()
    _jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] | None = None
    # The process the thread runs in: a forked child inherits `_jobs` but not the thread.
    _pid = 0

    @classmethod
    def run(cls, job: Callable[[], T]) -> T:
        with cls._lock:
            if cls._jobs is None or cls._pid != os.getpid():
                cls._jobs, cls._pid = queue.SimpleQueue(), os.getpid()
                jobs = cls._jobs
                threading.Thread(
                    target=cls._serve, args=(jobs,), name="modelbox-spawner", daemon=True
                ).start()
        done: Future[T] = Future()
        cls._jobs.put((job, done))
        return done.result()

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
        while True:
            job, done = jobs.get()
            try:
                done.set_result(job())
            except BaseException as error:
                done.set_exception(error)


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


def _terminate(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedDatabase:
    """A SecantusDB server owned by this process: started, waited for, stopped.

    Durable by default: `--sync-on-commit` makes every commit reach the disk before it is
    acknowledged, so a point ModelBox acknowledged survives the database being killed
    (without it, kill -9 lost acknowledged transactions). `durable=False` is for benches.
    """

    def __init__(
        self,
        data_dir: Path | str,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        durable: bool = True,
    ):
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.durable = durable
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        # Held while a process is spawned or taken away, so `stop` never misses a restart.
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> EmbeddedDatabase:
        self._stopping.clear()
        self._spawn(timeout)
        return self

    def _spawn(self, timeout: float) -> None:
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
            *(["--sync-on-commit"] if self.durable else []),
        ]
        with self._lock, open(log_path, "ab") as log_file:
            if self._stopping.is_set():
                raise EmbeddedDatabaseError("the embedded database is being stopped")
            self._process = process = _Spawner.run(
                lambda: subprocess.Popen(
                    command,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=_die_with(os.getpid()),
                    # Out of the terminal's group: a Ctrl-C is for the server, which stops
                    # the database itself; signalled too, the database looked crashed.
                    start_new_session=True,
                )
            )
        self._wait_until_ready(process, timeout, log_path)
        log.info("embedded database pid %s at %s, data in %s", self.pid, self.uri, self.data_dir)

    def _wait_until_ready(
        self, process: subprocess.Popen[bytes], timeout: float, log_path: Path
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EmbeddedDatabaseError(
                    f"{EXECUTABLE} exited with {process.returncode}; see {log_path}"
                )
            try:
                client: MongoClient[dict[str, object]]
                with MongoClient(self.uri, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.1)
        _terminate(process)
        raise EmbeddedDatabaseError(f"{EXECUTABLE} did not answer within {timeout:.0f}s")

    def supervise(self) -> EmbeddedDatabase:
        """Restart the database whenever it dies, on the same port, until `stop`.

        Clients keep their URI and reconnect by themselves; meanwhile their requests fail
        as DATABASE_UNAVAILABLE. Restarts wait RESTART_DELAYS, so a database that cannot
        start is not hammered; one that fails to start in any way is tried again.
        """
        self._supervisor = threading.Thread(
            target=self._watch, name="modelbox-embedded-database", daemon=True
        )
        self._supervisor.start()
        return self

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > HEALTHY_SECONDS:
                failures = 0
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            log.error(
                "embedded database (pid %s) exited unexpectedly with code %s; "
                "restarting it in %.1f s (restart %d)",
                process.pid,
                code,
                delay,
                self.restarts + 1,
            )
            if self._stopping.wait(delay):
                return
            try:
                self._spawn(timeout=60.0)
            except Exception as error:
                # Whatever it was (no process slot, a missing executable), this thread
                # goes on: without it nothing would ever restart the database.
                log.error("embedded database did not restart: %r", error)
                continue
            self.restarts += 1
            log.warning("embedded database restarted (restart %d)", self.restarts)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            _terminate(process, timeout)
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout)

    def __enter__(self) -> EmbeddedDatabase:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
