"""The `modelbox` command line, run as a user runs it: subprocesses against a real server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import modelbox
from tests.api import ADMIN_TOKEN
from tests.servers import ServerProcess


def mb(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(env: dict[str, str], *args: str) -> str:
    done = mb(env, *args)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def test_login_keeps_url_and_token_for_later_commands_readable_by_the_owner_only(
    user_env: dict[str, str], server: ServerProcess, tmp_path: Path
) -> None:
    env = {k: v for k, v in user_env.items() if k not in ("MODELBOX_URL", "MODELBOX_TOKEN")}
    refused = mb(env, "login", "--url", server.url, "--token", "mbx_wrong")
    assert refused.returncode == 1
    assert "(UNAUTHENTICATED)" in refused.stderr and "Traceback" not in refused.stderr

    out = ok(env, "login", "--url", server.url, "--token", ADMIN_TOKEN)
    assert f"Logged in to {server.url} as bootstrap-admin (*:ADMIN)" in out
    config = Path(env["MODELBOX_CONFIG_DIR"]) / "config.json"
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert json.loads(ok(env, "experiments", "ls", "vision", "--json")) == []


def test_registry_from_experiment_to_aliased_version_and_its_files(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(os.urandom(300_000))
    with modelbox.init(namespace="vision", experiment="resnet-1", system_metrics=False) as run:
        run.log({"loss": 0.5}, step=10)
        checkpoint = run.log_checkpoint(weights, step=10, metrics={"val_acc": 0.91})

    listed = ok(user_env, "experiments", "ls", "vision").splitlines()
    assert listed[0].split() == ["NAME", "STATUS", "OWNER", "STARTED", "ID"]
    assert listed[1].split()[:2] == ["resnet-1", "FINISHED"]
    shown = json.loads(ok(user_env, "experiments", "show", "vision/resnet-1", "--json"))
    assert [c["id"] for c in shown["checkpoints"]] == [checkpoint["id"]]
    assert [s["key"] for s in shown["metricSeries"]] == ["loss"]

    version = json.loads(
        ok(
            user_env,
            *("versions", "register", "vision/resnet", "--from-checkpoint", checkpoint["id"]),
            *("--alias", "staging", "--metric", "val_acc=0.91", "--json"),
        )
    )
    assert (version["version"], version["aliases"]) == (1, ["staging"])
    assert version["checkpoint"]["id"] == checkpoint["id"]
    out = ok(user_env, "versions", "alias", "vision/resnet:1", "production")
    assert out.startswith(f"vision/resnet:1  {version['id']}")
    ok(user_env, "versions", "label", "vision/resnet@production", "stage=prod")
    model = json.loads(ok(user_env, "models", "show", "vision/resnet", "--json"))
    [listed_version] = model["versions"]
    assert listed_version["aliases"] == ["production", "staging"]
    assert listed_version["labels"] == [{"key": "stage", "value": "prod"}]
    assert "resnet" in ok(user_env, "models", "ls", "vision")

    put = json.loads(ok(user_env, "artifacts", "put", version["id"], str(weights), "--json"))
    assert put[0]["name"] == "model.bin" and put[0]["state"] == "AVAILABLE"
    target = tmp_path / "downloaded.bin"
    got = ok(user_env, "artifacts", "get", put[0]["id"], "-o", str(target))
    assert target.read_bytes() == weights.read_bytes()
    assert put[0]["sha256"] in got


def test_metrics_and_events_tail_print_what_is_logged(user_env: dict[str, str]) -> None:
    run = modelbox.init(namespace="vision", experiment="live", system_metrics=False)
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish(timeout=30)
    tail = ok(user_env, "metrics", "tail", "vision/live", "--from-step", "2", "-n", "3", "--json")
    points = [json.loads(line) for line in tail.splitlines()]
    assert [(p["key"], p["step"], p["value"]) for p in points] == [
        ("loss", 2, 1 / 3),
        ("loss", 3, 1 / 4),
        ("loss", 4, 1 / 5),
    ]

    experiment = modelbox.Client().experiment("vision/live")
    events = subprocess.Popen(
        [sys.executable, "-m", "modelbox", "events", "tail", "--namespace", "vision", "-n", "1"],
        env=user_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        # The subscription starts listening a moment after the process starts: poke until heard.
        while events.poll() is None and time.monotonic() < deadline:
            modelbox.Client().log_events(experiment["id"], [{"name": "epoch_started"}])
            time.sleep(0.5)
        out, _ = events.communicate(timeout=10)
    finally:
        events.kill()
    assert events.returncode == 0
    assert "epoch_started" in out


def test_tokens_and_errors(user_env: dict[str, str]) -> None:
    secret = ok(user_env, "tokens", "create", "trainer", "--role", "vision=WRITER").strip()
    assert secret.startswith("mbx_")
    listed = json.loads(ok(user_env, "tokens", "ls", "--json"))
    trainer = next(t for t in listed if t["name"] == "trainer")
    assert trainer["roles"] == [{"namespace": "vision", "role": "WRITER"}]
    assert secret not in json.dumps(listed)

    as_trainer = {**user_env, "MODELBOX_TOKEN": secret}
    forbidden = mb(as_trainer, "tokens", "ls")
    assert forbidden.returncode == 1
    assert forbidden.stderr.strip() == "error: listing API tokens needs the ADMIN role (FORBIDDEN)"

    assert ok(user_env, "tokens", "revoke", trainer["id"]).strip() == f"revoked {trainer['id']}"
    revoked = mb(as_trainer, "experiments", "ls", "vision")
    assert revoked.returncode == 1 and "(UNAUTHENTICATED)" in revoked.stderr

    missing = mb(user_env, "experiments", "show", "vision/nope")
    assert missing.returncode == 1
    assert "no experiment 'vision/nope'" in missing.stderr and "(NOT_FOUND)" in missing.stderr
    bad = mb(user_env, "versions", "register", "vision/resnet", "--alias", "-bad-")
    assert bad.returncode == 1 and "(BAD_USER_INPUT)" in bad.stderr


def test_policies_apply_list_and_test_without_acting(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights")
    with modelbox.init(namespace="vision", experiment="candidate", system_metrics=False) as run:
        good = run.log_checkpoint(weights, step=1, metrics={"val_acc": 0.9})
        poor = run.log_checkpoint(weights, step=2, metrics={"val_acc": 0.5})
    client = modelbox.Client()
    client.graphql('mutation { createModel(input: {namespace: "vision", name: "resnet"}) { id } }')
    spec = {
        "namespace": "vision",
        "name": "promote-good",
        "kind": "PROMOTION",
        "model": "vision/resnet",
        "conditions": [{"key": "val_acc", "op": "GTE", "value": 0.8}],
        "setAlias": "candidate",
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(spec))
    assert ok(user_env, "policies", "apply", str(path)).startswith("created vision/promote-good")
    path.write_text(json.dumps({**spec, "enabled": False}))
    assert ok(user_env, "policies", "apply", str(path)).startswith("updated vision/promote-good")
    [listed] = json.loads(ok(user_env, "policies", "ls", "vision", "--json"))
    assert (listed["name"], listed["kind"], listed["enabled"]) == (
        "promote-good",
        "PROMOTION",
        False,
    )

    passing = ok(user_env, "policies", "test", "vision/promote-good", "--subject", good["id"])
    assert passing.splitlines()[0] == f"DRY_RUN  {good['id']}"
    failing = ok(user_env, "policies", "test", "vision/promote-good", "--subject", poor["id"])
    assert failing.splitlines()[0] == f"SKIPPED  {poor['id']}"
    assert "val_acc" in failing
    assert client.versions("vision/resnet") == [], "a test changes nothing"
    missing = mb(user_env, "policies", "test", "vision/nope")
    assert missing.returncode == 1 and "(NOT_FOUND)" in missing.stderr
