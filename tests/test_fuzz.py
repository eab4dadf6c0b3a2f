"""A bounded fuzz run against a real server: no 5xx, no INTERNAL_SERVER_ERROR, no hang.

About a minute on an idle machine; bench/fuzz.py runs the long one. MODELBOX_FUZZ_EXAMPLES
sets the cases per operation and mode.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN
from tests.fuzzing import FuzzRun
from tests.live import running
from tests.world import build_world

EXAMPLES = int(os.environ.get("MODELBOX_FUZZ_EXAMPLES", "6"))
# A loaded machine may take longer than the minute; past this the run stops and fails.
DEADLINE_SECONDS = 600
# The server's peak resident memory must stay below this (it starts near 100 MiB).
PEAK_RSS_LIMIT = 1024 * 1024 * 1024


def peak_rss(pid: int) -> int:
    """The high-water mark of a process's resident memory, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def test_fuzzing_every_operation_with_real_ids_finds_no_server_error(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(settings) as (server, api):
        world = await build_world(api)
        run = FuzzRun(server.url, ADMIN_TOKEN, world, examples=EXAMPLES, seed=0)
        run.deadline = time.monotonic() + DEADLINE_SECONDS
        await asyncio.to_thread(run.run)
        assert server.process is not None
        peak = peak_rss(server.process.pid)
        healthy = await api.client.get("/healthz")
    with capsys.disabled():
        print(f"\nfuzz: {run.report()}; peak server RSS {peak / 2**20:.0f} MiB")
    assert not run.out_of_time, f"not done in {DEADLINE_SECONDS} s: {run.report()}"
    assert run.operations >= 20 and run.cases >= run.operations * EXAMPLES
    assert len(run) == 0, run.report()
    assert peak < PEAK_RSS_LIMIT
    assert healthy.status_code == 200
