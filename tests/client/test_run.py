"""A training script's view: init, log, params, events, checkpoints, resume, finish."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import modelbox
from modelbox.client import _run
from tests.servers import ServerProcess


def test_three_lines_log_points_params_and_events(user_env: dict[str, str]) -> None:
    run = modelbox.init(
        namespace="vision", experiment="resnet-1", config={"lr": 0.01}, system_metrics=False
    )
    for step in range(50):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 50}, step=step)
    run.log_params({"batch_size": 32})
    run.log_event("epoch_started", payload={"epoch": 1})
    assert run.finish(timeout=30)

    client = modelbox.Client()
    experiment = client.experiment("vision/resnet-1")
    assert experiment["status"] == "FINISHED"
    assert experiment["hyperparameters"] == {"lr": 0.01, "batch_size": 32}
    series = client.metrics("vision/resnet-1")
    assert sorted(series) == ["acc", "loss"]
    assert series["loss"].steps == list(range(50))
    assert series["loss"].values == [1.0 / (s + 1) for s in range(50)]
    assert [e["name"] for e in client.events(experiment["id"])] == ["epoch_started"]
    assert not list(Path(user_env["MODELBOX_SPOOL_DIR"]).glob("*.spool")), (
        "a finished run leaves no spool"
    )


def test_a_dict_refilled_every_step_logs_each_steps_values(user_env: dict[str, str]) -> None:
    run = modelbox.init(namespace="vision", experiment="reused", system_metrics=False)
    metrics: dict[str, float] = {}
    for step in range(5):
        metrics["loss"] = float(step)
        run.log(metrics, step=step)
    assert run.finish(timeout=30)
    assert modelbox.Client().metrics("vision/reused")["loss"].values == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_changing_keys_and_events_between_points_are_each_stored(
    user_env: dict[str, str],
) -> None:
    """Steps logging different keys, with events and params in between, all queued within
    one collector pass: every point lands in its own series, in order, none twice."""
    run = modelbox.init(namespace="vision", experiment="mixed", system_metrics=False)
    for step in range(300):
        run.log({"loss": float(step)}, step=step)
        if step % 10 == 0:
            run.log({"val": step / 10, "loss": -1.0}, step=step)
            run.log_event("validated", payload={"step": step})
        if step == 150:
            run.log_params({"phase": 2})
    run.log({}, step=300)
    assert run.finish(timeout=30)

    client = modelbox.Client()
    series = client.metrics("vision/mixed")
    val_steps = list(range(0, 300, 10))
    loss_steps = sorted([*range(300), *val_steps])
    assert series["loss"].steps == loss_steps
    assert sorted(zip(series["loss"].steps, series["loss"].values, strict=True)) == sorted(
        [(s, float(s)) for s in range(300)] + [(s, -1.0) for s in val_steps]
    )
    assert series["val"].steps == val_steps
    assert series["val"].values == [s / 10 for s in val_steps]
    experiment = client.experiment("vision/mixed")
    events = client.events(experiment["id"])
    assert [e["payload"]["step"] for e in events] == val_steps
    assert experiment["hyperparameters"] == {"phase": 2}


def test_a_loop_faster_than_the_collector_waits_instead_of_queueing_without_bound(
    user_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_run, "MAX_PENDING", 1000)
    run = modelbox.init(namespace="vision", experiment="bounded", system_metrics=False)
    queued = []
    for step in range(20_000):
        run.log({"loss": float(step)}, step=step)
        queued.append(len(run._pending) // 3)
    assert max(queued) <= 1000, "never more than MAX_PENDING points in memory"
    assert run.finish(timeout=30)
    assert modelbox.Client().metrics("vision/bounded")["loss"].steps == list(range(20_000))


def test_checkpoint_and_resume_download_verified_files(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    weights = tmp_path / "ckpt" / "model.bin"
    weights.parent.mkdir()
    weights.write_bytes(bytes(range(256)) * 1000)
    with modelbox.init(namespace="vision", experiment="resumable", system_metrics=False) as run:
        run.log({"loss": 0.5}, step=99)
        checkpoint = run.log_checkpoint(weights.parent, step=100, epoch=2, metrics={"val_acc": 0.9})
        assert [a["name"] for a in checkpoint["artifacts"]] == ["model.bin"]
        assert checkpoint["artifacts"][0]["state"] == "AVAILABLE"

    again = modelbox.init(
        namespace="vision", experiment="resumable", resume=True, system_metrics=False
    )
    path = again.latest_checkpoint(download_to=tmp_path / "restored")
    assert path == tmp_path / "restored" / "model.bin"
    assert path.read_bytes() == weights.read_bytes()
    again.log({"loss": 0.4})
    assert again.finish(timeout=30)
    steps = modelbox.Client().metrics("vision/resumable")["loss"].steps
    assert steps == [99, 100], "metrics continue from the checkpoint's step"


def test_code_and_environment_are_captured(user_env: dict[str, str]) -> None:
    run = modelbox.init(namespace="vision", experiment="captured", system_metrics=False)
    run.finish(timeout=30)
    experiment = modelbox.Client().experiment("vision/captured")
    metadata = experiment["metadata"]
    assert metadata["environment"]["python"].count(".") == 2
    assert metadata["environment"]["host"]
    assert metadata["hardware"]["cpu_count"] >= 1
    assert "git" in metadata["code"], "the suite runs in a git checkout"
    assert len(metadata["code"]["git"]["commit"]) == 40
    names = {a["name"] for a in modelbox.Client().artifacts(experiment["id"])}
    assert "environment/requirements.txt" in names, "pip freeze is kept as an artifact"
    assert any(name.startswith("code/") for name in names), "the entry point is kept"


def test_non_finite_values_round_trip(user_env: dict[str, str]) -> None:
    run = modelbox.init(namespace="vision", experiment="diverging", system_metrics=False)
    values = [0.5, math.nan, math.inf, -math.inf, 0.25]
    for step, value in enumerate(values):
        run.log({"loss": value}, step=step)
    assert run.finish(timeout=30)
    got = modelbox.Client().metrics("vision/diverging")["loss"].values
    assert got[0] == 0.5 and math.isnan(got[1]) and got[2:] == [math.inf, -math.inf, 0.25]


def test_system_metrics_are_sampled(user_env: dict[str, str], server: ServerProcess) -> None:
    run = modelbox.init(namespace="vision", experiment="sysmetrics", system_metrics_interval=0.2)
    import time

    time.sleep(1.2)
    run.finish(timeout=30)
    series = modelbox.Client().metrics("vision/sysmetrics")
    assert {"system/cpu_percent", "system/memory_percent", "system/process_rss_bytes"} <= set(
        series
    )
    assert len(series["system/cpu_percent"]) >= 3
