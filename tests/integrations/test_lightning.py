"""ModelBoxLogger in a real Lightning training of a tiny model on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "lightning", reason="lightning is not installed: `make test-integrations` installs it"
)

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

import modelbox
from modelbox.integrations.lightning import ModelBoxLogger


class Tiny(L.LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: list[torch.Tensor], index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def data() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=16)


def trainer(tmp_path: Path, logger: ModelBoxLogger, epochs: int) -> L.Trainer:
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=1)],
    )


def test_lightning_logs_metrics_params_model_and_checkpoints_then_resumes(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    logger = ModelBoxLogger(
        namespace="lit", experiment="tiny", log_checkpoints="all", system_metrics=False
    )
    trainer(tmp_path, logger, epochs=2).fit(Tiny(), data(), data())

    client = modelbox.Client()
    experiment = client.experiment("lit/tiny")
    assert experiment["status"] == "FINISHED"
    assert experiment["hyperparameters"]["lr"] == 0.05
    assert experiment["metadata"]["model"]["parameters"] == 5
    assert experiment["metadata"]["model"]["layers"] == [
        {"name": "layer", "type": "Linear", "parameters": 5}
    ]
    series = client.metrics("lit/tiny")
    assert len(series["train_loss"]) == 8, "4 batches x 2 epochs"
    assert series["val_loss"].steps == [3, 7], "Lightning logs epoch ends at the step before"
    checkpoints = client.checkpoints("lit/tiny")
    assert [c["step"] for c in checkpoints] == [4, 8]
    assert [c["epoch"] for c in checkpoints] == [0, 1]
    assert {m["key"] for c in checkpoints for m in c["metrics"]} == {"val_loss"}

    again = ModelBoxLogger(
        namespace="lit", experiment="tiny", resume=True, log_checkpoints="all", system_metrics=False
    )
    path = again.latest_checkpoint(tmp_path / "restored")
    assert path is not None and path.endswith(".ckpt")
    resumed = trainer(tmp_path, again, epochs=3)
    resumed.fit(Tiny(), data(), data(), ckpt_path=path)
    assert resumed.global_step == 12, "training continued from step 8"
    assert [c["step"] for c in client.checkpoints("lit/tiny")] == [4, 8, 12]
    assert client.metrics("lit/tiny")["val_loss"].steps == [3, 7, 11]
