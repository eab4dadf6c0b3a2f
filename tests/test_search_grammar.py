"""The `query:` text grammar: MLflow's search text and what ModelBox adds (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelbox.search.fields import EXPERIMENT_ATTRIBUTES, VERSION_ATTRIBUTES
from modelbox.search.grammar import SearchSyntaxError, parse
from modelbox.search.terms import All, Any_, Attribute, Condition, Label, Metric, Not, Param


def p(text: str) -> object:
    return parse(text, EXPERIMENT_ATTRIBUTES)


def test_mlflow_example_is_a_conjunction_of_a_metric_and_a_param() -> None:
    assert p("metrics.val_acc > 0.9 and params.lr < 0.01") == All(
        (Condition(Metric("val_acc"), "GT", 0.9), Condition(Param(("lr",)), "LT", 0.01))
    )


def test_and_binds_tighter_than_or_and_parentheses_override() -> None:
    a = Condition(Metric("a"), "GT", 1)
    b = Condition(Metric("b"), "GT", 2)
    c = Condition(Metric("c"), "GT", 3)
    assert p("metrics.a > 1 or metrics.b > 2 and metrics.c > 3") == Any_((a, All((b, c))))
    assert p("(metrics.a > 1 or metrics.b > 2) and metrics.c > 3") == All((Any_((a, b)), c))
    assert p("metrics.a > 1 AND metrics.b > 2 OR metrics.c > 3") == Any_((All((a, b)), c))
    assert p("not metrics.a > 1 and metrics.b > 2") == All((Not(a), b))
    assert p("not (metrics.a > 1 and metrics.b > 2)") == Not(All((a, b)))


def test_every_comparison_operator() -> None:
    ops = {"=": "EQ", "==": "EQ", "!=": "NE", "<>": "NE", ">": "GT", ">=": "GTE"}
    ops |= {"<": "LT", "<=": "LTE"}
    for text, op in ops.items():
        assert p(f"metrics.loss {text} 0.5") == Condition(Metric("loss"), op, 0.5)  # type: ignore[arg-type]


def test_metric_aggregates_and_dotted_keys() -> None:
    assert p("metrics.val_acc.max >= 0.95") == Condition(Metric("val_acc", "MAX"), "GTE", 0.95)
    assert p("metrics.loss.MIN < 1") == Condition(Metric("loss", "MIN"), "LT", 1)
    assert p("metrics.loss.last < 1") == Condition(Metric("loss", "LAST"), "LT", 1)
    # A dotted key keeps its dots; a last segment that is not an aggregate is part of the key.
    assert p("metrics.train.loss < 1") == Condition(Metric("train.loss"), "LT", 1)
    assert p("metrics.train.loss.max < 1") == Condition(Metric("train.loss", "MAX"), "LT", 1)
    # Quoting keeps an aggregate-looking name as the key.
    assert p("metrics.`train.max` < 1") == Condition(Metric("train.max"), "LT", 1)
    assert p('metrics."val acc" > 0') == Condition(Metric("val acc"), "GT", 0)
    assert p("metrics.train/loss < 1") == Condition(Metric("train/loss"), "LT", 1)


def test_version_metric_with_dataset() -> None:
    term = parse("metrics.top1@imagenet > 0.8", VERSION_ATTRIBUTES)
    assert term == Condition(Metric("top1", "LAST", "imagenet"), "GT", 0.8)
    term = parse('metrics.top1@"coco val" >= 0.5', VERSION_ATTRIBUTES)
    assert term == Condition(Metric("top1", "LAST", "coco val"), "GTE", 0.5)


def test_in_and_not_in_lists() -> None:
    assert p("params.optimizer in ('adam', \"sgd\")") == Condition(
        Param(("optimizer",)), "IN", ("adam", "sgd")
    )
    assert p("params.optimizer not in ('adam')") == Condition(
        Param(("optimizer",)), "NIN", ("adam",)
    )
    assert p("metrics.a in (1, 2.5)") == Condition(Metric("a"), "IN", (1, 2.5))
    assert p("attributes.status in ('FINISHED', 'failed')") == Condition(
        Attribute("status"), "IN", ("FINISHED", "FAILED")
    )


def test_quoting_of_values() -> None:
    assert p("tags.note = 'it''s'") == Condition(Label("note"), "EQ", "it's")
    assert p('tags.note = "say \\"hi\\""') == Condition(Label("note"), "EQ", 'say "hi"')
    assert p("tags.note = 'a and b or (c)'") == Condition(Label("note"), "EQ", "a and b or (c)")
    assert p('attributes.status = "FINISHED"') == Condition(Attribute("status"), "EQ", "FINISHED")
    assert p("params.`a.b` = 1") == Condition(Param(("a.b",)), "EQ", 1)
    assert p("params.optimizer.lr = 1") == Condition(Param(("optimizer", "lr")), "EQ", 1)
    assert p("params.layers.0.units > 3") == Condition(Param(("layers", "0", "units")), "GT", 3)


def test_params_written_as_strings_find_numbers_too() -> None:
    # MLflow stores params as strings; ModelBox keeps the number the user logged.
    assert p("params.lr = '0.01'") == Condition(Param(("lr",)), "IN", ("0.01", 0.01))
    assert p("params.lr != '0.01'") == Condition(Param(("lr",)), "NIN", ("0.01", 0.01))
    assert p("params.lr < '0.01'") == Condition(Param(("lr",)), "LT", 0.01)
    assert p("params.opt = 'adam'") == Condition(Param(("opt",)), "EQ", "adam")
    assert p("params.depth in ('3', 4)") == Condition(Param(("depth",)), "IN", ("3", 3, 4))


def test_null_like_and_attribute_aliases() -> None:
    assert p("params.lr is null") == Condition(Param(("lr",)), "EXISTS", False)
    assert p("params.lr IS NOT NULL") == Condition(Param(("lr",)), "EXISTS", True)
    assert p("attributes.run_name like 'resnet-%'") == Condition(
        Attribute("name"), "LIKE", "resnet-%"
    )
    assert p("run_name ilike '%Res%'") == Condition(Attribute("name"), "ILIKE", "%Res%")
    assert p("tags.x not like 'a%'") == Not(Condition(Label("x"), "LIKE", "a%"))
    assert p("attributes.user_id = 'ada'") == Condition(Attribute("owner"), "EQ", "ada")
    assert p("status = 'running'") == Condition(Attribute("status"), "EQ", "RUNNING")


def test_times_take_iso_text_or_mlflow_milliseconds() -> None:
    assert p("attributes.start_time >= 1700000000000") == Condition(
        Attribute("started_at"), "GTE", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    )
    assert p("attributes.created_at < '2026-01-02T03:04:05'") == Condition(
        Attribute("created_at"), "LT", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )


def test_version_aliases_test_membership() -> None:
    term = parse("attributes.alias = 'production'", VERSION_ATTRIBUTES)
    assert term == Condition(Attribute("aliases"), "EQ", "production")
    term = parse("alias != 'staging'", VERSION_ATTRIBUTES)
    assert term == Not(Condition(Attribute("aliases"), "IN", ("staging",)))
    assert parse("version >= 3", VERSION_ATTRIBUTES) == Condition(Attribute("version"), "GTE", 3)


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("metrics.val_acc >", 18, "expected a value"),
        ("metrics.val_acc 0.9", 17, "expected a comparison"),
        ("metrics.val_acc > 0.9 and", 26, "expected a name"),
        ("(metrics.a > 1", 15, "expected ')'"),
        ("metrics.a > 1)", 14, "expected 'and', 'or'"),
        ("metrics.a > 'high'", 1, "a metric compares with numbers"),
        ("attributes.colour = 'red'", 1, "unknown attribute 'colour'"),
        ("attributes.status = 'DONE'", 1, "status is one of"),
        ("attributes.start_time > 'yesterday'", 1, "ISO-8601"),
        ("params.lr in ()", 15, "expected a value"),
        ("params.lr in 1", 14, "'(' after 'in'"),
        ("params.lr = 0.1 # comment", 17, "unexpected character '#'"),
        ("tags.note = 'unterminated", 13, "unexpected character"),
        ("metrics. > 1", 10, "expected a name after '.'"),
        ("", 1, "empty query"),
        ("params.lr is 3", 14, "'null' after 'is'"),
        ("metrics.a like 'x%'", 1, "a metric compares with numbers"),
    ],
)
def test_syntax_errors_say_where(text: str, column: int, says: str) -> None:
    with pytest.raises(SearchSyntaxError) as caught:
        p(text)
    assert caught.value.column == column, str(caught.value)
    assert says in str(caught.value)
    assert f"column {column}" in str(caught.value)


def test_nesting_and_length_are_bounded() -> None:
    with pytest.raises(SearchSyntaxError, match="nested deeper"):
        p("(" * 100 + "metrics.a > 1" + ")" * 100)
    with pytest.raises(SearchSyntaxError, match="longer than"):
        p("metrics.a > 1 or " * 400 + "metrics.a > 1")
