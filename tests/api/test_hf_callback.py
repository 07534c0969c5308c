"""EdgebenchCallback: one window per epoch, per N optimizer steps and per evaluation of a Hugging Face Trainer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from edgebench.api import WINDOW_CSV_COLUMNS, Monitor
from edgebench.integrations.hf import EdgebenchCallback
from tests.api.conftest import FLAT_W, load_example


def test_the_example_records_epochs_step_groups_and_evaluations(tmp_path: Path) -> None:
    out = tmp_path / "trainer.csv"
    callback = load_example("hf_trainer_callback").main(out, epochs=2, every_n_steps=4)
    # 160 examples / batch 16 = 10 steps per epoch: groups of 4, 4 and 2 per epoch, cut at the epoch end
    assert [w.window for w in callback.windows] == [
        "epoch-1/steps-1",
        "epoch-1/steps-5",
        "epoch-1/steps-9",
        "epoch-1",
        "eval-10",
        "epoch-2/steps-11",
        "epoch-2/steps-15",
        "epoch-2/steps-19",
        "epoch-2",
        "eval-20",
    ]
    steps = {w.window: w.num_steps for w in callback.windows}
    assert steps["epoch-1"] == steps["epoch-2"] == 10 and steps["epoch-1/steps-9"] == 2 and steps["eval-10"] is None
    epoch = callback.windows[3]
    groups = callback.windows[:3]
    assert epoch.total_s >= sum(g.total_s for g in groups)
    assert all(w.energy_provenance and w.peak_rss_bytes for w in callback.windows)
    table = pd.read_csv(out)
    assert list(table.columns) == list(WINDOW_CSV_COLUMNS)
    assert table["window"].tolist() == [w.window for w in callback.windows]
    assert table["num_steps"].tolist()[:4] == [4, 4, 2, 10]  # set before each window ended


def _trainer(tmp_path: Path, callback: EdgebenchCallback, **args: object) -> Trainer:
    tokens = load_example("hf_trainer_callback").TokenDataset
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=2
    )
    arguments = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=16,
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        **args,
    )
    return Trainer(
        model=BertForSequenceClassification(config),
        args=arguments,
        train_dataset=tokens(64),
        eval_dataset=tokens(32, seed=1),
        callbacks=[callback],
    )


def test_step_evaluations_nest_in_their_epoch_and_a_given_monitor_stays_open(replay: dict, tmp_path: Path) -> None:
    monitor = Monitor(**replay, host_sample_s=None)
    callback = EdgebenchCallback(monitor)
    trainer = _trainer(tmp_path, callback, num_train_epochs=1, eval_strategy="steps", eval_steps=2, eval_on_start=True)
    try:
        with monitor.window("fit") as fit:
            trainer.train()
        assert monitor.energy_provenance.startswith("measured-sampled")  # still started: the caller owns it
    finally:
        monitor.close()
    assert [w.window for w in callback.windows] == [
        "fit/eval-0",
        "fit/epoch-1/eval-2",
        "fit/epoch-1/eval-4",
        "fit/epoch-1",
    ]
    assert [w.window for w in monitor.windows][-1] == "fit"
    for w in callback.windows:
        assert w.energy_j == pytest.approx(FLAT_W * w.total_s, rel=1e-6)
    assert fit.total_s >= sum(w.total_s for w in callback.windows if w.window.count("/") == 1)


def test_windows_can_be_switched_off(tmp_path: Path) -> None:
    callback = EdgebenchCallback(epochs=False, evaluations=False, every_n_steps=3, host_sample_s=None)
    _trainer(tmp_path, callback, num_train_epochs=2, eval_strategy="epoch").train()
    # 64 / 16 = 4 steps per epoch, 8 in all: groups run across the epoch boundary when epochs are not windows
    assert [(w.window, w.num_steps) for w in callback.windows] == [("steps-1", 3), ("steps-4", 3), ("steps-7", 2)]


def test_a_step_group_is_cut_at_an_evaluation_so_it_never_includes_one(tmp_path: Path) -> None:
    callback = EdgebenchCallback(epochs=False, every_n_steps=3, host_sample_s=None)
    _trainer(tmp_path, callback, num_train_epochs=1, eval_strategy="steps", eval_steps=2).train()
    # 4 steps, evaluations after steps 2 and 4: groups of 3 are cut there
    windows = [(w.window, w.num_steps) for w in callback.windows]
    assert windows == [("steps-1", 2), ("eval-2", None), ("steps-3", 2), ("eval-4", None)]


def test_an_epoch_resumed_midway_keeps_its_number(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor:
        callback = EdgebenchCallback(monitor)
        callback.on_epoch_begin(None, TrainerState(epoch=1.5, global_step=15), TrainerControl())  # type: ignore[arg-type]
        assert monitor.open_windows == ["epoch-2"]
        callback.on_epoch_end(None, TrainerState(epoch=2.0, global_step=20), TrainerControl())  # type: ignore[arg-type]
        callback.on_epoch_begin(None, TrainerState(epoch=2.0, global_step=20), TrainerControl())  # type: ignore[arg-type]
        assert monitor.open_windows == ["epoch-3"]


def test_callback_arguments_are_checked(replay: dict) -> None:
    with pytest.raises(ValueError, match="every_n_steps must be >= 1"):
        EdgebenchCallback(every_n_steps=0)
    with pytest.raises(TypeError, match=r"pass either a monitor or Monitor arguments \(csv\), not both"):
        EdgebenchCallback(Monitor(**replay), csv="x.csv")
