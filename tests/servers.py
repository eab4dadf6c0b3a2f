"""Real `modelbox serve` processes on loopback, for tests whose behaviour lives in a socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from modelbox.embedded import free_port


class ServerProcess:
    """`python -m modelbox serve` with the given environment; stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], cwd: Path | None = None) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "MODELBOX_PORT": str(self.port)}
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

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
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not become ready")

    def stop(self, timeout: float = 15.0) -> str:
        """Stop the server and return everything it printed."""
        if self.process is None:
            return "".join(self.output)
        if self.process.poll() is None:
            self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output.append(out or "")
        self.process = None
        return "".join(self.output)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
