"""Value types the domains share: labels, datasets, key/value metrics."""

from __future__ import annotations

import strawberry

from modelbox.server.store import Record


@strawberry.type
class Label:
    key: str
    value: str


@strawberry.type
class Dataset:
    name: str
    uri: str | None
    digest: str | None
    role: str | None


@strawberry.type
class MetricValue:
    key: str
    value: float
    dataset: str | None = strawberry.field(
        default=None, description="The dataset it was measured on, where one is named."
    )


def labels_of(record: Record) -> list[Label]:
    return [Label(key=item["key"], value=item["value"]) for item in record.get("labels") or []]


def datasets_of(record: Record) -> list[Dataset]:
    return [
        Dataset(name=d["name"], uri=d.get("uri"), digest=d.get("digest"), role=d.get("role"))
        for d in record.get("datasets") or []
    ]


def metric_values_of(record: Record) -> list[MetricValue]:
    return [
        MetricValue(key=m["key"], value=m["value"], dataset=m.get("dataset"))
        for m in record.get("metrics") or []
    ]
