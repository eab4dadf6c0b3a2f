"""Relay global ids: opaque to clients, `Type:rawid` inside."""

from __future__ import annotations

import base64
import binascii

import strawberry

from modelbox.server.errors import BadUserInput


def to_global_id(type_name: str, raw_id: str) -> strawberry.ID:
    encoded = base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode()
    return strawberry.ID(encoded.rstrip("="))


def from_global_id(global_id: str) -> tuple[str, str] | None:
    """`(type, raw id)`, or None for a string that is not one of our ids."""
    padded = global_id + "=" * (-len(global_id) % 4)
    try:
        type_name, _, raw_id = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (type_name, raw_id) if type_name and raw_id else None


def expect_id(global_id: str, *type_names: str, field: str = "id") -> tuple[str, str]:
    """Decode an id given in an input, insisting on one of `type_names`."""
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] not in type_names:
        expected = " or ".join(type_names)
        raise BadUserInput(f"{field}: not the id of a {expected}", field=field)
    return decoded
