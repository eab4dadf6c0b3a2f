"""Cursors the server signs: a caller can hand one back, never make or alter one.

A cursor is the sort values of the last item of a page, in a small typed JSON form (only
null, booleans, numbers, strings, ObjectIds, datetimes, lists and maps can come out of
it), followed by an HMAC-SHA256 of that JSON under a server secret. The secret is the
`cursor_secret` setting, or else one generated and stored in the database on first start,
so every API process on the database signs and checks alike.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

import orjson
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from modelbox.server.errors import InvalidCursor

SECRETS_COLLECTION = "server_secrets"
SECRET_ID = "cursor_hmac"
# Longer than any cursor the server hands out (a few sort values).
MAX_CURSOR_CHARS = 2048
MAC_BYTES = 16


def _plain(value: Any) -> Any:
    """`value` as [tag, JSON]: the tag says which type to read back."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, ObjectId):
        return ["o", str(value)]
    if isinstance(value, datetime):
        return ["d", value.isoformat()]
    if isinstance(value, list | tuple):
        return ["l", [_plain(v) for v in value]]
    if isinstance(value, dict):
        return ["m", [[str(k), _plain(v)] for k, v in value.items()]]
    raise TypeError(f"a cursor cannot hold a {type(value).__name__}")


def _typed(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    tag, inner = value  # a list of two, or this raises
    if tag == "o":
        return ObjectId(inner)
    if tag == "d":
        return datetime.fromisoformat(inner)
    if tag == "l":
        return [_typed(v) for v in inner]
    if tag == "m":
        return {str(k): _typed(v) for k, v in inner}
    raise ValueError(tag)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    """Signs and checks cursors with one key (see `load_secret`)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        # One-shot `digest` with the name: OpenSSL's, without building an HMAC object.
        return hmac.digest(self._key, payload, "sha256")[:MAC_BYTES]

    def encode(self, values: list[Any]) -> str:
        payload = orjson.dumps(_plain(values))
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, cursor: str) -> list[Any]:
        """The values of a cursor this server made; anything else is BAD_USER_INPUT."""
        try:
            if len(cursor) > MAX_CURSOR_CHARS:
                raise ValueError("too long")
            body, mac = cursor.split(".")
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                raise ValueError("not signed here")
            values = _typed(orjson.loads(payload))
            if not isinstance(values, list):
                raise ValueError("not a list")
            return values
        except Exception:
            raise InvalidCursor("not a cursor this list handed out") from None


# Servers starting together on an empty database race to store the secret.
UPSERT_ATTEMPTS = 5


class Signed:
    """A page's cursors, each signed when read: most queries read one (`endCursor`), and
    signing every edge's cost a page of 100 a hundred HMACs."""

    __slots__ = ("_codec", "_values")

    def __init__(self, codec: Cursors, values: list[list[Any]]) -> None:
        self._codec = codec
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: int) -> str:
        return self._codec.encode(self._values[index])


async def load_secret(collection: AsyncCollection[Any], configured: str | None) -> bytes:
    """The configured secret, or the database's (made by whichever process starts first)."""
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    for _ in range(UPSERT_ATTEMPTS):
        try:
            stored = await collection.find_one_and_update(
                {"_id": SECRET_ID},
                {"$setOnInsert": {"key": secrets.token_bytes(32)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # Another process inserted it between our look and our insert: theirs it is,
            # once it can be read (servers starting together race here).
            stored = await collection.find_one({"_id": SECRET_ID})
        if stored is not None:
            return bytes(stored["key"])
        await asyncio.sleep(0.05)
    raise RuntimeError("the cursor secret could be neither stored nor read")
