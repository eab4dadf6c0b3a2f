"""The decisions of policies, as pure functions: conditions, reasons, retention plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelbox.server.resolvers.policies.rules import check, retention_plan

AT = datetime(2026, 1, 31, tzinfo=UTC)


def _metric(key: str, value: float, dataset: str | None = None) -> dict[str, object]:
    return {"key": key, "value": value, "dataset": dataset}


def _cond(key: str, op: str, value: float | None = None, **more: object) -> dict[str, object]:
    return {"key": key, "op": op, "value": value, **more}


def test_a_threshold_on_a_dataset_holds_or_says_why_not() -> None:
    subject = {"metrics": [_metric("accuracy", 0.87, "imagenet-val"), _metric("accuracy", 0.95)]}
    verdict = check([_cond("accuracy", "GTE", 0.9, dataset="imagenet-val")], [], subject)
    assert not verdict.holds
    assert verdict.reasons == ["accuracy on imagenet-val 0.87 < 0.9"]
    # Without a dataset the first value of the key counts.
    verdict = check([_cond("accuracy", "LT", 0.9)], [], subject)
    assert verdict.holds and verdict.reasons == ["accuracy 0.87 < 0.9"]


def test_every_condition_and_label_must_hold() -> None:
    subject = {
        "metrics": [_metric("acc", 0.93), _metric("loss", 0.2)],
        "labels": [{"key": "reviewed", "value": "true"}],
    }
    ok = check(
        [_cond("acc", "GT", 0.9), _cond("loss", "LTE", 0.2)],
        [{"key": "reviewed", "value": "true"}],
        subject,
    )
    assert ok.holds
    assert ok.reasons == ["acc 0.93 > 0.9", "loss 0.2 <= 0.2", "label reviewed=true present"]
    missing = check([_cond("acc", "GT", 0.9)], [{"key": "signed-off", "value": "yes"}], subject)
    assert not missing.holds and missing.reasons[-1] == "label signed-off=yes missing"
    unmeasured = check([_cond("f1", "GT", 0.5)], [], subject)
    assert not unmeasured.holds and unmeasured.reasons == ["f1: not measured"]
    for op, value, holds in [("EQ", 0.93, True), ("NE", 0.93, False), ("LT", 0.93, False)]:
        assert check([_cond("acc", op, value)], [], subject).holds is holds


def test_compare_to_alias_needs_the_margin_in_the_direction_of_the_comparison() -> None:
    production = {"id": "p", "version": 3, "metrics": [_metric("acc", 0.90, "val")]}
    higher = _cond("acc", "GT", None, dataset="val", compare_to_alias="production", min_delta=0.01)

    def verdict(value: float, condition: dict[str, object] = higher) -> bool:
        subject = {"id": "s", "metrics": [_metric("acc", value, "val")]}
        return check([condition], [], subject, {"production": production}).holds

    assert verdict(0.92) and not verdict(0.905) and not verdict(0.88)
    # LT: lower is better (a loss); GTE with no margin: equal is enough.
    lower = {**higher, "op": "LT"}
    assert verdict(0.88, lower) and not verdict(0.895, lower)
    assert verdict(0.90, {**higher, "op": "GTE", "min_delta": 0})
    assert not verdict(0.90, {**higher, "op": "GT", "min_delta": 0})
    reasons = check(
        [higher],
        [],
        {"id": "s", "metrics": [_metric("acc", 0.905, "val")]},
        {"production": production},
    ).reasons
    assert reasons == ["acc on val 0.905 vs 0.9 for v3 (production): +0.005 (needs more than 0.01)"]


def test_compare_to_alias_when_nobody_or_the_subject_itself_holds_it() -> None:
    condition = _cond("acc", "GT", None, compare_to_alias="production", min_delta=0.1)
    subject = {"id": "s", "version": 4, "metrics": [_metric("acc", 0.5)]}
    first = check([condition], [], subject, {"production": None})
    assert first.holds and first.reasons == ["no version holds 'production'"]
    itself = check([condition], [], subject, {"production": subject})
    assert not itself.holds and itself.reasons == ["this version already holds 'production'"]
    # A threshold and a comparison together: both must hold.
    both = {**condition, "value": 0.6}
    assert not check([both], [], subject, {"production": None}).holds


def _versions(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"v{i}",
            "version": i,
            "created_at": AT - timedelta(days=n - i),
            "aliases": [],
            "labels": [],
            "metrics": [_metric("acc", (i * 37 % 100) / 100)],
        }
        for i in range(1, n + 1)
    ]


def _removed(policy: dict[str, object], versions: list[dict[str, object]]) -> set[int]:
    return {v["version"] for v in retention_plan(policy, versions, AT).remove}  # type: ignore[misc]


def test_retention_keeps_the_last_and_the_best_and_removes_the_rest() -> None:
    versions = _versions(10)
    assert _removed({"keep_last": 3}, versions) == set(range(1, 8))
    # acc by version: 1:.37 2:.74 3:.11 4:.48 5:.85 6:.22 7:.59 8:.96 9:.33 10:.70
    best = {"keep_last": 2, "keep_best": 2, "keep_best_by": "acc", "keep_best_mode": "max"}
    assert _removed(best, versions) == set(range(1, 11)) - {9, 10, 8, 5}
    worst = {**best, "keep_best_mode": "min"}
    assert _removed(worst, versions) == set(range(1, 11)) - {9, 10, 3, 6}
    plan = retention_plan(best, versions, AT)
    assert plan.reasons == [
        "2 kept: among the last 2",
        "2 kept: among the best 2 by acc",
        "6 to delete",
    ]


def test_retention_never_removes_aliased_or_protected_versions() -> None:
    versions = _versions(6)
    versions[0]["aliases"] = ["production"]
    versions[1]["labels"] = [{"key": "keep", "value": "yes"}]
    versions[2]["labels"] = [{"key": "keep", "value": "no"}]
    policy = {"keep_last": 1, "protect_labels": [{"key": "keep", "value": "yes"}]}
    assert _removed(policy, versions) == {3, 4, 5}
    reasons = retention_plan(policy, versions, AT).reasons
    assert "1 kept: holds an alias" in reasons and "1 kept: protected by label keep=yes" in reasons


def test_retention_by_age_removes_only_what_no_rule_keeps() -> None:
    versions = _versions(10)  # version i is 10 - i days old
    assert _removed({"max_age_days": 3.5}, versions) == set(range(1, 7))
    # Kept by either rule: the last 8, or younger than 3.5 days.
    assert _removed({"max_age_days": 3.5, "keep_last": 8}, versions) == {1, 2}


def test_archiving_leaves_already_archived_versions_alone() -> None:
    versions = _versions(4)
    versions[0]["labels"] = [{"key": "archived", "value": "true"}]
    plan = retention_plan({"keep_last": 1, "action": "ARCHIVE"}, versions, AT)
    assert {v["version"] for v in plan.remove} == {2, 3}
    assert plan.reasons[-1] == "2 to archive"


def test_retention_of_checkpoints_goes_by_step() -> None:
    checkpoints = [
        {"id": f"c{s}", "step": s, "created_at": AT, "metrics": []} for s in (100, 300, 200)
    ]
    assert {c["step"] for c in retention_plan({"keep_last": 1}, checkpoints, AT).remove} == {
        100,
        200,
    }
