"""Query.apiTokens: admins list the tokens they manage, never their secrets."""

from __future__ import annotations

from tests.api import Api

LIST = """query($revoked: Boolean) { apiTokens(includeRevoked: $revoked) { totalCount
  edges { node { id name roles { namespace role } createdAt expiresAt lastUsedAt
  revokedAt } } } }"""
REVOKE = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }"


async def names(api: Api, token: str | None = None, revoked: bool = False) -> list[str]:
    kwargs = {"token": token} if token else {}
    data = await api.ok(LIST, {"revoked": revoked}, **kwargs)
    return [edge["node"]["name"] for edge in data["apiTokens"]["edges"]]


async def test_admin_lists_tokens_with_roles_and_last_use_but_no_secret(api: Api) -> None:
    trainer = await api.token(("vision", "WRITER"), name="trainer")
    await api.token(("nlp", "VIEWER"), name="reader")
    assert await names(api) == ["reader", "trainer", "bootstrap-admin"]
    await api.ok("{ viewer { name } }", token=trainer)

    data = await api.ok(LIST)
    by_name = {edge["node"]["name"]: edge["node"] for edge in data["apiTokens"]["edges"]}
    assert data["apiTokens"]["totalCount"] == 3
    assert by_name["trainer"]["roles"] == [{"namespace": "vision", "role": "WRITER"}]
    assert by_name["trainer"]["lastUsedAt"] is not None
    assert by_name["reader"]["lastUsedAt"] is None, "never used"
    fields = await api.ok('{ __type(name: "ApiToken") { fields { name } } }')
    assert not {f["name"] for f in fields["__type"]["fields"]} & {"token", "hash", "secret"}


async def test_a_namespace_admin_sees_only_tokens_within_its_namespaces(api: Api) -> None:
    admin = await api.token(("vision", "ADMIN"), name="vision-admin")
    await api.token(("vision", "WRITER"), name="vision-job")
    await api.token(("vision", "VIEWER"), ("nlp", "VIEWER"), name="both")
    await api.token(("*", "VIEWER"), name="everywhere")
    assert await names(api, admin) == ["vision-job", "vision-admin"]


async def test_tokens_are_not_listed_to_writers_and_revoked_ones_only_on_request(api: Api) -> None:
    writer = await api.token(("vision", "WRITER"), name="job")
    body = await api.post(LIST, {}, token=writer)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    data = await api.ok(LIST)
    job = next(e["node"] for e in data["apiTokens"]["edges"] if e["node"]["name"] == "job")
    await api.ok(REVOKE, {"id": job["id"]})
    assert "job" not in await names(api)
    data = await api.ok(LIST, {"revoked": True})
    revoked = [e["node"] for e in data["apiTokens"]["edges"] if e["node"]["name"] == "job"]
    assert revoked[0]["revokedAt"] is not None
