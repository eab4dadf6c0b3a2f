"""Who the token is, and API tokens (ADMIN): created, listed, revoked."""

from __future__ import annotations

from typing import Any

from modelbox.client import _queries as q
from modelbox.client._base import Base


class Tokens(Base):
    def viewer(self) -> dict[str, Any]:
        return dict(self.graphql(q.VIEWER)["viewer"])

    def create_token(
        self, name: str, roles: dict[str, str], expires_at: str | None = None
    ) -> dict[str, Any]:
        """A new API token (ADMIN); the secret is in the answer's `token`, shown this once."""
        bindings = [{"namespace": ns, "role": role.upper()} for ns, role in roles.items()]
        data = self.graphql(
            q.CREATE_TOKEN, input={"name": name, "roles": bindings, "expiresAt": expires_at}
        )
        return dict(data["createApiToken"])

    def tokens(self) -> list[dict[str, Any]]:
        return list(self._pages(q.TOKENS, ["apiTokens"]))

    def revoke_token(self, token_id: str) -> str:
        return str(
            self.graphql(q.REVOKE_TOKEN, input={"id": token_id})["revokeApiToken"]["deletedId"]
        )
