"""User JSON maps stored so that MongoDB 7/8 keeps any key, and read back exactly.

MongoDB restricts field names that start with `$` or contain `.`, and paths cannot name
an empty one. Keys of user maps (hyperparameters, metadata, event payloads, audit changes)
are therefore stored percent-encoded: `%` as `%25`, `.` as `%2E`, `$` as `%24`, and the
empty key as `%` alone (which no encoded key can be). Nothing else changes, so ordinary
keys are stored as they are and stay addressable by path. The encoding is reversible and
applied at every depth, in lists too: `to_stored` on the way in, `to_record` (records.py)
on the way out. `user_path` builds the path of a key in such a map, for queries.
"""

from __future__ import annotations

import re
from typing import Any

# Fields of stored documents that hold a user's JSON.
USER_MAPS = frozenset({"metadata", "hyperparameters", "payload", "changes"})
_SPECIAL = re.compile(r"[%.$]")
_ENCODED = re.compile(r"%(25|2E|24)")
_DECODED = {"25": "%", "2E": ".", "24": "$"}
EMPTY = "%"


def encode_key(key: str) -> str:
    if not key:
        return EMPTY
    return _SPECIAL.sub(lambda m: f"%{ord(m.group()):02X}", key)


def decode_key(key: str) -> str:
    if key == EMPTY:
        return ""
    return _ENCODED.sub(lambda m: _DECODED[m.group(1)], key) if "%" in key else key


def _map_keys(value: Any, convert: Any) -> Any:
    # Scalars are taken as they are without a call: every record read goes through here.
    if isinstance(value, dict):
        return {
            convert(k): _map_keys(v, convert) if isinstance(v, dict | list) else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_map_keys(v, convert) if isinstance(v, dict | list) else v for v in value]
    return value


def encode_map(value: Any) -> Any:
    """A user JSON value as stored: every object key encoded, at every depth."""
    return _map_keys(value, encode_key)


def decode_map(value: Any) -> Any:
    return _map_keys(value, decode_key)


def to_stored(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of `document` whose user maps are encoded for storage."""
    return {k: encode_map(v) if k in USER_MAPS else v for k, v in document.items()}


def from_stored(document: dict[str, Any]) -> dict[str, Any]:
    return {k: decode_map(v) if k in USER_MAPS else v for k, v in document.items()}


def user_path(field: str, *keys: str) -> str:
    """The dotted path of `keys` inside the user map `field` (`hyperparameters`, …)."""
    return ".".join((field, *map(encode_key, keys)))
