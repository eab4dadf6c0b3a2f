"""The ModelBox client: `init`/`Run` for training jobs, `Client` for everything else."""

from modelbox.client._client import Client
from modelbox.client._exceptions import (
    APIError,
    BadUserInput,
    ConfigError,
    Conflict,
    Forbidden,
    IntegrityError,
    ModelBoxError,
    NotFound,
    PayloadTooLarge,
    ServerError,
    TransportError,
    Unauthenticated,
)
from modelbox.client._init import (
    finish,
    init,
    log,
    log_artifact,
    log_checkpoint,
    log_event,
    log_params,
)
from modelbox.client._run import Run, current
from modelbox.client._series import Point, Series
from modelbox.client._sync import SyncResult, sync

__all__ = [
    "APIError",
    "BadUserInput",
    "Client",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "IntegrityError",
    "ModelBoxError",
    "NotFound",
    "PayloadTooLarge",
    "Point",
    "Run",
    "Series",
    "ServerError",
    "SyncResult",
    "TransportError",
    "Unauthenticated",
    "current",
    "finish",
    "init",
    "log",
    "log_artifact",
    "log_checkpoint",
    "log_event",
    "log_params",
    "sync",
]
