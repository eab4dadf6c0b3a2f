"""The audit trail in the graph: `AuditEvent`."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from modelbox.server.graph.enums import AuditAction
from modelbox.server.graph.relay import Node, node_type
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.store.audit import AuditRecord


@node_type
@strawberry.type
class AuditEvent(Node):
    namespace: str | None
    action: AuditAction
    object_type: str
    object_id: strawberry.ID
    actor: str
    client_address: str | None
    user_agent: str | None
    changes: JSON | None
    at: datetime

    @classmethod
    def from_record(cls, r: AuditRecord) -> AuditEvent:
        # A namespace is known by its name, which its events carry as their namespace.
        namespace = r["namespace"] if r["object_type"] == "Namespace" else None
        object_id = namespace or r["object_id"]
        return cls(
            id=to_global_id("AuditEvent", r["id"]),
            namespace=r.get("namespace"),
            action=AuditAction(r["action"]),
            object_type=r["object_type"],
            object_id=to_global_id(r["object_type"], object_id),
            actor=r["actor"],
            client_address=r.get("client_address"),
            user_agent=r.get("user_agent"),
            changes=r.get("changes"),
            at=r["at"],
        )
