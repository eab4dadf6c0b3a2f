"""The long fuzz run: every operation, many cases each, against a real server process.

The harness of tests/test_fuzz.py (tests/fuzzing.py: Schemathesis' GraphQL mode seeded
with the ids of a fixture world), run longer. Prints the cases run, the server errors
(5xx, INTERNAL_SERVER_ERROR, no answer within 20 s: must be 0), the slowest answer, and
the server's peak resident memory against its resident memory once the world was built
(the baseline, same run). Exits 1 if anything was found.

    .venv/bin/python bench/fuzz.py                 # 200 cases per operation and mode
    .venv/bin/python bench/fuzz.py --examples 20   # a look
"""

from __future__ import annotations

import argparse
import asyncio
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
from tests.world import build_world  # noqa: E402


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def progress(run: FuzzRun) -> None:
    print(f"  {run.operations:3} operations, {run.cases:6} cases, {len(run)} findings", flush=True)


async def main(examples: int) -> int:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        settings = Settings(mongodb_uri=db.uri, database="bench_fuzz", admin_token=ADMIN_TOKEN)
        server = await asyncio.to_thread(ServerProcess(server_env(settings)).start)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                world = await build_world(Api(client))
            assert server.process is not None
            pid = server.process.pid
            baseline = rss(pid)
            run = FuzzRun(server.url, ADMIN_TOKEN, world, examples=examples)
            started = time.monotonic()
            await asyncio.to_thread(run.run, progress)
            elapsed = time.monotonic() - started
            peak = peak_rss(pid)
        finally:
            await asyncio.to_thread(server.stop)
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
    return 1 if len(run) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=200)
    sys.exit(asyncio.run(main(parser.parse_args().examples)))
