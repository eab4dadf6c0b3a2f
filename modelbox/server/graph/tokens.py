"""API tokens in the graph: the caller (`Principal`) and its role bindings."""

from __future__ import annotations

from datetime import datetime

import strawberry

from modelbox.server.graph.enums import RoleName
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.store.tokens import TokenRecord


@strawberry.type
class RoleBinding:
    namespace: str
    role: RoleName


@strawberry.type(description="An API token as its admins see it: never its secret.")
class ApiToken:
    id: strawberry.ID
    name: str
    roles: list[RoleBinding]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = strawberry.field(
        description="Its last request, to the minute (null if never used)."
    )
    revoked_at: datetime | None
    created_by: str | None

    @classmethod
    def from_record(cls, r: TokenRecord) -> ApiToken:
        return cls(
            id=to_global_id("ApiToken", r["id"]),
            name=r["name"],
            roles=_bindings(r),
            created_at=r["created_at"],
            expires_at=r.get("expires_at"),
            last_used_at=r.get("last_used_at"),
            revoked_at=r.get("revoked_at"),
            created_by=r.get("created_by"),
        )


def _bindings(r: TokenRecord) -> list[RoleBinding]:
    return [RoleBinding(namespace=b["namespace"], role=RoleName(b["role"])) for b in r["roles"]]


@strawberry.type(description="The caller: the API token a request was made with.")
class Principal:
    id: strawberry.ID
    name: str
    roles: list[RoleBinding]
    expires_at: datetime | None

    @classmethod
    def from_record(cls, r: TokenRecord) -> Principal:
        return cls(
            id=to_global_id("ApiToken", r["id"]),
            name=r["name"],
            roles=_bindings(r),
            expires_at=r.get("expires_at"),
        )
