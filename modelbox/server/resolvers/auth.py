"""Who is asking: the bearer token, looked up again for every request and WebSocket operation.

One indexed lookup each time, so a token revoked or expired stops working at once, also on
a socket opened while it was good.
"""

from __future__ import annotations

import logging

from modelbox.server.access import Actor
from modelbox.server.errors import DatabaseUnavailable, Unauthenticated
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.tokens import principal_of

log = logging.getLogger("modelbox")


async def sign_in(ctx: Context, token: str | None) -> None:
    """Make `ctx` act as `token`; without one, or with a bad one, every data field is refused."""
    ctx.token = token
    ctx.actor = Actor("anonymous", None, ctx.actor.client_address, ctx.actor.user_agent)
    ctx._principal, ctx.refusal = None, None
    ctx.fresh_loaders()
    if token is None:
        return
    try:
        record = await ctx.store.tokens.authenticate(token)
    except DatabaseUnavailable as unavailable:
        ctx.refusal = unavailable
        return
    if record is None:
        ctx.refusal = Unauthenticated("the token is invalid, expired or revoked")
        return
    principal = principal_of(record)
    ctx._principal = principal
    ctx.actor = Actor(
        principal.name, principal.token_id, ctx.actor.client_address, ctx.actor.user_agent
    )
