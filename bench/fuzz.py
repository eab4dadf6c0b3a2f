"""The long fuzz run: every operation, many cases each, against a real server process.

The harnesses of tests/test_fuzz.py (tests/fuzzing.py: Schemathesis' GraphQL mode seeded
with the ids of a fixture world) and tests/test_ws_fuzz.py (tests/ws_fuzzing.py: every
subscription field over both WebSocket protocols), run longer. Prints the cases run, the
server errors (5xx, INTERNAL_SERVER_ERROR, an error without a code, a closed socket, no
answer within 20 s: must be 0), the slowest answer, and the server's peak resident memory
against its resident memory once the world was built (the baseline, same run). Exits 1 if
anything was found.

    .venv/bin/python bench/fuzz.py                 # 200 cases per operation and mode
    .venv/bin/python bench/fuzz.py --examples 20 --ws-examples 40   # a look
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from modelbox.server.config import Settings  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from tests.api import ADMIN_TOKEN, Api  # noqa: E402
from tests.fuzzing import FuzzRun  # noqa: E402
from tests.live import server_env  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402
from tests.test_fuzz import peak_rss  # noqa: E402
from tests.world import build_world, poke_world  # noqa: E402
from tests.ws import LEGACY_WS, TRANSPORT_WS  # noqa: E402
from tests.ws_fuzzing import WsFuzzRun, fetch_fields  # noqa: E402


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def progress(run: FuzzRun) -> None:
    print(f"  {run.operations:3} operations, {run.cases:6} cases, {len(run)} findings", flush=True)


async def main(examples: int, ws_examples: int) -> int:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        settings = Settings(mongodb_uri=db.uri, database="bench_fuzz", admin_token=ADMIN_TOKEN)
        server = await asyncio.to_thread(ServerProcess(server_env(settings)).start)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                api = Api(client)
                world = await build_world(api)
                viewer = await api.token(("alpha", "VIEWER"), name="fuzz-viewer")
                assert server.process is not None
                pid = server.process.pid
                baseline = rss(pid)
                steps = itertools.count(1000)
                ws_run = WsFuzzRun(
                    server.url,
                    [ADMIN_TOKEN, viewer],
                    world,
                    await fetch_fields(client, ADMIN_TOKEN),
                    examples=ws_examples,
                    poke=lambda: poke_world(api, world, next(steps)),
                    protocols=(TRANSPORT_WS, LEGACY_WS),
                )
                started = time.monotonic()
                await ws_run.run()
                ws_elapsed = time.monotonic() - started
            run = FuzzRun(server.url, ADMIN_TOKEN, world, examples=examples)
            started = time.monotonic()
            await asyncio.to_thread(run.run, progress)
            elapsed = time.monotonic() - started
            peak = peak_rss(pid)
        finally:
            await asyncio.to_thread(server.stop)
    print(f"\nsubscriptions, {ws_examples} cases per field and protocol")
    print(f"  {ws_run.report()}".replace("\n", "\n  "))
    print(f"  in {ws_elapsed:.0f} s ({ws_run.cases / ws_elapsed:.0f} cases/s)")
    print(f"\nfuzz, {examples} cases per operation and generation mode")
    print(f"  operations           {run.operations}")
    print(f"  cases                {run.cases:,} in {elapsed:.0f} s ({run.cases / elapsed:.0f}/s)")
    print(f"  server errors        {len(run)}")
    print(f"  slowest answer       {run.slowest * 1000:.0f} ms")
    print(
        f"  server RSS           {baseline / 2**20:.0f} MiB with the world built, "
        f"peak {peak / 2**20:.0f} MiB ({peak / baseline:.2f}x)"
    )
    if len(run):
        print(run.report())
    return 1 if len(run) or len(ws_run) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--ws-examples", type=int, default=200)
    options = parser.parse_args()
    sys.exit(asyncio.run(main(options.examples, options.ws_examples)))
