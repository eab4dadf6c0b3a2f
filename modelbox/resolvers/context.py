"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelbox.access import Actor, Principal
from modelbox.config import Settings
from modelbox.errors import Unauthenticated
from modelbox.resolvers.loaders import Loaders
from modelbox.store import Store


@dataclass
class Context:
    store: Store
    settings: Settings
    actor: Actor
    # Why there is no principal, when there is none: shown to every field that needs one.
    authentication_error: str | None = None
    _principal: Principal | None = None
    # What a WebSocket client sent in `connection_init` (Strawberry sets it).
    connection_params: dict[str, object] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.store, lambda: self.principal)

    @property
    def principal(self) -> Principal:
        """The caller; every resolver that reads or writes data goes through here."""
        if self._principal is None:
            raise Unauthenticated(self.authentication_error or "a bearer token is required")
        return self._principal

    def fresh_loaders(self) -> Loaders:
        """Loaders for one operation on a long-lived (WebSocket) context: nothing stale."""
        self.loaders = Loaders(self.store, lambda: self.principal)
        return self.loaders

    def sign_in(self, other: Context) -> None:
        """Take `other`'s identity: a WebSocket authenticates after its context was made."""
        self.actor = other.actor
        self._principal = other._principal
        self.authentication_error = other.authentication_error
        self.fresh_loaders()
