"""The JavaScript side of federation (tests/federation/): composition, a JS subgraph, gateways.

Every program runs on a free loopback port in a process group of its own, so stopping it
stops everything it started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import httpx

from modelbox.server.embedded import free_port
from modelbox.server.graph.schema import schema

FEDERATION_DIR = Path(__file__).parent / "federation"
NODE = shutil.which("node")
# `npm ci` writes this last: present means the locked packages are installed.
INSTALLED = FEDERATION_DIR / "node_modules" / ".package-lock.json"


def unavailable() -> str | None:
    """Why the federation tests cannot run here, or None when they can."""
    if NODE is None:
        return (
            "Node.js not found: federation tests skipped "
            "(install Node >= 20; `make test` then runs `npm ci` in tests/federation)"
        )
    if not INSTALLED.exists():
        return "tests/federation has no node_modules: run `make test` (it runs `npm ci` there)"
    return None


def node(*args: str) -> list[str]:
    return [NODE or "node", *args]


class NodeProcess:
    """A program from tests/federation listening on `port`; `ready_path` answers 200 when up."""

    def __init__(self, command: Callable[[int], Sequence[str]], ready_path: str) -> None:
        self.port = free_port()
        self.command = list(command(self.port))
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> NodeProcess:
        env = {**os.environ, "PORT": str(self.port), "NODE_ENV": "test"}
        # A file, not a pipe: a chatty program must never block on a full pipe.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            self.command,
            cwd=FEDERATION_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 30.0) -> NodeProcess:
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited: {self.output()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.command} not ready after {timeout} s: {self.output()}")

    def output(self) -> str:
        if self.log is None or self.log.closed:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, timeout: float = 10.0) -> str:
        """SIGTERM to the whole group, SIGKILL if it lingers; returns what it printed."""
        if self.process is not None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()
            # Anything the program itself started goes with it.
            self._signal(signal.SIGKILL)
            self.process = None
        out = self.output()
        if self.log is not None:
            self.log.close()
        return out

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


def deployments_subgraph() -> NodeProcess:
    return NodeProcess(lambda port: node("deployments.mjs"), "/health")


def hive_gateway(supergraph: Path) -> NodeProcess:
    binary = str(FEDERATION_DIR / "node_modules" / ".bin" / "hive-gateway")
    return NodeProcess(
        lambda port: [
            binary, "supergraph", str(supergraph), "-c", "gateway.config.mjs",
            "--host", "127.0.0.1", "--port", str(port),
        ],
        "/readiness",
    )  # fmt: skip


def apollo_gateway(supergraph: Path) -> NodeProcess:
    return NodeProcess(
        lambda port: node(
            "apollo_gateway.mjs", "--supergraph", str(supergraph), "--port", str(port)
        ),
        "/health",
    )


def modelbox_sdl(directory: Path) -> Path:
    """The ModelBox subgraph SDL, as `modelbox export-schema` prints it."""
    path = directory / "modelbox.graphql"
    path.write_text(schema.as_str() + "\n")
    return path


def deployments_sdl(directory: Path) -> Path:
    path = directory / "deployments.graphql"
    sdl = subprocess.run(
        node("deployments.mjs", "--print-sdl"),
        cwd=FEDERATION_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path.write_text(sdl)
    return path


def compose(
    out: Path, subgraphs: dict[str, tuple[str, Path]], composer: str = "apollo"
) -> subprocess.CompletedProcess[str]:
    """`compose.mjs` over `{name: (graphql url, sdl file)}`; exit status 1 on composition errors.

    `composer`: "apollo" (@apollo/composition) or "guild" (@theguild/federation-composition).
    """
    specs = [f"{name}={url}={sdl}" for name, (url, sdl) in subgraphs.items()]
    return subprocess.run(
        node("compose.mjs", "--out", str(out), "--composer", composer, *specs),
        cwd=FEDERATION_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
