"""`ModelBoxCallback`: a Hugging Face `TrainerCallback` writing into a ModelBox experiment.

    trainer = Trainer(..., callbacks=[ModelBoxCallback(namespace="nlp", experiment="bert-1")])

Logs what the Trainer logs (loss, learning rate, eval metrics) at its global step, the
training arguments and model config as hyperparameters, evaluations as events, and the
checkpoint directories it saves: every one ("all"), the best so far ("best"), or the last
one when training ends ("last"). Only the main process logs.
"""

from __future__ import annotations

import os
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

import modelbox
from modelbox.integrations._common import Logging, model_summary, numbers


class ModelBoxCallback(TrainerCallback):
    def __init__(
        self,
        namespace: str | None = None,
        experiment: str | None = None,
        config: dict[str, Any] | None = None,
        log_checkpoints: str | bool | None = "last",
        run: modelbox.Run | None = None,
        **init_kwargs: Any,
    ) -> None:
        self._logging = Logging(
            "transformers", namespace, experiment, config, log_checkpoints, init_kwargs
        )
        self.run = run
        self._owns_run = run is None
        self._last_saved: tuple[str, int, float] | None = None

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        if self.run is None:
            self.run = self._logging.start()
        params = {k: v for k, v in args.to_dict().items() if v is not None}
        if model is not None and getattr(model, "config", None) is not None:
            params["model_config"] = model.config.to_dict()
        self.run.log_params(params)
        if model is not None:
            self.run.update_metadata({"model": model_summary(model), "framework": "transformers"})

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.run is not None and state.is_world_process_zero and logs:
            self.run.log(numbers(logs), step=state.global_step)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # The metrics themselves reach on_log too; here the evaluation is marked on the timeline.
        if self.run is not None and state.is_world_process_zero:
            self.run.log_event(
                "evaluated", payload={"step": state.global_step, "metrics": numbers(metrics or {})}
            )

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        mode = self._logging.mode
        if self.run is None or not state.is_world_process_zero or mode is None:
            return
        path = os.path.join(args.output_dir or ".", f"checkpoint-{state.global_step}")
        self._last_saved = (path, state.global_step, state.epoch or 0.0)
        if mode == "all":
            self._log_checkpoint(args, state, path, state.global_step, state.epoch or 0.0)
        elif mode == "best" and state.best_model_checkpoint:
            best = state.best_model_checkpoint
            step = (
                int(best.rsplit("-", 1)[-1])
                if best.rsplit("-", 1)[-1].isdigit()
                else state.global_step
            )
            self._log_checkpoint(args, state, best, step, state.epoch or 0.0)

    def _log_checkpoint(
        self, args: TrainingArguments, state: TrainerState, path: str, step: int, epoch: float
    ) -> None:
        if self.run is None or not os.path.isdir(path):
            return
        metrics = {}
        if (
            args.metric_for_best_model
            and state.best_metric is not None
            and path == state.best_model_checkpoint
        ):
            metrics[args.metric_for_best_model] = float(state.best_metric)
        self._logging.checkpoint(self.run, path, step=step, epoch=int(epoch), metrics=metrics)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.run is None or not state.is_world_process_zero:
            return
        if self._logging.mode == "last" and self._last_saved is not None:
            self._log_checkpoint(args, state, *self._last_saved)
        if self._owns_run:
            self.run.finish("FINISHED")
