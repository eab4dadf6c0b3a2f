"""The `query:` text: a superset of MLflow's search grammar, parsed into `terms`.

    metrics.val_acc > 0.9 and params.lr < 0.01
    (params.optimizer = "adam" or params.optimizer in ("sgd", 'lamb')) and not tags.stale = "1"
    metrics.val_acc.max >= 0.95 and attributes.status = "FINISHED"
    metrics.top1@imagenet > 0.8            (a version metric on one dataset)
    params.lr is not null and attributes.run_name like "resnet-%"

`and` binds tighter than `or`; `not` tighter than both. Names with dots or spaces are quoted
with backticks or double quotes (metrics.`train.max`, params."my lr"). Values are numbers,
'single' or "double" quoted strings, true, false.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

from modelbox.search.lexer import SearchSyntaxError, Token, as_number, tokenize, unquote
from modelbox.search.terms import (
    All,
    Any_,
    Attribute,
    Condition,
    Label,
    Metric,
    Not,
    Op,
    Param,
    Subject,
    Term,
)

MAX_QUERY_LENGTH = 4096
MAX_NESTING = 32


@dataclass(frozen=True)
class AttributeSpec:
    """A searchable document field: `text`, `time` (datetime), `choice`, `number`,
    or `tags` (a list of strings that `=` tests membership of)."""

    name: str
    kind: Literal["text", "time", "choice", "number", "tags"] = "text"
    choices: frozenset[str] = frozenset()


ENTITIES = {
    **dict.fromkeys(("metric", "metrics"), "metric"),
    **dict.fromkeys(("param", "params", "parameter", "parameters", "hyperparameters"), "param"),
    **dict.fromkeys(("tag", "tags", "label", "labels"), "label"),
    **dict.fromkeys(("attribute", "attributes", "attr", "run", "version"), "attribute"),
}
COMPARATORS: dict[str, Op] = {
    "=": "EQ",
    "==": "EQ",
    "!=": "NE",
    "<>": "NE",
    ">": "GT",
    ">=": "GTE",
    "<": "LT",
    "<=": "LTE",
}
KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false"})


class _Parser:
    def __init__(self, text: str, attributes: Mapping[str, AttributeSpec]) -> None:
        self.text = text
        self.attributes = attributes
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    # -- helpers ---------------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, message: str, token: Token | None = None) -> NoReturn:
        raise SearchSyntaxError(message, (token or self.token).column, self.text)

    def accept(self, *words: str) -> bool:
        if self.token.word in words or (self.token.kind == "punct" and self.token.text in words):
            self.advance()
            return True
        return False

    def expect(self, text: str, what: str) -> None:
        if not self.accept(text):
            self.fail(f"expected {what}")

    # -- expressions -----------------------------------------------------------------------
    def parse(self) -> Term:
        if self.token.kind == "end":
            self.fail("empty query")
        term = self.disjunction()
        if self.token.kind != "end":
            self.fail("expected 'and', 'or' or the end of the query")
        return term

    def disjunction(self) -> Term:
        terms = [self.conjunction()]
        while self.accept("or"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else Any_(tuple(terms))

    def conjunction(self) -> Term:
        terms = [self.unary()]
        while self.accept("and"):
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else All(tuple(terms))

    def unary(self) -> Term:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"nested deeper than {MAX_NESTING} levels")
        try:
            if self.accept("not"):
                return Not(self.unary())
            if self.accept("("):
                term = self.disjunction()
                self.expect(")", "')'")
                return term
            return self.comparison()
        finally:
            self.depth -= 1

    # -- one comparison --------------------------------------------------------------------
    def comparison(self) -> Term:
        start = self.token
        subject, spec = self.subject()
        token = self.token
        if token.kind == "op":
            self.advance()
            op = COMPARATORS[token.text]
            return self.condition(subject, spec, op, self.value(), start)
        negated = self.accept("not")
        if self.accept("in"):
            self.expect("(", "'(' after 'in'")
            values = [self.value()]
            while self.accept(","):
                values.append(self.value())
            self.expect(")", "')' closing the 'in' list")
            return self.condition(subject, spec, "NIN" if negated else "IN", values, start)
        if self.token.word in ("like", "ilike"):
            op = "ILIKE" if self.advance().word == "ilike" else "LIKE"
            value_token = self.token
            pattern = self.value()
            if not isinstance(pattern, str):
                self.fail(f"{op.lower()} takes a quoted pattern", value_token)
            term = self.condition(subject, spec, op, pattern, start)
            return Not(term) if negated else term
        if not negated and self.accept("is"):
            present = self.accept("not")
            self.expect("null", "'null' after 'is'")
            return self.condition(subject, spec, "EXISTS", present, start)
        self.fail("expected a comparison (=, !=, <, <=, >, >=, in, like, is null)")

    def subject(self) -> tuple[Subject, AttributeSpec | None]:
        token = self.token
        if token.kind not in ("name", "quoted", "string") or token.word in KEYWORDS:
            self.fail("expected a name such as metrics.val_acc, params.lr or attributes.status")
        self.advance()
        first = unquote(token) if token.kind != "name" else token.text
        entity = ENTITIES.get(first.lower()) if token.kind == "name" else None
        if entity is None or self.token.text != ".":
            return self.attribute(first, token)
        self.advance()
        segments = self.segments()
        if entity == "attribute":
            return self.attribute(".".join(segments), token)
        if entity == "param":
            return Param(tuple(segments)), None
        if entity == "label":
            return Label(".".join(segments)), None
        aggregate = "LAST"
        if len(segments) > 1 and segments[-1].upper() in ("LAST", "MIN", "MAX"):
            aggregate = segments.pop().upper()
        dataset = None
        if self.accept("@"):
            dataset = self.name("a dataset name after '@'")
        return Metric(".".join(segments), aggregate, dataset), None  # type: ignore[arg-type]

    def segments(self) -> list[str]:
        segments = [self.name("a name after '.'")]
        while self.accept("."):
            segments.append(self.name("a name after '.'"))
        return segments

    def name(self, what: str) -> str:
        token = self.token
        if token.kind == "name":
            self.advance()
            return token.text
        if token.kind in ("quoted", "string"):
            self.advance()
            return unquote(token)
        if token.kind == "number" and re.fullmatch(r"\d+", token.text):
            self.advance()
            return token.text
        self.fail(f"expected {what}")

    def attribute(self, name: str, token: Token) -> tuple[Subject, AttributeSpec]:
        spec = self.attributes.get(name.lower())
        if spec is None:
            known = ", ".join(sorted(self.attributes))
            self.fail(f"unknown attribute {name!r} (known: {known})", token)
        return Attribute(spec.name), spec

    # -- values ----------------------------------------------------------------------------
    def value(self) -> Any:
        token = self.advance()
        if token.kind == "string":
            return unquote(token)
        if token.kind == "number":
            try:
                return as_number(token.text)
            except ValueError:
                self.fail("number out of range", token)
        if token.word in ("true", "false"):
            return token.word == "true"
        self.fail("expected a value (a number, a quoted string, true or false)", token)

    def condition(
        self, subject: Subject, spec: AttributeSpec | None, op: Op, value: Any, start: Token
    ) -> Term:
        values = value if isinstance(value, list) else [value]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if (
            isinstance(subject, Metric)
            and op != "EXISTS"
            and (op in ("LIKE", "ILIKE") or not numeric)
        ):
            self.fail("a metric compares with numbers", start)
        if isinstance(subject, Param) and op != "EXISTS":
            return _loose_param(subject, op, values)
        if spec is not None and op != "EXISTS":
            values = [self.attribute_value(spec, v, start) for v in values]
            if spec.kind == "tags" and op in ("NE", "NIN"):
                # `aliases != "x"`: no alias is x.
                return Not(Condition(subject, "IN", tuple(values)))
        if isinstance(subject, Label) and op not in ("EXISTS",):
            values = [v if isinstance(v, str) else _text(v) for v in values]
        if op in ("IN", "NIN"):
            return Condition(subject, op, tuple(values))
        return Condition(subject, op, values[0] if op != "EXISTS" else value)

    def attribute_value(self, spec: AttributeSpec, value: Any, start: Token) -> Any:
        if spec.kind == "time":
            return _time(value) or self.fail(
                f"{spec.name} takes an ISO-8601 time or milliseconds since the epoch", start
            )
        if spec.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.fail(f"{spec.name} compares with numbers", start)
            return value
        if not isinstance(value, str):
            self.fail(f"{spec.name} compares with quoted strings", start)
        if spec.kind == "choice":
            if value.upper() not in spec.choices:
                self.fail(f"{spec.name} is one of {', '.join(sorted(spec.choices))}", start)
            return value.upper()
        return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _loose_param(subject: Param, op: Op, values: list[Any]) -> Term:
    """MLflow keeps params as strings, so `params.lr = "0.01"` must also find the number 0.01
    that ModelBox keeps as the user wrote it; a range on a numeric string compares numbers."""
    numbers = [_numeric(v) for v in values]
    if op in ("EQ", "NE", "IN", "NIN"):
        widened: list[Any] = []
        for value, number in zip(values, numbers, strict=True):
            widened.append(value)
            if number is not None:
                widened.append(number)
        if op in ("EQ", "NE") and len(widened) == 1:
            return Condition(subject, op, widened[0])
        return Condition(subject, "NIN" if op in ("NE", "NIN") else "IN", tuple(widened))
    if op in ("GT", "GTE", "LT", "LTE") and numbers[0] is not None:
        return Condition(subject, op, numbers[0])
    return Condition(subject, op, values[0])


def _numeric(value: Any) -> float | int | None:
    if not isinstance(value, str):
        return None
    try:
        return as_number(value.strip())
    except ValueError:
        return None


def parse(text: str, attributes: Mapping[str, AttributeSpec]) -> Term:
    """`text` as a filter; attribute names (lower case, with their aliases) map to fields."""
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchSyntaxError(
            f"query longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH + 1, text
        )
    return _Parser(text, attributes).parse()
