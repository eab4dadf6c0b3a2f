"""Every change is audited with who and from where; a failed change audits nothing."""

from __future__ import annotations

from tests.api import Api

AUDIT = """query($filter: AuditEventFilter) { namespace(name: "audited") {
  auditEvents(first: 50, filter: $filter) { totalCount edges { node {
    action objectType objectId actor clientAddress userAgent changes } } } } }"""


async def _events(api: Api, **filter: object) -> list[dict[str, object]]:
    data = await api.ok(AUDIT, {"filter": filter or None})
    return [e["node"] for e in data["namespace"]["auditEvents"]["edges"]]


async def test_creates_updates_deletes_and_tokens_are_audited_newest_first(api: Api) -> None:
    model = await api.create_model("audited", "m", owner="ana")
    await api.ok(
        'mutation($id: ID!) { updateModel(input: {id: $id, owner: "bo"}) { id } }',
        {"id": model["id"]},
    )
    token = await api.ok(
        """mutation { createApiToken(input: {name: "ci",
             roles: [{namespace: "audited", role: WRITER}]}) { principal { id } } }"""
    )
    token_id = token["createApiToken"]["principal"]["id"]
    await api.ok(
        "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }", {"id": token_id}
    )
    await api.ok(
        "mutation($id: ID!) { deleteModel(input: {id: $id}) { deletedId } }", {"id": model["id"]}
    )

    events = await _events(api)
    summary = [(e["action"], e["objectType"]) for e in events]
    assert summary == [
        ("DELETED", "Model"),
        ("DELETED", "ApiToken"),
        ("CREATED", "ApiToken"),
        ("UPDATED", "Model"),
        ("CREATED", "Model"),
        ("CREATED", "Namespace"),
    ]
    update = events[3]
    assert update["objectId"] == model["id"]
    assert update["changes"] == {"owner": {"from": "ana", "to": "bo"}}
    assert update["actor"] == "bootstrap-admin"
    assert update["clientAddress"] == "127.0.0.1"
    assert update["userAgent"].startswith("python-httpx")
    assert "hash" not in events[2]["changes"]

    only_tokens = await _events(api, objectTypes=["ApiToken"], actions=["DELETED"])
    assert [e["objectId"] for e in only_tokens] == [token_id]


async def test_a_failed_mutation_leaves_no_audit_event(api: Api) -> None:
    await api.create_model("audited", "taken")
    before = await _events(api)
    assert await api.fails(
        'mutation { createModel(input: {namespace: "audited", name: "taken"}) { id } }'
    ) == ["CONFLICT"]
    assert await _events(api) == before


async def test_audit_events_cannot_be_written_through_the_api(api: Api) -> None:
    body = await api.post('mutation { deleteAuditEvent(input: {id: "x"}) { deletedId } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    mutation_fields = await api.ok("{ __schema { mutationType { fields { name } } } }")
    names = [f["name"] for f in mutation_fields["__schema"]["mutationType"]["fields"]]
    assert not [name for name in names if "audit" in name.lower()]


async def test_what_a_delete_takes_with_it_is_audited_one_by_one(api: Api) -> None:
    model = await api.create_model("audited", "parent")
    version = await api.create_version(model["id"])
    tracked = await api.ok(
        """mutation($s: ID!) { trackArtifact(input: {subjectId: $s, name: "weights",
             uri: "s3://bucket/weights.pt"}) { id } }""",
        {"s": version["id"]},
    )
    await api.ok(
        "mutation($id: ID!) { deleteModel(input: {id: $id}) { deletedId } }", {"id": model["id"]}
    )
    deleted = await _events(api, actions=["DELETED"])
    assert {(e["objectType"], e["objectId"]) for e in deleted} == {
        ("Model", model["id"]),
        ("ModelVersion", version["id"]),
        ("Artifact", tracked["trackArtifact"]["id"]),
    }
