"""The server dies while a script logs: nothing is lost, nothing is stored twice, the
script never waits, and what could not be sent is sent later by `modelbox sync`."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import modelbox
from tests.servers import ServerProcess

POINTS = 100_000


def kill(server: ServerProcess) -> None:
    assert server.process is not None
    server.process.kill()
    server.stop()


def test_every_point_stored_exactly_once_across_a_server_restart(
    user_env: dict[str, str], server: ServerProcess
) -> None:
    run = modelbox.init(
        namespace="ops", experiment="outage", system_metrics=False, capture_code=False
    )
    restarted = threading.Thread(target=server.start)
    for step in range(POINTS):
        run.log({"loss": step * 0.5}, step=step)
        if step % 1000 == 999:
            time.sleep(0.01)  # a training loop's pace: sending is under way when the server dies
        if step == 30_000:
            kill(server)
        if step == 60_000:
            restarted.start()
    restarted.join()
    assert run.finish(timeout=120), "everything reached the restarted server"

    client = modelbox.Client()
    loss = client.metrics("ops/outage")["loss"]
    assert loss.steps == list(range(POINTS)), "every step once, none missing, none repeated"
    assert loss.values == [step * 0.5 for step in range(POINTS)]
    summary = client.graphql(
        'query { namespace(name: "ops") { experiment(name: "outage") {'
        ' metric(key: "loss") { count } } } }'
    )
    assert summary["namespace"]["experiment"]["metric"]["count"] == POINTS


def test_finish_with_the_server_down_returns_and_sync_completes_the_run(
    user_env: dict[str, str], server: ServerProcess
) -> None:
    run = modelbox.init(
        namespace="ops", experiment="offline", system_metrics=False, capture_code=False
    )
    kill(server)
    for step in range(1000):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    started = time.monotonic()
    assert run.finish(timeout=1) is False
    assert time.monotonic() - started < 3, "finish(timeout=1) does not hang on a dead server"
    spools = list(Path(user_env["MODELBOX_SPOOL_DIR"]).glob("*.spool"))
    assert len(spools) == 1

    offline = subprocess.run(
        [sys.executable, "-m", "modelbox", "sync", "--timeout", "3"],
        env=user_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert "ops/offline" in offline.stdout and "not sent" in offline.stdout

    server.start()
    synced = subprocess.run(
        [sys.executable, "-m", "modelbox", "sync"],
        env=user_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "ops/offline: sent" in synced.stdout
    assert not spools[0].exists()

    client = modelbox.Client()
    assert client.experiment("ops/offline")["status"] == "FINISHED"
    assert client.metrics("ops/offline")["loss"].steps == list(range(1000))
