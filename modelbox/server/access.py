"""Roles and principals: who is asking, and what they may do where.

Pure data, shared by the store (which persists role bindings) and the
resolvers (which enforce them); no I/O here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

ALL_NAMESPACES = "*"


class Role(enum.IntEnum):
    """Ordered: each role includes everything the lower ones may do."""

    VIEWER = 1
    WRITER = 2
    ADMIN = 3


@dataclass(frozen=True)
class RoleBinding:
    namespace: str
    role: Role


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    bindings: tuple[RoleBinding, ...]
    expires_at: datetime | None = None
    _by_namespace: dict[str, Role] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_namespace: dict[str, Role] = {}
        for binding in self.bindings:
            current = by_namespace.get(binding.namespace)
            if current is None or binding.role > current:
                by_namespace[binding.namespace] = binding.role
        object.__setattr__(self, "_by_namespace", by_namespace)

    def role_in(self, namespace: str | None) -> Role | None:
        """The strongest role this principal holds in `namespace`, counting `*`."""
        roles = [self._by_namespace.get(ALL_NAMESPACES)]
        if namespace is not None:
            roles.append(self._by_namespace.get(namespace))
        held = [role for role in roles if role is not None]
        return max(held) if held else None

    def can(self, namespace: str | None, role: Role) -> bool:
        held = self.role_in(namespace)
        return held is not None and held >= role

    @property
    def sees_all_namespaces(self) -> bool:
        return ALL_NAMESPACES in self._by_namespace

    @property
    def namespaces(self) -> frozenset[str]:
        """The namespaces named in this principal's bindings (not counting `*`)."""
        return frozenset(ns for ns in self._by_namespace if ns != ALL_NAMESPACES)


@dataclass(frozen=True)
class Actor:
    """Who made a change, as recorded in the audit trail."""

    name: str
    token_id: str | None = None
    client_address: str | None = None
    user_agent: str | None = None


SYSTEM_ACTOR = Actor(name="system")
