"""The server dies while a script logs: nothing is lost, nothing is stored twice, the
script never waits, and what could not be sent is sent later by `modelbox sync`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import modelbox
from modelbox.client import _sender, _spool
from tests.client.lossy import AnswerLosingProxy
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


def test_events_resent_after_a_lost_answer_and_a_restart_are_stored_once(
    user_env: dict[str, str], server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stores a batch of events and dies before answering; the run sends the
    batch again to the restarted server, which stores nothing more."""
    with AnswerLosingProxy(server, b"logEvents") as proxy:
        monkeypatch.setenv("MODELBOX_URL", proxy.url)
        run = modelbox.init(
            namespace="ops", experiment="lost-answer", system_metrics=False, capture_code=False
        )
        for step in range(100):
            run.log({"loss": step * 0.5}, step=step)
            if step % 10 == 0:
                run.log_event("validated", payload={"step": step})
        assert proxy.fired.wait(30), "an events request reached the server"
        kill(server)
        server.start()
        assert run.finish(timeout=120), "everything reached the restarted server"

    client = modelbox.Client(url=server.url)
    experiment = client.experiment("ops/lost-answer")
    steps = [e["payload"]["step"] for e in client.events(experiment["id"])]
    assert steps == list(range(0, 100, 10)), "every event once"
    assert client.metrics("ops/lost-answer")["loss"].steps == list(range(100))


def test_an_events_request_retried_across_a_server_restart_is_stored_once(
    user_env: dict[str, str], server: ServerProcess
) -> None:
    client = modelbox.Client()
    experiment = client.create_experiment("ops", "retried-events")
    request = {
        "query": "mutation($input: LogEventsInput!) { logEvents(input: $input) { id name } }",
        "variables": {
            "input": {
                "subjectId": experiment["id"],
                "idempotencyKey": "trainer-7/batch-1",
                "events": [{"name": "epoch_started"}, {"name": "epoch_ended"}],
            }
        },
    }
    headers = {"Authorization": f"Bearer {user_env['MODELBOX_TOKEN']}"}
    first = httpx.post(f"{server.url}/graphql", json=request, headers=headers, timeout=30)
    kill(server)
    server.start()
    again = httpx.post(f"{server.url}/graphql", json=request, headers=headers, timeout=30)
    assert again.json() == first.json()
    assert [e["name"] for e in first.json()["data"]["logEvents"]] == [
        "epoch_started",
        "epoch_ended",
    ]
    assert len(client.events(experiment["id"])) == 2


def test_an_op_whose_key_the_server_knows_for_another_batch_is_refused_not_split(
    user_env: dict[str, str],
) -> None:
    """A metrics op the server refuses is sent again one series at a time, each under a key
    of its own; one refused for its key must not be, or its points would be stored after all.
    Other refusals still split: the series that is fine is kept."""
    client = modelbox.Client()
    run = client.create_experiment("vision", "reused-key")["id"]
    first = [{"key": "loss", "steps": [0], "values": [1.0]}]
    client.graphql(
        _sender.LOG_METRICS, input={"subjectId": run, "idempotencyKey": "op-1", "series": first}
    )
    other = [
        {"key": "acc", "steps": [0], "values": [0.5]},
        {"key": "f1", "steps": [0], "values": [0.1]},
    ]
    with pytest.raises(modelbox.Conflict, match="idempotencyKey"):
        _sender.send_op(client.transport, run, _spool.Op(_spool.METRICS, "op-1", json.dumps(other)))
    assert sorted(client.metrics(run)) == ["loss"]

    clash = [{"key": "loss", "steps": [1], "tensors": ["[1]"]}, other[0]]
    with pytest.raises(modelbox.BadUserInput, match="loss"):
        _sender.send_op(client.transport, run, _spool.Op(_spool.METRICS, "op-2", json.dumps(clash)))
    assert sorted(client.metrics(run)) == ["acc", "loss"]


def test_log_events_retried_with_its_key_logs_once_and_another_batch_is_refused(
    user_env: dict[str, str],
) -> None:
    client = modelbox.Client()
    run = client.create_experiment("vision", "retried-events")["id"]
    batch = [{"name": "evaluated", "payload": {"acc": 0.9}}]
    logged = client.log_events(run, batch, idempotency_key="eval-1")
    assert client.log_events(run, batch, idempotency_key="eval-1") == logged
    with pytest.raises(modelbox.Conflict, match="idempotencyKey"):
        client.log_events(run, [{"name": "evaluated"}], idempotency_key="eval-1")
    assert [e["id"] for e in client.events(run)] == [logged[0]["id"]]
