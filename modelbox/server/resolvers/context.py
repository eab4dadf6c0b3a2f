"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelbox.server.access import Actor, Principal
from modelbox.server.config import Settings
from modelbox.server.errors import BadUserInput, ModelBoxError, Unauthenticated
from modelbox.server.resolvers.loaders import Loaders
from modelbox.server.store import Store

if TYPE_CHECKING:
    from modelbox.server.resolvers.policies.engine import PolicyEngine


@dataclass
class Context:
    store: Store
    settings: Settings
    actor: Actor
    # Why there is no principal, when there is none: raised by every field that needs one.
    refusal: ModelBoxError | None = None
    _principal: Principal | None = None
    # What a WebSocket client sent in `connection_init` (Strawberry sets it).
    connection_params: dict[str, object] | None = None
    # Where the request reached us (`scheme://host[/root]`): the base of artifact URLs
    # unless `settings.public_url` names another.
    base_url: str | None = None
    # The bearer token the caller presented, checked again for each WebSocket operation.
    token: str | None = field(default=None, repr=False)
    # A WebSocket's context outlives its operations: each operation runs on a copy.
    websocket: bool = False
    # The process's policy engine, for policies evaluated by hand (set by the app).
    policies: PolicyEngine | None = None
    # Made when first used: a subscription refreshes them per delivery, most never use them.
    _loaders: Loaders | None = field(default=None, init=False, repr=False)
    # Reads shared by every subscriber a change is handed to (see `fresh_loaders`).
    _shared_reads: dict[Any, Any] | None = field(default=None, init=False, repr=False)
    # Metric points this operation has read so far (max_points_per_request).
    points_read: int = field(default=0, init=False)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.store, lambda: self.principal, self._shared_reads)
        return self._loaders

    @property
    def principal(self) -> Principal:
        """The caller; every resolver that reads or writes data goes through here."""
        if self._principal is None:
            raise self.refusal or Unauthenticated("a bearer token is required")
        return self._principal

    def fresh_loaders(self, shared_reads: dict[Any, Any] | None = None) -> None:
        """Loaders for one operation on a long-lived (WebSocket) context: nothing stale.

        A subscription passes its change's memo: the records read for that change are then
        read once for all its subscribers, each of which still checks its own access.
        """
        self._loaders = None
        self._shared_reads = shared_reads

    @property
    def signed_in(self) -> bool:
        return self._principal is not None

    def read_points(self, count: int) -> None:
        """Count `count` points against the request's budget before they are read."""
        limit = self.settings.max_points_per_request
        if self.points_read + count > limit:
            raise BadUserInput(
                f"this request would read more than {limit} metric points across its fields"
                " (max_points_per_request): ask fewer series, a smaller limit or maxPoints",
                limit=limit,
            )
        self.points_read += count
