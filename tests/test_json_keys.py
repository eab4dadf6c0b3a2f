"""User JSON maps round-trip exactly, whatever their keys, and are stored as MongoDB 7/8 allows.

MongoDB restricts field names that start with `$` or contain `.`; the embedded database
accepts them, so the stored documents are checked directly as well as read back.
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from modelbox.server.config import Settings
from modelbox.server.store.keys import decode_key, decode_map, encode_key, encode_map, user_path
from tests.api import Api

NASTY: dict[str, Any] = {
    "$x": 1,
    "a.b": {"$set": {"c.d": [{"$in": 2, ".": 3}]}},
    "%": "percent",
    "%24x": "looks encoded already",
    "%2E": "so does this",
    "$": {"": "empty key inside"},
    "": "empty key",
    "ünï.cødé$": ["lists", {"$deep": {"x.y": None}}],
    "plain": {"nested": [1, 2.5, True, None, "s"]},
}


def restricted_keys(value: Any, path: str = "") -> list[str]:
    """Field names MongoDB refuses or restricts, anywhere in `value`."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("$") or "." in key or key == "":
                found.append(f"{path}/{key}")
            found += restricted_keys(item, f"{path}/{key}")
    elif isinstance(value, list):
        for item in value:
            found += restricted_keys(item, path)
    return found


def stored_restricted_keys(settings: Settings) -> list[str]:
    assert settings.mongodb_uri is not None
    with MongoClient(settings.mongodb_uri) as client:
        database = client[settings.database]
        return [
            f"{name}{key}"
            for name in database.list_collection_names()
            for document in database[name].find({}, {"_id": 0})
            for key in restricted_keys(document)
        ]


async def test_nasty_keys_round_trip_in_every_user_map(api: Api, settings: Settings) -> None:
    model = await api.ok(
        """mutation($input: CreateModelInput!) { createModel(input: $input) { id metadata } }""",
        {"input": {"namespace": "vision", "name": "m", "metadata": NASTY}},
    )
    assert model["createModel"]["metadata"] == NASTY
    model_id = model["createModel"]["id"]
    run = await api.ok(
        """mutation($input: CreateExperimentInput!) {
             createExperiment(input: $input) { id hyperparameters metadata } }""",
        {
            "input": {
                "namespace": "vision",
                "name": "r",
                "hyperparameters": NASTY,
                "metadata": NASTY,
            }
        },
    )
    assert run["createExperiment"]["hyperparameters"] == NASTY
    run_id = run["createExperiment"]["id"]
    changed = {**NASTY, "$x": 2, "new.key": {"$y": 1}}
    updated = await api.ok(
        """mutation($input: UpdateExperimentInput!) {
             updateExperiment(input: $input) { hyperparameters } }""",
        {"input": {"id": run_id, "hyperparameters": changed}},
    )
    assert updated["updateExperiment"]["hyperparameters"] == changed
    checkpoint = await api.create_checkpoint(run_id, 1, metadata=NASTY)
    version = await api.create_version(model_id, metadata=NASTY, experimentId=run_id)
    await api.ok(
        """mutation($input: TrackArtifactInput!) { trackArtifact(input: $input) { id } }""",
        {"input": {"subjectId": run_id, "name": "w", "uri": "s3://b/w", "metadata": NASTY}},
    )
    await api.ok(
        """mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }""",
        {"input": {"subjectId": run_id, "events": [{"name": "e", "payload": NASTY}]}},
    )

    read = await api.ok(
        """query($m: ID!, $r: ID!, $c: ID!, $v: ID!) {
          m: node(id: $m) { ... on Model { metadata } }
          r: node(id: $r) { ... on Experiment { hyperparameters metadata
              artifacts { edges { node { metadata } } }
              events { edges { node { payload } } } } }
          c: node(id: $c) { ... on Checkpoint { metadata } }
          v: node(id: $v) { ... on ModelVersion { metadata } } }""",
        {"m": model_id, "r": run_id, "c": checkpoint["id"], "v": version["id"]},
    )
    assert read["m"]["metadata"] == NASTY
    assert read["r"]["hyperparameters"] == changed
    assert read["r"]["metadata"] == NASTY
    assert read["r"]["artifacts"]["edges"][0]["node"]["metadata"] == NASTY
    assert read["r"]["events"]["edges"][0]["node"]["payload"] == NASTY
    assert read["c"]["metadata"] == NASTY
    assert read["v"]["metadata"] == NASTY

    # The audit trail records the maps as they were given, too.
    audit = await api.ok(
        """{ auditEvents(filter: {objectTypes: ["Experiment"]}) {
             edges { node { action changes } } } }"""
    )
    by_action = {e["node"]["action"]: e["node"]["changes"] for e in audit["auditEvents"]["edges"]}
    assert by_action["CREATED"]["hyperparameters"] == NASTY
    assert by_action["UPDATED"]["hyperparameters"] == {"from": NASTY, "to": changed}

    assert stored_restricted_keys(settings) == []


def test_the_key_encoding_is_reversible_and_leaves_plain_keys_alone() -> None:
    keys = ["$x", "a.b", "%", "%25", "%2E", "%24", "", "%%", "ü.$", "plain", "x$y.z%"]
    for key in keys:
        encoded = encode_key(key)
        assert decode_key(encoded) == key
        assert not encoded.startswith("$") and "." not in encoded and encoded != ""
    assert len({encode_key(k) for k in keys}) == len(keys)
    assert encode_key("learning_rate") == "learning_rate"
    assert decode_map(encode_map(NASTY)) == NASTY
    assert user_path("hyperparameters", "opt.$lr", "a") == "hyperparameters.opt%2E%24lr.a"


async def test_search_finds_hyperparameters_whose_keys_mongodb_restricts(api: Api) -> None:
    # Search paths refuse `$` and split on `.`; a `%` is encoded in the stored key too.
    await api.create_experiment("vision", "dollar", hyperparameters={"lr%": 0.5, "$x": {"b.c": 2}})
    await api.create_experiment("vision", "plain", hyperparameters={"lr%": 0.01})
    found = await api.ok(
        """query($filter: ExperimentFilter) { namespace(name: "vision") {
             experiments(filter: $filter) { edges { node { name hyperparameters } } } } }""",
        {"filter": {"hyperparameters": [{"path": "lr%", "op": "GT", "value": 0.1}]}},
    )
    edges = found["namespace"]["experiments"]["edges"]
    assert [(e["node"]["name"], e["node"]["hyperparameters"]["$x"]) for e in edges] == [
        ("dollar", {"b.c": 2})
    ]
