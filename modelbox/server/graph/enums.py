"""Enumerations of the schema."""

from __future__ import annotations

import enum

import strawberry


@strawberry.enum
class ExperimentStatus(enum.Enum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


@strawberry.enum(name="Role")
class RoleName(enum.Enum):
    VIEWER = "VIEWER"
    WRITER = "WRITER"
    ADMIN = "ADMIN"


@strawberry.enum
class AuditAction(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    UPLOADED = "UPLOADED"
    DOWNLOADED = "DOWNLOADED"


@strawberry.enum
class Comparison(enum.Enum):
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"
    EQ = "EQ"
    NE = "NE"


@strawberry.enum
class MetricAggregate(enum.Enum):
    LAST = "LAST"
    MIN = "MIN"
    MAX = "MAX"


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"
