"""The dashboard in Debian's Chromium: time to first chart, and the browser's cost of live charts.

One run, one machine, a real `modelbox serve` on the embedded database:

* time to first chart: from navigating to a run's page (a fresh page load: sign-in check,
  schema capabilities, the run query with downsampled history) to its chart holding points,
  for a run of 1,000,000 points in one series, against the same for a run of 1,000 points
  (baseline: what a million costs over a thousand).
* live: 10 charts on one run page, each series receiving 10 points/s (one logMetrics of 10
  series every 100 ms) for `--seconds`; the page's main-thread busy time (Chrome's
  `Performance.getMetrics` TaskDuration) and the CPU of every Chromium process, as a share of
  one core, against the same page left idle for as long (baseline).
* the runs table: 100 runs, 5 metric columns, time to a rendered page of 50.

    .venv/bin/python bench/dashboard.py               # full run
    .venv/bin/python bench/dashboard.py --quick       # smaller, for a look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

TOKEN = "mbx_bench-admin-token-for-the-dashboard-bench"
LOG = "mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"
CREATE = """mutation($n: String!) { createExperiment(input: {namespace: "bench", name: $n}) {
  id } }"""
CHUNK = 10_000


def gql(http: httpx.Client, query: str, variables: dict[str, Any]) -> Any:
    body = http.post("/graphql", json={"query": query, "variables": variables}).json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


def run_with(http: httpx.Client, name: str, series: dict[str, int]) -> str:
    """A run whose series `key` holds `points` points (steps 0..points-1)."""
    run_id: str = gql(http, CREATE, {"n": name})["createExperiment"]["id"]
    for key, points in series.items():
        for start in range(0, points, CHUNK):
            steps = list(range(start, min(points, start + CHUNK)))
            values = [1.0 / (1 + s) for s in steps]
            item = {"key": key, "steps": steps, "values": values}
            gql(http, LOG, {"input": {"subjectId": run_id, "series": [item]}})
    return run_id


def chromium_cpu_seconds() -> float:
    """User + system CPU of every Chromium process Playwright started (its profile dirs)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"playwright" not in cmdline or b"chrom" not in cmdline:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def main_thread_busy(cdp: Any) -> float:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return float(metrics["TaskDuration"])


def time_to_first_chart(page: Any, url: str, run_id: str, rounds: int) -> float:
    """Median seconds from navigation to a drawn chart with points, over `rounds` loads."""
    times = []
    for _ in range(rounds):
        page.goto("about:blank")
        start = time.perf_counter()
        page.goto(f"{url}/#/run/{run_id}")
        page.wait_for_selector(".chart[data-key=loss][data-points] canvas", timeout=120_000)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cost(page: Any, cdp: Any, seconds: float) -> tuple[float, float]:
    """Main-thread busy and all-Chromium CPU, each as a share of one core, over `seconds`."""
    busy, cpu, start = main_thread_busy(cdp), chromium_cpu_seconds(), time.perf_counter()
    page.wait_for_timeout(seconds * 1000)
    elapsed = time.perf_counter() - start
    return (
        (main_thread_busy(cdp) - busy) / elapsed,
        (chromium_cpu_seconds() - cpu) / elapsed,
    )


def live_writer(
    http: httpx.Client, run_id: str, keys: list[str], seconds: float, written: list[int]
) -> None:
    """10 points/s on each of `keys`: one logMetrics of every key every 100 ms."""
    start = time.monotonic()
    for tick in range(int(seconds * 10)):
        time.sleep(max(0.0, start + tick / 10 - time.monotonic()))
        step = 1_000 + tick
        series = [{"key": k, "steps": [step], "values": [1.0 / step]} for k in keys]
        gql(http, LOG, {"input": {"subjectId": run_id, "series": series}})
        written.append(step)


def bench(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Chromium is not installed: `make test-browser` installs it")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        env = {
            "MODELBOX_MONGODB_URI": db.uri,
            "MODELBOX_DATABASE": "bench_dashboard",
            "MODELBOX_ADMIN_TOKEN": TOKEN,
        }
        with (
            ServerProcess(env) as server,
            httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300
            ) as http,
        ):
            started = time.perf_counter()
            big = run_with(http, "big", {"loss": args.points})
            print(f"logged {args.points:,} points in {time.perf_counter() - started:.1f} s")
            small = run_with(http, "small", {"loss": 1_000})
            keys = [f"metric_{i}" for i in range(10)]
            live = run_with(http, "live", dict.fromkeys(["loss", *keys[1:]], 1_000))
            for i in range(100):
                run_with(http, f"table-{i:03d}", {})

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{server.url}/")
                page.fill("input[name=token]", TOKEN)
                page.click("#sign-in button")
                page.wait_for_selector("#nav:not([hidden])")

                first_big = time_to_first_chart(page, server.url, big, args.rounds)
                first_small = time_to_first_chart(page, server.url, small, args.rounds)
                print("\ntime to first chart (median of fresh page loads)")
                print(f"  1,000 points            {first_small * 1000:8.0f} ms")
                print(
                    f"  {args.points:,} points    {first_big * 1000:8.0f} ms"
                    f"  ({first_big / first_small:.2f}x the 1,000-point run)"
                )

                page.goto(f"{server.url}/#/run/{live}")
                page.wait_for_selector(".chart[data-key=metric_9][data-points] canvas")
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                idle = cost(page, cdp, args.seconds)
                written: list[int] = []
                writer = threading.Thread(
                    target=live_writer,
                    args=(http, live, ["loss", *keys[1:]], args.seconds, written),
                )
                writer.start()
                busy = cost(page, cdp, args.seconds)
                writer.join()
                chart = page.locator(".chart[data-key=metric_9]")
                chart.wait_for(timeout=30_000)
                page.wait_for_selector(
                    f".chart[data-key=metric_9][data-last-step='{written[-1]}']", timeout=30_000
                )
                print(f"\n10 live charts at 10 points/s each, {args.seconds:.0f} s")
                print(f"  {len(written)} steps written to each series, all shown")
                print(
                    f"  page main thread busy   {busy[0]:6.1%} of a core"
                    f"  (idle page: {idle[0]:.1%})"
                )
                print(
                    f"  all Chromium processes  {busy[1]:6.1%} of a core"
                    f"  (idle page: {idle[1]:.1%})"
                )

                page.goto(f"{server.url}/#/runs")
                page.fill("input[name=metrics]", "loss, metric_1, metric_2, metric_3, metric_4")
                page.fill("input[name=params]", "")
                start = time.perf_counter()
                page.click("#runs-filter button")
                page.wait_for_selector("#runs tbody tr:nth-child(50)")
                print(
                    f"\nruns table, 50 of 103 runs, 5 metric columns: "
                    f"{(time.perf_counter() - start) * 1000:.0f} ms"
                )
                browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 points, 5 s, 1 round")
    args = parser.parse_args()
    args.points = 100_000 if args.quick else 1_000_000
    args.seconds = 5.0 if args.quick else 20.0
    args.rounds = 1 if args.quick else 3
    bench(args)


if __name__ == "__main__":
    main()
