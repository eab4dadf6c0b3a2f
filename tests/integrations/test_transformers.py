"""ModelBoxCallback in a real Hugging Face Trainer run of a tiny BERT on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "transformers", reason="transformers is not installed: `make test-integrations` installs it"
)
pytest.importorskip("torch", reason="torch is not installed: `make test-integrations` installs it")
pytest.importorskip(
    "accelerate", reason="accelerate is not installed: `make test-integrations` installs it"
)

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import modelbox
from modelbox.integrations.transformers import ModelBoxCallback


class Pairs(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(1, 50, (n, 8), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids = self.ids[i]
        return {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "labels": (ids[0] % 2).long(),
        }


def test_transformers_logs_losses_evaluations_and_checkpoints(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
    )
    model = BertForSequenceClassification(config)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=6,
        per_device_train_batch_size=4,
        logging_steps=2,
        eval_strategy="steps",
        eval_steps=3,
        save_strategy="steps",
        save_steps=3,
        report_to=[],
        use_cpu=True,
        metric_for_best_model="eval_loss",
        disable_tqdm=True,
    )
    callback = ModelBoxCallback(
        namespace="hf", experiment="tiny-bert", log_checkpoints="all", system_metrics=False
    )
    Trainer(
        model=model, args=args, train_dataset=Pairs(32), eval_dataset=Pairs(8), callbacks=[callback]
    ).train()

    client = modelbox.Client()
    experiment = client.experiment("hf/tiny-bert")
    assert experiment["status"] == "FINISHED"
    assert experiment["hyperparameters"]["max_steps"] == 6
    assert experiment["hyperparameters"]["model_config"]["hidden_size"] == 16
    assert experiment["metadata"]["model"]["parameters"] == sum(
        p.numel() for p in model.parameters()
    )
    series = client.metrics("hf/tiny-bert")
    assert series["loss"].steps == [2, 4, 6]
    assert series["eval_loss"].steps == [3, 6]
    checkpoints = client.checkpoints("hf/tiny-bert")
    assert [c["step"] for c in checkpoints] == [3, 6]
    names = {a["name"] for a in client.artifacts(checkpoints[-1]["id"])}
    assert "model.safetensors" in names and "trainer_state.json" in names
    assert [e["name"] for e in client.events(experiment["id"])] == ["evaluated", "evaluated"]
