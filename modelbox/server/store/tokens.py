"""API tokens: only their SHA-256 is stored; the token itself is shown once."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict

from bson import ObjectId

from modelbox.server.access import ALL_NAMESPACES, Actor
from modelbox.server.errors import Conflict, NotFound
from modelbox.server.store.audit import AuditAction
from modelbox.server.store.database import Session
from modelbox.server.store.paging import NEWEST_FIRST, Page, find_page
from modelbox.server.store.records import now, object_id
from modelbox.server.store.repository import Repository

TOKEN_PREFIX = "mbx_"
BOOTSTRAP_NAME = "bootstrap-admin"
LAST_USED_EVERY = timedelta(minutes=1)
# The generated admin token's id, always the same: servers starting together on an empty
# database each try to insert it, and all but one get a duplicate key.
BOOTSTRAP_ID = ObjectId("000000000000000000000001")


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _scopes(roles: list[dict[str, str]]) -> list[str]:
    return sorted({role["namespace"] for role in roles})


class RoleRecord(TypedDict):
    namespace: str
    role: str


class TokenRecord(TypedDict):
    """An API token as the store hands it up: its hash, never the token itself."""

    id: str
    name: str
    hash: str
    roles: list[RoleRecord]
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    # Noted at most once a minute (LAST_USED_EVERY); absent until the first request.
    last_used_at: NotRequired[datetime]


class ApiTokens(Repository[TokenRecord]):
    collection_name = "api_tokens"
    object_type = "ApiToken"

    async def create(
        self,
        actor: Actor,
        name: str,
        roles: list[dict[str, str]],
        expires_at: datetime | None,
        token: str | None = None,
        id: ObjectId | None = None,
    ) -> tuple[TokenRecord, str]:
        """Store a new token; returns its record and the token, which is never stored."""
        token = token or new_token()
        document: dict[str, Any] = {
            "name": name,
            "hash": hash_token(token),
            "roles": roles,
            "expires_at": expires_at,
            "revoked_at": None,
            "created_by": actor.name,
            **({"_id": id} if id is not None else {}),
        }

        async def work(session: Session) -> TokenRecord:
            return await self._insert(
                session, actor, document, scopes=_scopes(roles), unaudited=frozenset({"hash"})
            )

        return await self.database.transaction(work), token

    async def revoke(self, actor: Actor, id: str) -> TokenRecord:
        async def work(session: Session) -> TokenRecord:
            doc = await self.collection.find_one_and_update(
                {"_id": object_id(id), "revoked_at": None},
                {"$set": {"revoked_at": now()}},
                session=session,
            )
            if doc is None:
                raise NotFound(f"ApiToken {id} does not exist or is already revoked")
            revoked = {"name": doc["name"], "revoked": True}
            scopes = _scopes(doc["roles"])
            await self._audit(session, actor, AuditAction.DELETED, doc, revoked, scopes=scopes)
            return self._record(doc)

        return await self.database.transaction(work)

    async def authenticate(self, token: str) -> TokenRecord | None:
        """The live token record for `token`: not revoked, not expired. Its last use is
        noted, at most once a minute so busy tokens do not write on every request."""
        doc = await self.collection.find_one({"hash": hash_token(token), "revoked_at": None})
        stamp = now()
        if doc is None or (doc["expires_at"] is not None and doc["expires_at"] <= stamp):
            return None
        used = doc.get("last_used_at")
        if used is None or stamp - used > LAST_USED_EVERY:
            await self.collection.update_one({"_id": doc["_id"]}, {"$set": {"last_used_at": stamp}})
        return self._record(doc)

    async def visible_page(
        self, first: int, after: str | None, administered: frozenset[str] | None, revoked: bool
    ) -> Page:
        """Tokens newest first: all (`administered` None), or those whose every role is in
        one of the `administered` namespaces; revoked ones only when asked for."""
        query = self._visible(administered, revoked)
        return await find_page(
            self.collection, query, NEWEST_FIRST, first, after, self.database.cursors
        )

    async def count(self, administered: frozenset[str] | None, revoked: bool) -> int:
        return await self.collection.count_documents(self._visible(administered, revoked))

    @staticmethod
    def _visible(administered: frozenset[str] | None, revoked: bool) -> dict[str, Any]:
        query: dict[str, Any] = {} if revoked else {"revoked_at": None}
        if administered is not None:
            outside = {"$elemMatch": {"namespace": {"$nin": sorted(administered)}}}
            query["roles"] = {"$not": outside}
        return query

    async def bootstrap_admin(self, actor: Actor, token: str | None) -> str | None:
        """Make sure an admin token exists; returns a generated one so it can be shown once.

        With `token` given (MODELBOX_ADMIN_TOKEN), that token is registered if it is not yet.
        """
        admin = [{"namespace": ALL_NAMESPACES, "role": "ADMIN"}]
        if token is not None:
            if await self.collection.find_one({"hash": hash_token(token)}) is None:
                # Another server starting at the same moment may register it first.
                with contextlib.suppress(Conflict):
                    await self.create(actor, BOOTSTRAP_NAME, admin, None, token=token)
            return None
        if await self.collection.find_one({"name": BOOTSTRAP_NAME}) is not None:
            return None
        try:
            _, generated = await self.create(actor, BOOTSTRAP_NAME, admin, None, id=BOOTSTRAP_ID)
        except Conflict:  # another server starting on the same empty database made it
            return None
        return generated
