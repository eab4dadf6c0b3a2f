"""API tokens: who the caller is, and minting and revoking tokens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modelbox.server.access import ALL_NAMESPACES, Principal, Role, RoleBinding
from modelbox.server.errors import BadUserInput, Forbidden, NotFound
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.ids import expect_id
from modelbox.server.resolvers.listing import Listing, page_size
from modelbox.server.store.records import now
from modelbox.server.store.tokens import TokenRecord


def principal_of(token: TokenRecord) -> Principal:
    return Principal(
        token_id=token["id"],
        name=token["name"],
        bindings=tuple(RoleBinding(b["namespace"], Role[b["role"]]) for b in token["roles"]),
        expires_at=token.get("expires_at"),
    )


def _may_manage(ctx: Context, roles: Sequence[Mapping[str, Any]]) -> bool:
    """An admin manages tokens whose every namespace it administers."""
    return all(ctx.principal.can(r["namespace"], Role.ADMIN) for r in roles) and (
        ctx.principal.sees_all_namespaces or all(r["namespace"] != ALL_NAMESPACES for r in roles)
    )


async def viewer(ctx: Context) -> TokenRecord:
    token = await ctx.store.tokens.get(ctx.principal.token_id)
    if token is None:
        raise NotFound("the token of this request no longer exists")
    return token


async def create_api_token(
    ctx: Context, name: str, roles: list[dict[str, str]], expires_at: datetime | None
) -> tuple[TokenRecord, str]:
    validation.object_name(name)
    if not roles:
        raise BadUserInput("roles: a token needs at least one role", field="roles")
    for role in roles:
        if role["namespace"] != ALL_NAMESPACES:
            validation.namespace_name(role["namespace"], "roles.namespace")
    if expires_at is not None and expires_at <= now():
        raise BadUserInput("expiresAt: must be in the future", field="expiresAt")
    if not _may_manage(ctx, roles):
        raise Forbidden("creating this token needs the ADMIN role in every namespace it names")
    return await ctx.store.tokens.create(ctx.actor, name, roles, expires_at)


async def api_tokens(
    ctx: Context, first: int | None, after: str | None, include_revoked: bool | None
) -> Listing:
    """The tokens the caller may manage: all for an ADMIN of "*", else those whose every
    namespace it administers. Never their secret: only its hash is stored."""
    principal = ctx.principal
    administered: frozenset[str] | None = None
    if principal.role_in(None) != Role.ADMIN:
        administered = frozenset(ns for ns in principal.namespaces if principal.can(ns, Role.ADMIN))
        if not administered:
            raise Forbidden("listing API tokens needs the ADMIN role")
    revoked = bool(include_revoked)
    page = await ctx.store.tokens.visible_page(page_size(ctx, first), after, administered, revoked)
    return Listing(page, lambda: ctx.store.tokens.count(administered, revoked))


async def revoke_api_token(ctx: Context, global_id: str) -> str:
    _, raw = expect_id(global_id, "ApiToken")
    token = await ctx.store.tokens.get(raw)
    if token is None or token["revoked_at"] is not None or not _may_manage(ctx, token["roles"]):
        raise NotFound("api token does not exist")
    await ctx.store.tokens.revoke(ctx.actor, raw)
    return raw
