"""API tokens in the graph: the caller (`Principal`) and its role bindings."""

from __future__ import annotations

from datetime import datetime

import strawberry

from modelbox.server.graph.enums import RoleName
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.store import Record


@strawberry.type
class RoleBinding:
    namespace: str
    role: RoleName


@strawberry.type(description="The caller: the API token a request was made with.")
class Principal:
    id: strawberry.ID
    name: str
    roles: list[RoleBinding]
    expires_at: datetime | None

    @classmethod
    def from_record(cls, r: Record) -> Principal:
        return cls(
            id=to_global_id("ApiToken", r["id"]),
            name=r["name"],
            roles=[
                RoleBinding(namespace=b["namespace"], role=RoleName(b["role"])) for b in r["roles"]
            ],
            expires_at=r.get("expires_at"),
        )
