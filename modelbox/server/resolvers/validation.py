"""Input checks shared by the mutations; every message names the field it is about."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from modelbox.server.errors import BadUserInput, PayloadTooLarge

NAMESPACE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
OBJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,62}")
ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,62}")
MAX_TEXT = 10_000
MAX_SHORT_TEXT = 256
MAX_LIST = 100
MAX_IDEMPOTENCY_KEY = 256


def check_pattern(field: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise BadUserInput(
            f"{field}: {value[:80]!r} is not a valid {what} ({pattern.pattern})", field=field
        )
    return value


def namespace_name(value: str, field: str = "namespace") -> str:
    return check_pattern(field, value, NAMESPACE_NAME, "namespace name")


def object_name(value: str, field: str = "name") -> str:
    return check_pattern(field, value, OBJECT_NAME, "name")


def text(value: str | None, field: str, limit: int = MAX_TEXT) -> str | None:
    if value is not None and len(value) > limit:
        raise BadUserInput(f"{field}: longer than {limit} characters", field=field)
    return value


def idempotency_key(value: str | None) -> str | None:
    """logMetrics' and logEvents' `idempotencyKey`."""
    return text(value, "idempotencyKey", MAX_IDEMPOTENCY_KEY)


def json_value(
    value: Any, field: str, limit_bytes: int, setting: str = "max_metadata_bytes"
) -> Any:
    """JSON metadata: finite numbers only, and at most `limit_bytes` (`setting`) once encoded."""
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise BadUserInput(f"{field}: not a JSON value", field=field) from None
    if size > limit_bytes:
        raise PayloadTooLarge(
            f"{field}: {size} bytes of JSON, over the limit of {limit_bytes} ({setting})",
            field=field,
            limit=limit_bytes,
        )
    return value


def labels(values: list[dict[str, str]] | None, field: str = "labels") -> list[dict[str, str]]:
    values = values or []
    if len(values) > MAX_LIST:
        raise BadUserInput(f"{field}: more than {MAX_LIST} labels", field=field)
    for label in values:
        check_pattern(f"{field}.key", label["key"], LABEL_KEY, "label key")
        text(label["value"], f"{field}.value", MAX_SHORT_TEXT)
    return values


def aliases(values: list[str] | None, field: str = "aliases") -> list[str]:
    values = values or []
    if len(set(values)) != len(values):
        raise BadUserInput(f"{field}: the same alias is given twice", field=field)
    for alias in values:
        check_pattern(field, alias, ALIAS, "alias")
    return values


def key_values(values: list[dict[str, Any]] | None, field: str = "metrics") -> list[dict[str, Any]]:
    values = values or []
    if len(values) > MAX_LIST:
        raise BadUserInput(f"{field}: more than {MAX_LIST} metrics", field=field)
    # One value per key and dataset: "accuracy" may be measured on several datasets.
    keys = [(item["key"], item.get("dataset")) for item in values]
    if len(set(keys)) != len(keys):
        raise BadUserInput(f"{field}: the same key is given twice for one dataset", field=field)
    for item in values:
        check_pattern(f"{field}.key", item["key"], LABEL_KEY, "metric key")
        if item.get("dataset") is not None:
            object_name(item["dataset"], f"{field}.dataset")
        if not math.isfinite(item["value"]):
            raise BadUserInput(f"{field}.value: {item['key']} is not a finite number", field=field)
    return values


def datasets(values: list[dict[str, Any]] | None, field: str = "datasets") -> list[dict[str, Any]]:
    values = values or []
    if len(values) > MAX_LIST:
        raise BadUserInput(f"{field}: more than {MAX_LIST} datasets", field=field)
    for dataset in values:
        object_name(dataset["name"], f"{field}.name")
        for key in ("uri", "digest", "role"):
            text(dataset.get(key), f"{field}.{key}", 2048)
    return values


def page_size(first: int | None, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 0:
        raise BadUserInput("first: must not be negative", field="first")
    if first > maximum:
        raise BadUserInput(
            f"first: {first} is over the maximum page size of {maximum} (max_page_size)",
            field="first",
            limit=maximum,
        )
    return first
