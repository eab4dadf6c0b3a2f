"""What a policy decides, as pure functions of plain records: no I/O, no GraphQL, no clock.

Conditions hold on a subject's key/value metrics (`{key, value, dataset}`) and labels;
retention picks, from a model's versions (or an experiment's checkpoints), which may go.
Every decision comes with its reasons in words, as the evaluation records show them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

Record = Mapping[str, Any]

COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GT": (">", operator.gt),
    "GTE": (">=", operator.ge),
    "LT": ("<", operator.lt),
    "LTE": ("<=", operator.le),
    "EQ": ("==", operator.eq),
    "NE": ("!=", operator.ne),
}
# compareToAlias reads "better than the holder": the comparison gives the direction.
HIGHER_IS_BETTER = frozenset({"GT", "GTE"})
LOWER_IS_BETTER = frozenset({"LT", "LTE"})
ARCHIVED = {"key": "archived", "value": "true"}


@dataclass(frozen=True)
class Verdict:
    """Whether every condition holds, and why (or why not), one reason per condition."""

    holds: bool
    reasons: list[str] = field(default_factory=list)


def _num(value: float) -> str:
    return f"{value:g}"


def _relation(a: float, b: float) -> str:
    return "<" if a < b else ">" if a > b else "=="


def metric_value(metrics: Sequence[Record], key: str, dataset: str | None) -> float | None:
    """The value of `key` (measured on `dataset`, when one is named) among `metrics`."""
    for metric in metrics:
        if metric.get("key") == key and (dataset is None or metric.get("dataset") == dataset):
            return float(metric["value"])
    return None


def _metric_name(condition: Record) -> str:
    dataset = condition.get("dataset")
    return f"{condition['key']} on {dataset}" if dataset else str(condition["key"])


def _threshold(condition: Record, actual: float) -> tuple[bool, str]:
    symbol, compare = COMPARISONS[condition["op"]]
    threshold = float(condition["value"])
    if compare(actual, threshold):
        return True, f"{_metric_name(condition)} {_num(actual)} {symbol} {_num(threshold)}"
    relation = _relation(actual, threshold)
    return False, f"{_metric_name(condition)} {_num(actual)} {relation} {_num(threshold)}"


def _against_alias(condition: Record, actual: float, holder: Record | None) -> tuple[bool, str]:
    """Better than the version holding the alias by at least `minDelta`."""
    alias = condition["compare_to_alias"]
    name = _metric_name(condition)
    if holder is None:
        return True, f"no version holds {alias!r}"
    label = f"v{holder.get('version')} ({alias})"
    theirs = metric_value(holder.get("metrics") or [], condition["key"], condition.get("dataset"))
    if theirs is None:
        return True, f"{name}: {label} has no value to beat"
    delta = float(condition.get("min_delta") or 0.0)
    op = condition["op"]
    gain = actual - theirs if op in HIGHER_IS_BETTER else theirs - actual
    strict = op in ("GT", "LT")
    better = gain > delta if strict else gain >= delta
    words = f"{name} {_num(actual)} vs {_num(theirs)} for {label}: {gain:+g}"
    need = f"needs {'more than' if strict else 'at least'} {_num(delta)}"
    return better, f"{words} ({need})"


def check(
    conditions: Sequence[Record],
    require_labels: Sequence[Record],
    subject: Record,
    alias_holders: dict[str, Record | None] | None = None,
) -> Verdict:
    """Whether every condition and required label holds on `subject`.

    `alias_holders` maps each alias a condition compares to onto the version holding it
    (None when no version does); the subject itself holding it counts as not being better.
    """
    holders = alias_holders or {}
    metrics = subject.get("metrics") or []
    reasons: list[str] = []
    holds = True
    for condition in conditions:
        actual = metric_value(metrics, condition["key"], condition.get("dataset"))
        if actual is None:
            holds = False
            reasons.append(f"{_metric_name(condition)}: not measured")
            continue
        if condition.get("value") is not None:
            ok, reason = _threshold(condition, actual)
            holds = holds and ok
            reasons.append(reason)
        alias = condition.get("compare_to_alias")
        if alias:
            holder = holders.get(alias)
            if holder is not None and holder.get("id") == subject.get("id"):
                holds = False
                reasons.append(f"this version already holds {alias!r}")
                continue
            ok, reason = _against_alias(condition, actual, holder)
            holds = holds and ok
            reasons.append(reason)
    labels = {(label["key"], label["value"]) for label in subject.get("labels") or []}
    for wanted in require_labels:
        if (wanted["key"], wanted["value"]) in labels:
            reasons.append(f"label {wanted['key']}={wanted['value']} present")
        else:
            holds = False
            reasons.append(f"label {wanted['key']}={wanted['value']} missing")
    return Verdict(holds, reasons)


@dataclass(frozen=True)
class RetentionPlan:
    """What a retention run removes, and why the others stay."""

    remove: list[Record]
    reasons: list[str]


def _carries(subject: Record, labels: Sequence[Record]) -> Record | None:
    held = {(label["key"], label["value"]) for label in subject.get("labels") or []}
    return next((label for label in labels if (label["key"], label["value"]) in held), None)


def retention_plan(policy: Record, subjects: Sequence[Record], at: datetime) -> RetentionPlan:
    """The subjects (versions, or checkpoints) that no rule of `policy` keeps.

    A subject stays when any rule keeps it: among the `keep_last` newest (highest number),
    among the `keep_best` by `keep_best_by`, younger than `max_age_days`; and always when
    it holds an alias or carries one of `protect_labels`. Already archived ones are left be.
    """
    number = "version" if any("version" in s for s in subjects) else "step"
    newest = sorted(subjects, key=lambda s: s[number], reverse=True)
    kept: dict[str, str] = {}
    keep_last = policy.get("keep_last")
    if keep_last is not None:
        for subject in newest[:keep_last]:
            kept.setdefault(subject["id"], f"among the last {keep_last}")
    keep_best, by = policy.get("keep_best"), policy.get("keep_best_by")
    if keep_best is not None and by:
        scored = [(metric_value(s.get("metrics") or [], by, None), s) for s in subjects]
        ranked = [(v, s) for v, s in scored if v is not None]
        lowest_first = policy.get("keep_best_mode") == "min"
        ranked.sort(key=lambda pair: pair[0], reverse=not lowest_first)
        for _, subject in ranked[:keep_best]:
            kept.setdefault(subject["id"], f"among the best {keep_best} by {by}")
    max_age = policy.get("max_age_days")
    if max_age is not None:
        cutoff = at - timedelta(days=float(max_age))
        for subject in subjects:
            if subject["created_at"] > cutoff:
                kept.setdefault(subject["id"], f"younger than {_num(max_age)} days")
    protected = policy.get("protect_labels") or []
    remove: list[Record] = []
    counts: dict[str, int] = {}
    for subject in newest:
        label = _carries(subject, protected)
        archived = policy.get("action") == "ARCHIVE" and _carries(subject, [ARCHIVED])
        if subject.get("aliases"):
            why = "holds an alias"
        elif label is not None:
            why = f"protected by label {label['key']}={label['value']}"
        elif archived:
            why = "already archived"
        else:
            why = kept.get(subject["id"], "")
        if why:
            counts[why] = counts.get(why, 0) + 1
        else:
            remove.append(subject)
    reasons = [f"{count} kept: {why}" for why, count in counts.items()]
    verb = "archive" if policy.get("action") == "ARCHIVE" else "delete"
    reasons.append(f"{len(remove)} to {verb}")
    return RetentionPlan(remove, reasons)
