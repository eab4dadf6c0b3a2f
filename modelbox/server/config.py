"""Settings, read from `MODELBOX_*` environment variables (CLI flags override them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

PREFIX = "MODELBOX_"
# Generated tokens carry 256 random bits; a chosen one must not be guessable either.
MIN_ADMIN_TOKEN_LENGTH = 32


@dataclass(frozen=True)
class Settings:
    # Where the data lives: a MongoDB URI, or (unset) the embedded SecantusDB in `data_dir`.
    mongodb_uri: str | None = None
    database: str = "modelbox"
    data_dir: Path = Path(".modelbox/db")

    host: str = "127.0.0.1"
    port: int = 8000
    # API processes sharing the port (and the one database): live updates work across them.
    workers: int = 1
    # Used to build upload and download URLs when the server sits behind a proxy.
    public_url: str | None = None

    admin_token: str | None = None
    # Signs page cursors; unset, one is generated and kept in the database on first start
    # (every process on the database then shares it).
    cursor_secret: str | None = None
    cors_origins: tuple[str, ...] = ()

    # Limits: every one is named in the error a client gets when it is exceeded.
    max_body_bytes: int = 8 * 1024 * 1024
    # The body of a request without a valid token (HTTP, and WebSocket messages of a socket
    # whose connection_init carried none): enough to ask for the schema, refused unparsed
    # beyond, so an anonymous megabyte costs nothing to refuse.
    max_anonymous_body_bytes: int = 16 * 1024
    # A body or message is refused unparsed beyond these, counted outside its strings: the
    # [ { , and : (a bound on the values and keys its parse creates, which set what the parse
    # costs), and the [ and { alone (lists and objects, the dearest). Room for one logMetrics
    # of max_metric_points_per_request points (up to 8 values and keys, one object each).
    max_json_values: int = 1_000_000
    max_json_containers: int = 200_000
    max_page_size: int = 100
    default_page_size: int = 20
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_metadata_bytes: int = 64 * 1024
    # Artifacts: the largest file one upload may store (checked as it streams).
    max_artifact_bytes: int = 64 * 1024 * 1024 * 1024
    # An upload renews its lease as bytes arrive; the bytes of one whose server died are
    # deleted in the background once its lease is this old.
    upload_lease_seconds: int = 60
    # Metrics: points one logMetrics may carry, one `points` read may return, one plot may ask.
    max_metric_points_per_request: int = 100_000
    max_metric_points_per_read: int = 250_000
    max_downsampled_points: int = 10_000
    # Live updates: changes, and bytes of them, a subscriber may have waiting before it is
    # dropped as too slow.
    subscriber_queue_size: int = 1000
    subscriber_queue_bytes: int = 32 * 1024 * 1024
    # Events: how many one logEvents may carry, and the JSON payload of each.
    max_events_per_request: int = 1000
    max_event_payload_bytes: int = 16 * 1024
    introspection: bool = True
    # Introspection, `_service { sdl }` and GraphiQL without a token: the schema is published
    # with the code, and gateways fetch the SDL to compose; off, they need a valid token.
    public_schema: bool = True
    # Requests: the longest list an argument may hold (metric columns may hold
    # max_metric_points_per_request), and what one request may read across all its fields,
    # aliases included: objects (estimated from the operation before it runs) and points.
    max_list_length: int = 1000
    max_objects_per_request: int = 10_000
    max_points_per_request: int = 1_000_000
    # Connections: the largest request head, and how long a client may take to send one
    # (a connection that sends nothing is closed after that too).
    max_header_bytes: int = 64 * 1024
    header_timeout_seconds: int = 10
    # A GraphQL request body must keep coming: a pause this long ends it (408), and without
    # a valid token the whole (small) body must arrive within it.
    body_timeout_seconds: int = 10

    # Policies: seconds between scheduled retention runs, and how webhooks are retried
    # (`webhook_attempts` calls, waiting `webhook_backoff` seconds, doubled each time).
    policy_interval: float = 3600.0
    # Hosts policy webhooks may call (`name`, or `.domain` for any below it); empty: any.
    webhook_hosts: tuple[str, ...] = ()
    webhook_attempts: int = 5
    webhook_backoff: float = 1.0
    webhook_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.admin_token is not None and len(self.admin_token) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(
                f"{PREFIX}ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} characters long"
                f" (it grants every right in every namespace); got {len(self.admin_token)}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, cls.__dataclass_fields__[f.name].default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _parse(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{PREFIX}{name.upper()} must be true or false, not {raw!r}")
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{PREFIX}{name.upper()} must be a number, not {raw!r}") from None
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{PREFIX}{name.upper()} must be an integer, not {raw!r}") from None
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
