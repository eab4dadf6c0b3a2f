"""Real `modelbox serve` processes on loopback, for tests whose behaviour lives in a socket."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx

from modelbox.server.embedded import free_port


class ServerProcess:
    """`python -m modelbox serve` with the given environment; stopped with SIGTERM."""

    def __init__(
        self, env: dict[str, str], cwd: Path | None = None, *, own_group: bool = False
    ) -> None:
        # own_group: a process group of its own, as a shell gives a foreground job.
        self.own_group = own_group
        self.port = free_port()
        self.env = {**os.environ, **env, "MODELBOX_PORT": str(self.port)}
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        """Everything the server has printed so far."""
        return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The first match of `pattern` in the output, waiting for the reader to catch up."""
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.output)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not printed; output:\n{self.output}")
            time.sleep(0.05)
        return found

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelbox", "serve"],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            process_group=0 if self.own_group else None,
        )
        # Read continuously, so a chatty server never blocks on a full pipe.
        stdout = self.process.stdout
        assert stdout is not None
        self._reader = threading.Thread(target=lambda: self._lines.extend(stdout), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(5)
                raise RuntimeError(f"server exited: {self.output}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not become ready")

    def stop(self, timeout: float = 15.0) -> str:
        """Stop the server (SIGTERM) and return everything it printed."""
        if self.process is None:
            return self.output
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._reader is not None:
            self._reader.join(5)
        self.process = None
        return self.output

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
