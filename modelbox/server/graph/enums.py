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
