"""The search filter as plain data: what the `filter` input and the `query` text both become.

Pure (no database, no GraphQL): the store compiles it into a MongoDB query, tests evaluate it
by brute force.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Op = Literal["EQ", "NE", "GT", "GTE", "LT", "LTE", "IN", "NIN", "EXISTS", "PREFIX", "LIKE", "ILIKE"]
Aggregate = Literal["LAST", "MIN", "MAX"]
Direction = Literal["ASC", "DESC"]

COMPARISONS = ("EQ", "NE", "GT", "GTE", "LT", "LTE")
AGGREGATES: tuple[Aggregate, ...] = ("LAST", "MIN", "MAX")


@dataclass(frozen=True)
class Param:
    """A hyperparameter by its path (`("optimizer", "lr")`), as the user wrote it."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class Metric:
    """A metric summary: a series' last/min/max, or a version's key/value metric."""

    key: str
    aggregate: Aggregate = "LAST"
    dataset: str | None = None


@dataclass(frozen=True)
class Label:
    key: str


@dataclass(frozen=True)
class Attribute:
    """A document field by its canonical name (`status`, `owner`, `name`, `created_at`...)."""

    name: str


Subject = Param | Metric | Label | Attribute


@dataclass(frozen=True)
class Condition:
    subject: Subject
    op: Op
    # EQ..LTE, PREFIX, LIKE: one value; IN/NIN: a tuple; EXISTS: a bool.
    value: Any = None


@dataclass(frozen=True)
class All:
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Any_:
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Not:
    term: Term


Term = Condition | All | Any_ | Not

MATCH_ALL = All(())


@dataclass(frozen=True)
class Order:
    subject: Subject
    direction: Direction = "DESC"


@dataclass(frozen=True)
class Search:
    """A filter and a sort order; the store adds the unique tiebreaker."""

    where: Term = MATCH_ALL
    order: tuple[Order, ...] = field(default_factory=tuple)


def conjoin(*terms: Term) -> Term:
    """All of `terms`, flattened, without the empty ones."""
    flat: list[Term] = []
    for term in terms:
        if isinstance(term, All):
            flat.extend(term.terms)
        else:
            flat.append(term)
    return flat[0] if len(flat) == 1 else All(tuple(flat))
