"""The subgraph contract in-process: entity keys, the pinned federation version, `_entities`.

Runs without Node; tests/test_federation.py covers composition and real gateways.
"""

from __future__ import annotations

from graphql import ObjectTypeDefinitionNode, StringValueNode, parse

from modelbox.server.graph.schema import FEDERATION_VERSION, schema
from tests.api import Api

ENTITIES = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  __typename
  ... on Namespace { name }
  ... on Model { name }
  ... on ModelVersion { version }
  ... on Experiment { name }
  ... on Checkpoint { step }
  ... on Artifact { name } } }"""


def test_entities_are_keyed_as_the_design_says() -> None:
    keys = {}
    for definition in parse(schema.as_str()).definitions:
        if isinstance(definition, ObjectTypeDefinitionNode):
            for directive in definition.directives or []:
                if directive.name.value == "key":
                    (argument,) = directive.arguments
                    assert isinstance(argument.value, StringValueNode)
                    keys[definition.name.value] = argument.value.value
    assert keys == {
        "Namespace": "name",
        "Model": "id",
        "ModelVersion": "id",
        "Experiment": "id",
        "Checkpoint": "id",
        "Artifact": "id",
    }


def test_the_federation_version_is_pinned() -> None:
    # 2.9: what @apollo/composition 2.14 and Hive Gateway 2.15 were shown to compose and serve.
    assert FEDERATION_VERSION == "2.9"
    assert 'schema @link(url: "https://specs.apollo.dev/federation/v2.9"' in schema.as_str()


async def _world(api: Api) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Representations of one entity of each type in `alpha`, and of a model in `beta`."""
    model = await api.create_model("alpha", "m")
    experiment = await api.create_experiment("alpha", "run")
    checkpoint = await api.create_checkpoint(experiment["id"], 7)
    version = await api.create_version(model["id"], experimentId=experiment["id"])
    artifact = await api.ok(
        """mutation($input: TrackArtifactInput!) { trackArtifact(input: $input) { id } }""",
        {"input": {"subjectId": version["id"], "name": "weights", "uri": "s3://b/w.bin"}},
    )
    beta = await api.create_model("beta", "hidden")
    alpha = [
        {"__typename": "Namespace", "name": "alpha"},
        {"__typename": "Model", "id": model["id"]},
        {"__typename": "ModelVersion", "id": version["id"]},
        {"__typename": "Experiment", "id": experiment["id"]},
        {"__typename": "Checkpoint", "id": checkpoint["id"]},
        {"__typename": "Artifact", "id": artifact["trackArtifact"]["id"]},
    ]
    others = [
        {"__typename": "Namespace", "name": "beta"},
        {"__typename": "Model", "id": beta["id"]},
        # An id of the wrong type, and one that names nothing.
        {"__typename": "Experiment", "id": model["id"]},
        {"__typename": "ModelVersion", "id": "bm90LWFuLWlk"},
    ]
    return alpha, others


async def test_entities_resolve_in_order_through_access_control(api: Api) -> None:
    alpha, others = await _world(api)
    viewer = await api.token(("alpha", "VIEWER"))
    data = await api.ok(ENTITIES, {"reps": [*others[:2], *alpha, *others[2:]]}, token=viewer)
    assert data["_entities"] == [
        None,
        None,
        {"__typename": "Namespace", "name": "alpha"},
        {"__typename": "Model", "name": "m"},
        {"__typename": "ModelVersion", "version": 1},
        {"__typename": "Experiment", "name": "run"},
        {"__typename": "Checkpoint", "step": 7},
        {"__typename": "Artifact", "name": "weights"},
        None,
        None,
    ]


async def test_entities_without_a_token_are_refused(api: Api) -> None:
    alpha, _ = await _world(api)
    body = await api.post(ENTITIES, {"reps": alpha}, token=None)
    # Refused before any representation is looked at (tests/test_request_guards.py).
    assert body["data"] is None, body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}
