"""A checkpoint changed after the fact, from Python (`Client.update_checkpoint`) and from
the command line (`modelbox experiments update-checkpoint`), against a real server."""

from __future__ import annotations

import json

import pytest

import modelbox
from tests.client.test_cli import mb, ok


def test_update_checkpoint_replaces_what_is_given_and_keeps_the_rest(
    user_env: dict[str, str],
) -> None:
    client = modelbox.Client()
    run = client.create_experiment("vision", "evaluated")
    checkpoint = client.create_checkpoint(run["id"], 10, metrics={"acc": 0.5}, metadata={"a": 1})

    updated = client.update_checkpoint(checkpoint["id"], metrics={"acc": 0.75, "f1": 0.5})
    assert updated["metrics"] == [{"key": "acc", "value": 0.75}, {"key": "f1", "value": 0.5}]
    assert updated["metadata"] == {"a": 1}, "left out, metadata stays"
    updated = client.update_checkpoint(checkpoint["id"], metadata={"b": 2})
    assert (len(updated["metrics"]), updated["metadata"]) == (2, {"b": 2})
    updated = client.update_checkpoint(checkpoint["id"], metrics=None)
    assert (updated["metrics"], updated["metadata"]) == ([], {"b": 2})
    updated = client.update_checkpoint(checkpoint["id"], metrics={"acc": 0.9}, metadata=None)
    assert (updated["metrics"], updated["metadata"]) == ([{"key": "acc", "value": 0.9}], None)
    [listed] = client.checkpoints("vision/evaluated")
    assert listed["metrics"] == [{"key": "acc", "value": 0.9}]
    # JSON cannot carry NaN or an infinity to the API's Float: refused before sending.
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"'acc'.*finite"):
            client.update_checkpoint(checkpoint["id"], metrics={"acc": value})
    assert client.checkpoints("vision/evaluated")[0]["metrics"] == listed["metrics"]

    # Another namespace's writer does not find it; a reader may not change it; a revoked
    # token is refused; and none of them changed anything.
    outsider = client.create_token("outsider", {"nlp": "WRITER"})
    reader = client.create_token("reader", {"vision": "VIEWER"})
    revoked = client.create_token("revoked", {"vision": "WRITER"})
    client.revoke_token(revoked["principal"]["id"])
    refusals = [
        (outsider, modelbox.NotFound),
        (reader, modelbox.Forbidden),
        (revoked, modelbox.Unauthenticated),
    ]
    for token, error in refusals:
        with modelbox.Client(token=token["token"]) as other, pytest.raises(error):
            other.update_checkpoint(checkpoint["id"], metrics={"acc": 0.0})
    assert client.checkpoints("vision/evaluated") == [listed]
    with pytest.raises(modelbox.BadUserInput, match="metrics"):
        client.update_checkpoint(checkpoint["id"], metrics={"bad key!": 1.0})


def test_the_update_checkpoint_command(user_env: dict[str, str]) -> None:
    client = modelbox.Client()
    run = client.create_experiment("vision", "cli-evaluated")
    checkpoint = client.create_checkpoint(run["id"], 20, metrics={"acc": 0.5}, metadata={"a": 1})
    id_ = checkpoint["id"]

    printed = ok(user_env, "experiments", "update-checkpoint", id_, "--metric", "acc=0.8")
    assert printed.split() == ["STEP", "EPOCH", "METRICS", "ID", "20", "-", "acc=0.8", id_]
    out = ok(user_env, "experiments", "update-checkpoint", id_, "--metadata", '{"b": 2}', "--json")
    assert json.loads(out)["metadata"] == {"b": 2}
    assert json.loads(out)["metrics"] == [{"key": "acc", "value": 0.8}]
    out = ok(user_env, "experiments", "update-checkpoint", id_, "--clear-metrics", "--json")
    assert (json.loads(out)["metrics"], json.loads(out)["metadata"]) == ([], {"b": 2})

    nothing = mb(user_env, "experiments", "update-checkpoint", id_)
    assert nothing.returncode == 2 and "--metric" in nothing.stderr
    for text in ("nan", "inf", "abc"):
        refused = mb(user_env, "experiments", "update-checkpoint", id_, "--metric", f"acc={text}")
        assert refused.returncode == 2 and f"acc={text}" in refused.stderr
        assert "Traceback" not in refused.stderr
    bad = mb(user_env, "experiments", "update-checkpoint", id_, "--metadata", "{not json")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    unknown = mb(
        user_env, "experiments", "update-checkpoint", "Q2hlY2twb2ludDpubw", "--clear-metrics"
    )
    assert unknown.returncode == 1 and "(NOT_FOUND)" in unknown.stderr
    assert client.checkpoints("vision/cli-evaluated")[0]["metrics"] == []
