"""The spool: an append-only file per run holding every operation until the server
confirms it, so a server outage or a crash of the training process loses nothing.

`<run>.spool` lines are `<kind> <op id> <json>\n` (kind M: metric series, E: events, U:
an experiment update; H: the header naming server, experiment and run). `<run>.acks` lists
the op ids the server confirmed (or refused for good). The op id is the `logMetrics` and
`logEvents` idempotency key, so an op sent twice, once by the run and again by
`modelbox sync`, or again after an answer the network lost, is stored once. The writing
run holds an advisory lock on the spool so `sync` leaves it alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, sync trusts the user
    fcntl = None  # type: ignore[assignment]

HEADER, METRICS, EVENTS, UPDATE = "H", "M", "E", "U"
FSYNC_EVERY = 1.0


@dataclass
class Op:
    kind: str
    op_id: str
    payload: str  # JSON text, sent as it is

    @property
    def line(self) -> bytes:
        return f"{self.kind} {self.op_id} {self.payload}\n".encode()


def parse(line: bytes) -> Op | None:
    """One complete line as an Op; None for a torn or foreign line."""
    parts = line.rstrip(b"\n").decode(errors="replace").split(" ", 2)
    if len(parts) != 3 or parts[0] not in (HEADER, METRICS, EVENTS, UPDATE):
        return None
    return Op(*parts)


def try_lock(file: IO[bytes]) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class SpoolWriter:
    """Appends ops; flushed to the OS at once (a crash of the process loses nothing
    written), fsynced at most once a second and on close."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self.file = open(path, "ab")  # noqa: SIM115 - lives as long as the run
        if not try_lock(self.file):
            self.file.close()
            raise RuntimeError(f"{path} is in use by another process")
        self._synced = time.monotonic()
        self.append(Op(HEADER, "-", json.dumps(header)))

    def append(self, op: Op) -> None:
        self.file.write(op.line)
        self.file.flush()
        if time.monotonic() - self._synced >= FSYNC_EVERY:
            os.fsync(self.file.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()  # releases the lock


def acks_path(spool: Path) -> Path:
    return spool.with_suffix(".acks")


def read_acks(spool: Path) -> set[str]:
    path = acks_path(spool)
    if not path.exists():
        return set()
    return {line.split(" ", 1)[0] for line in path.read_text().splitlines() if line}


class Acks:
    def __init__(self, spool: Path) -> None:
        self.file = open(acks_path(spool), "a")  # noqa: SIM115 - lives as long as the sender

    def add(self, op_id: str, note: str = "") -> None:
        with contextlib.suppress(ValueError):  # closed by an abandoned sender's owner
            self.file.write(f"{op_id} {note}".rstrip() + "\n")
            self.file.flush()

    def close(self) -> None:
        self.file.close()


class Tail:
    """Reads complete lines of a spool as the writer appends them."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "rb")  # noqa: SIM115 - closed by its owner

    def next(self) -> Op | None:
        """The next complete op, None when none is (yet) there."""
        while True:
            start = self.file.tell()
            line = self.file.readline()
            if not line.endswith(b"\n"):
                self.file.seek(start)  # torn or still being written
                return None
            op = parse(line)
            if op is not None:
                return op

    def close(self) -> None:
        self.file.close()


def header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as file:
        op = parse(file.readline())
    if op is None or op.kind != HEADER:
        raise ValueError(f"{path} is not a ModelBox spool")
    result: dict[str, Any] = json.loads(op.payload)
    return result


def pending(path: Path) -> Iterator[Op]:
    """The ops of a spool the server has not confirmed, in the order they were written."""
    done = read_acks(path)
    tail = Tail(path)
    try:
        while (op := tail.next()) is not None:
            if op.kind != HEADER and op.op_id not in done:
                yield op
    finally:
        tail.close()


def remove(path: Path) -> None:
    for file in (path, acks_path(path)):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()
