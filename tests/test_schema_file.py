"""`schema.graphql` is the schema the code serves: clients and gateways read that file."""

from __future__ import annotations

from pathlib import Path

from strawberry.printer import print_schema

from modelbox.server.graph.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    exported = print_schema(schema) + "\n"
    assert SCHEMA_FILE.read_text() == exported, (
        "schema.graphql has drifted from the code: run `make schema` and commit it"
    )


def test_contract_names_are_in_the_schema() -> None:
    sdl = SCHEMA_FILE.read_text()
    for name in [
        "node(id: ID!): Node",
        "nodes(ids: [ID!]!): [Node]!",
        "namespaces(first: Int = null, after: String = null): NamespaceConnection!",
        "viewer: Principal!",
        "createModelVersion(input: CreateModelVersionInput!): ModelVersion!",
        "createApiToken(input: CreateApiTokenInput!): CreateApiTokenPayload!",
        'type Model implements Node @key(fields: "id")',
        'type Namespace implements Node @key(fields: "name")',
    ]:
        assert name in sdl, name
