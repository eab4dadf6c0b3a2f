"""`ModelBoxLogger`: PyTorch Lightning's `Logger` writing into a ModelBox experiment.

    logger = ModelBoxLogger(namespace="vision", experiment="mnist-1", log_checkpoints="best")
    trainer = lightning.Trainer(logger=logger)

Only rank zero logs. Checkpoints written by `ModelCheckpoint` become Checkpoints with the
monitored score as their metric: every one ("all"), each new best ("best"), or the last one
when training ends ("last"). `finalize` marks the experiment FINISHED or FAILED.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

import modelbox
from modelbox.integrations._common import Logging, finite_or_none, model_summary, numbers


def _rank() -> int:
    return int(getattr(rank_zero_only, "rank", 0))


class ModelBoxLogger(Logger):
    def __init__(
        self,
        namespace: str | None = None,
        experiment: str | None = None,
        config: dict[str, Any] | None = None,
        log_checkpoints: str | bool | None = "last",
        resume: bool = False,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        self._logging = Logging(
            "lightning",
            namespace,
            experiment,
            config,
            log_checkpoints,
            {"resume": resume, **init_kwargs},
        )
        self._run: modelbox.Run | None = None
        self._epoch: int | None = None
        self._callback: ModelCheckpoint | None = None

    @property
    @rank_zero_experiment
    def experiment(self) -> modelbox.Run:
        """The ModelBox run (started on first use)."""
        if self._run is None:
            self._run = self._logging.start()
        return self._run

    @property
    def name(self) -> str:
        return self.experiment.name if _rank() == 0 else ""

    @property
    def version(self) -> str:
        return self.experiment.id if _rank() == 0 else ""

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        values = vars(params) if isinstance(params, Namespace) else dict(params)
        self.experiment.log_params(values)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        values = numbers(metrics)
        if "epoch" in values:
            self._epoch = int(values["epoch"])
        self.experiment.log(values, step=step)

    @rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        self.experiment.update_metadata({"model": model_summary(model), "framework": "lightning"})

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        mode = self._logging.mode
        if _rank() != 0 or mode is None:
            return
        self._callback = checkpoint_callback
        if mode == "all":
            self._log_checkpoint(checkpoint_callback._last_checkpoint_saved)
        elif mode == "best":
            self._log_checkpoint(checkpoint_callback.best_model_path)

    def _log_checkpoint(self, path: str) -> None:
        callback = self._callback
        if not path or not Path(path).exists() or callback is None:
            return
        metrics = {}
        if callback.monitor:
            score = callback.best_k_models.get(path, callback.current_score)
            if (value := finite_or_none(score)) is not None:
                metrics[callback.monitor] = value
        self._logging.checkpoint(
            self.experiment,
            path,
            step=callback._last_global_step_saved,
            epoch=self._epoch,
            metrics=metrics,
            metadata={"file": Path(path).name, "monitor": callback.monitor},
        )

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._run is None:
            return
        if self._logging.mode == "last" and self._callback is not None:
            self._log_checkpoint(
                self._callback._last_checkpoint_saved or self._callback.best_model_path
            )
        self._run.finish("FINISHED" if status == "success" else "FAILED")

    def latest_checkpoint(self, download_to: str | Path) -> str | None:
        """The newest checkpoint's file, downloaded: pass it to `Trainer.fit(ckpt_path=)`."""
        path = self.experiment.latest_checkpoint(download_to)
        return str(path) if path is not None else None
