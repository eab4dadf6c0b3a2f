"""A policy is checked whole when it is created or changed; each refusal names its field."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from modelbox.server.errors import BadUserInput
from modelbox.server.resolvers import validation

ACTING = frozenset({"PROMOTION", "LABELING"})
RETENTION = "RETENTION"
RETENTION_FIELDS = (
    "keep_last",
    "keep_best",
    "keep_best_by",
    "keep_best_mode",
    "max_age_days",
    "protect_labels",
)
ACTING_FIELDS = ("conditions", "require_labels", "set_alias", "add_labels", "webhook_url")
DIRECTED = frozenset({"GT", "GTE", "LT", "LTE"})
MAX_URL = 2048
MAX_SECRET = 256
MAX_AGE_DAYS = 36_500


def camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


def webhook_host_allowed(url: str, hosts: tuple[str, ...]) -> bool:
    """Whether `url`'s host is one the operator allows (MODELBOX_WEBHOOK_HOSTS; empty: any)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return not hosts or any(
        host == h.lower() or (h.startswith(".") and host.endswith(h.lower())) for h in hosts
    )


def check_webhook_host(policy: dict[str, Any], hosts: tuple[str, ...]) -> None:
    url = policy.get("webhook_url")
    if url is not None and not webhook_host_allowed(url, hosts):
        raise _refuse("webhook_url", "its host is not one this server may call (webhook_hosts)")


def _refuse(field: str, message: str) -> BadUserInput:
    name = camel(field)
    return BadUserInput(f"{name}: {message}", field=name)


def _given(policy: dict[str, Any], field: str) -> bool:
    return policy.get(field) not in (None, [])


def _condition(condition: dict[str, Any]) -> None:
    validation.check_pattern("conditions.key", condition["key"], validation.LABEL_KEY, "metric key")
    if condition.get("dataset") is not None:
        validation.object_name(condition["dataset"], "conditions.dataset")
    value, alias = condition.get("value"), condition.get("compare_to_alias")
    if value is None and alias is None:
        raise _refuse("conditions.value", "give a value, a compareToAlias, or both")
    if value is not None and not math.isfinite(value):
        raise _refuse("conditions.value", f"{condition['key']} is not a finite number")
    delta = condition.get("min_delta")
    if alias is not None:
        validation.check_pattern("conditions.compareToAlias", alias, validation.ALIAS, "alias")
        if condition["op"] not in DIRECTED:
            raise _refuse("conditions.op", "compareToAlias needs GT, GTE, LT or LTE (better by)")
    if delta is not None:
        if alias is None:
            raise _refuse("conditions.min_delta", "minDelta needs a compareToAlias")
        if not math.isfinite(delta) or delta < 0:
            raise _refuse("conditions.min_delta", "must be a finite number, 0 or more")


def _webhook(policy: dict[str, Any]) -> None:
    url = policy.get("webhook_url")
    if url is None:
        if policy.get("webhook_secret") is not None:
            raise _refuse("webhook_url", "a webhookSecret needs a webhookUrl")
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if len(url) > MAX_URL or not host or parts.scheme not in ("http", "https"):
        raise _refuse("webhook_url", "must be an http:// or https:// URL with a host")
    validation.text(policy.get("webhook_secret"), "webhookSecret", MAX_SECRET)


def _acting(policy: dict[str, Any]) -> None:
    conditions = policy.get("conditions") or []
    if len(conditions) > validation.MAX_LIST:
        raise _refuse("conditions", f"more than {validation.MAX_LIST} conditions")
    if policy["kind"] == "PROMOTION" and not conditions:
        raise _refuse("conditions", "a PROMOTION policy needs at least one condition")
    if not conditions and not policy.get("require_labels"):
        raise _refuse("conditions", "give conditions or requireLabels")
    for condition in conditions:
        _condition(condition)
    validation.labels(policy.get("require_labels"), "requireLabels")
    validation.labels(policy.get("add_labels"), "addLabels")
    if policy.get("set_alias") is not None:
        validation.check_pattern("setAlias", policy["set_alias"], validation.ALIAS, "alias")
    if policy["kind"] == "PROMOTION" and not (
        policy.get("model_id") or policy.get("target_model_id")
    ):
        raise _refuse("model_id", "a PROMOTION policy needs the model that gets the versions")
    _webhook(policy)


def _retention(policy: dict[str, Any]) -> None:
    if bool(policy.get("model_id")) == bool(policy.get("experiment_id")):
        raise _refuse("model_id", "a RETENTION policy is about one model or one experiment")
    if policy.get("target_model_id"):
        raise _refuse("target_model_id", "only for PROMOTION policies")
    if not any(_given(policy, f) for f in ("keep_last", "keep_best", "max_age_days")):
        raise _refuse("keep_last", "give keepLast, keepBest or maxAgeDays")
    for field in ("keep_last", "keep_best"):
        if policy.get(field) is not None and policy[field] < 0:
            raise _refuse(field, "must not be negative")
    if policy.get("keep_best") is not None and not policy.get("keep_best_by"):
        raise _refuse("keep_best_by", "keepBest needs the metric key to rank by")
    if policy.get("keep_best_by") is not None:
        validation.check_pattern(
            "keepBestBy", policy["keep_best_by"], validation.LABEL_KEY, "metric key"
        )
    if policy.get("keep_best_mode") not in (None, "max", "min"):
        raise _refuse("keep_best_mode", 'must be "max" or "min"')
    age = policy.get("max_age_days")
    if age is not None and (not math.isfinite(age) or not 0 < age <= MAX_AGE_DAYS):
        raise _refuse("max_age_days", f"must be a number of days over 0, at most {MAX_AGE_DAYS}")
    validation.labels(policy.get("protect_labels"), "protectLabels")


def check_policy(policy: dict[str, Any]) -> None:
    """Refuse a policy that could never be evaluated as meant (BAD_USER_INPUT, by field)."""
    validation.namespace_name(policy["namespace"])
    validation.object_name(policy["name"])
    kind = policy["kind"]
    others = RETENTION_FIELDS if kind in ACTING else ACTING_FIELDS
    for field in others:
        if _given(policy, field):
            raise _refuse(field, f"not used by {kind} policies")
    if kind in ACTING:
        _acting(policy)
    else:
        _retention(policy)
