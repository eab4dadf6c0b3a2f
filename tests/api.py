"""A small GraphQL client for the tests, over any httpx client (in-process or a real socket)."""

from __future__ import annotations

from typing import Any

import httpx

ADMIN_TOKEN = "mbx_test-admin-token-for-the-suite-only"


class GraphQLErrors(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = ADMIN_TOKEN
    ) -> dict[str, Any]:
        """The whole response body: `data` and `errors` both, for tests about errors."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return response.json()

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = ADMIN_TOKEN
    ) -> dict[str, Any]:
        """`data`, asserting there were no errors."""
        body = await self.post(query, variables, token)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        return body["data"]

    async def fails(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = ADMIN_TOKEN
    ) -> list[str]:
        """The error codes of a request that must fail."""
        body = await self.post(query, variables, token)
        assert body.get("errors"), f"expected errors, got {body}"
        return [e.get("extensions", {}).get("code") for e in body["errors"]]

    async def token(self, *roles: tuple[str, str], name: str = "test-token") -> str:
        """A new API token with `(namespace, role)` bindings, minted by the admin."""
        data = await self.ok(
            """mutation($input: CreateApiTokenInput!) {
                 createApiToken(input: $input) { token } }""",
            {
                "input": {
                    "name": name,
                    "roles": [{"namespace": ns, "role": role} for ns, role in roles],
                }
            },
        )
        return data["createApiToken"]["token"]

    async def create_model(self, namespace: str, name: str, **fields: Any) -> dict[str, Any]:
        data = await self.ok(
            """mutation($input: CreateModelInput!) {
                 createModel(input: $input) { id name } }""",
            {"input": {"namespace": namespace, "name": name, **fields}},
        )
        return data["createModel"]

    async def create_version(self, model_id: str, **fields: Any) -> dict[str, Any]:
        data = await self.ok(
            """mutation($input: CreateModelVersionInput!) {
                 createModelVersion(input: $input) { id version aliases } }""",
            {"input": {"modelId": model_id, **fields}},
        )
        return data["createModelVersion"]

    async def create_experiment(self, namespace: str, name: str, **fields: Any) -> dict[str, Any]:
        data = await self.ok(
            """mutation($input: CreateExperimentInput!) {
                 createExperiment(input: $input) { id name status } }""",
            {"input": {"namespace": namespace, "name": name, **fields}},
        )
        return data["createExperiment"]

    async def create_checkpoint(
        self, experiment_id: str, step: int, **fields: Any
    ) -> dict[str, Any]:
        data = await self.ok(
            """mutation($input: CreateCheckpointInput!) {
                 createCheckpoint(input: $input) { id step } }""",
            {"input": {"experimentId": experiment_id, "step": step, **fields}},
        )
        return data["createCheckpoint"]
