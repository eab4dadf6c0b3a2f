"""Fixtures for the client and CLI tests: a real `modelbox serve` on the test's database,
and a user environment (URL, token, config and spool directories) pointing at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN
from tests.live import server_env
from tests.servers import ServerProcess


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerProcess]:
    with ServerProcess(server_env(settings)) as running:
        yield running


@pytest.fixture
def user_env(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """MODELBOX_URL/TOKEN for the server, config and spool in the test's directory; also
    set in this process, and returned for subprocesses."""
    env = {
        "MODELBOX_URL": server.url,
        "MODELBOX_TOKEN": ADMIN_TOKEN,
        "MODELBOX_CONFIG_DIR": str(tmp_path / "config"),
        "MODELBOX_SPOOL_DIR": str(tmp_path / "spool"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, **env}
